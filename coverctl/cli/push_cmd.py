"""`coverctl push supabase|postgres`: idempotent upsert of stored rows (coverctl.push.publish)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from datetime import datetime

    from coverctl.push.rows import PushReport

push_app = typer.Typer(
    help="Publish stored rows to Supabase or PostgreSQL (idempotent upserts).",
    no_args_is_help=True,
)

SINCE_HELP = (
    "Only rows changed since then: a duration back from now (7d, 12h, 30m, 2w) or an ISO date "
    "or time (2026-01-31, 2026-01-31T08:00Z; UTC when no offset is given)."
)


def register(app: typer.Typer) -> None:
    app.add_typer(push_app, name="push")


@push_app.command("supabase", epilog="Example: coverctl push supabase --since 7d")
def supabase(
    since: str | None = typer.Option(None, "--since", help=SINCE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Upsert stored rows into Supabase's character_images (SUPABASE_URL, SUPABASE_KEY)."""
    from coverctl.cli.common import load_settings
    from coverctl.push.publish import parse_since, push_supabase

    settings = load_settings()
    moment = parse_since(since) if since is not None else None
    where = _supabase_host(settings.supabase_url)
    with _working(f"pushing to Supabase at {where}", quiet=as_json):
        report = push_supabase(settings, since=moment)
    _report(report, f"Supabase at {where}", moment, as_json)


@push_app.command(
    "postgres",
    epilog=(
        "Example: coverctl push postgres --dsn postgresql://coverctl@db.example:5432/images "
        "--create-table --since 7d"
    ),
)
def postgres(
    dsn: str | None = typer.Option(
        None,
        "--dsn",
        envvar="COVERCTL_POSTGRES_DSN",
        show_envvar=True,
        help="postgresql://USER:PASSWORD@HOST:PORT/DBNAME or 'host=... dbname=...'. Prefer the "
        "environment variable (or ~/.pgpass): a password on the command line is visible to "
        "other users of the machine. It is never printed.",
    ),
    since: str | None = typer.Option(None, "--since", help=SINCE_HELP),
    create_table: bool = typer.Option(
        False, "--create-table", help="Create character_images and its indexes when missing."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Upsert stored rows into character_images of a PostgreSQL database."""
    from coverctl.cli.common import load_settings
    from coverctl.errors import ConfigError
    from coverctl.push.publish import DSN_ENV_VAR, parse_since, push_postgres

    settings = load_settings()
    if (not dsn or not dsn.strip()) and settings.postgres_dsn:
        dsn = settings.postgres_dsn.reveal()  # from `coverctl config set COVERCTL_POSTGRES_DSN`
    if not dsn or not dsn.strip():
        raise ConfigError(f"No PostgreSQL DSN: pass --dsn or set {DSN_ENV_VAR}.")
    from coverctl.push.postgres import describe_dsn

    moment = parse_since(since) if since is not None else None
    where = describe_dsn(dsn)  # host:port and database only, never the password
    with _working(f"pushing to {where}", quiet=as_json):
        report = push_postgres(settings, dsn, since=moment, create_table=create_table)
    _report(report, where, moment, as_json)


def _supabase_host(url: str | None) -> str:
    import httpx

    try:
        return httpx.URL(url or "").host or "(SUPABASE_URL not set)"
    except (httpx.InvalidURL, TypeError):
        return "(invalid SUPABASE_URL)"


def _working(message: str, *, quiet: bool) -> AbstractContextManager[object]:
    """A spinner on stderr for people; nothing for scripts."""
    from contextlib import nullcontext

    from coverctl.cli.common import stderr_console

    return nullcontext() if quiet else stderr_console().status(message)


def _report(report: PushReport, where: str, since: datetime | None, as_json: bool) -> None:
    from coverctl.cli.common import print_json, stdout_console

    data = {**report.as_dict(), "destination": where, "since": since.isoformat() if since else None}
    if as_json:
        print_json(data)
        return
    console = stdout_console()
    scope = f" changed since {since.isoformat(timespec='seconds')}" if since else ""
    if report.rows_sent == 0:
        console.print(f"nothing to push: no stored rows{scope} (checked {where})", markup=False)
        return
    batches = f"{report.batches} batch" + ("es" if report.batches != 1 else "")
    line = f"pushed {report.rows_sent} rows{scope} to {where} in {batches}, {report.elapsed:.2f} s"
    if report.inserted is not None and report.updated is not None:
        line += f": {report.inserted} inserted, {report.updated} updated"
        if report.unchanged is not None:
            line += f", {report.unchanged} unchanged"
    else:
        line += " (the server does not say which were new)"
    console.print(line, markup=False)
    if report.duplicates_dropped:
        console.print(
            f"{report.duplicates_dropped} rows repeated a (character, title, source) key and were "
            "merged",
            markup=False,
        )
    if report.retries:
        console.print(f"{report.retries} requests were retried", markup=False)
