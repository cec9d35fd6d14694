"""`coverctl audit`: stored rows below the quality bar, wrongly sourced, duplicated or broken."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from coverctl.errors import ExitCode, UsageError

EPILOG = (
    "Example: coverctl audit --min-quality 70 --html audit.html --metrics-file "
    "/var/lib/node_exporter/coverctl_audit.prom --json\n\n"
    "Exit codes: 0 no problem rows; 3 problem rows remain (after --fix, if given); "
    "4 another `audit --fix` is running; 2 bad flags."
)


def register(app: typer.Typer) -> None:
    @app.command("audit", epilog=EPILOG)
    def audit(
        min_quality: int = typer.Option(
            70, "--min-quality", help="Rows scoring below this are low quality (design: 70)."
        ),
        source: str | None = typer.Option(
            None, "--source", help="Only rows of this source (e.g. tmdb)."
        ),
        fix: bool = typer.Option(
            False,
            "--fix",
            help="Re-resolve flagged rows (refresh) and keep an answer only when it is better.",
        ),
        fix_limit: int = typer.Option(
            200,
            "--fix-limit",
            help="At most this many rows re-resolved per run, worst first (0: all).",
        ),
        html: Path | None = typer.Option(
            None, "--html", help="Write a self-contained HTML report to this file."
        ),
        html_limit: int = typer.Option(
            500, "--html-limit", help="Cards in the HTML report, worst first; the rest are counted."
        ),
        allow_private: bool = typer.Option(
            False,
            "--allow-private",
            help="Also fetch report thumbnails from loopback and private addresses "
            "(a self-hosted backend); refused by default, as for dead-links.",
        ),
        limit: int = typer.Option(
            50, "--limit", help="Problem rows listed in the output, worst first (0: all)."
        ),
        metrics_file: Path | None = typer.Option(
            None, "--metrics-file", help="Write Prometheus metrics (textfile format) here."
        ),
        quiet: bool = typer.Option(
            False, "--quiet", "-q", help="Warnings and errors only; no tables."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> int:
        """Find stored rows below the quality bar, wrongly sourced, duplicated, dead, unchecked."""
        from coverctl.cli.common import load_settings
        from coverctl.cli.logs import configure_logging
        from coverctl.maintenance.audit import AuditOptions

        settings = load_settings()
        configure_logging(quiet=quiet, secrets=settings.secrets())
        for flag, value in (
            ("--fix-limit", fix_limit),
            ("--html-limit", html_limit),
            ("--limit", limit),
        ):
            if value < 0:
                raise UsageError(f"{flag} cannot be negative.")
        _check_writable_parent(html, "--html")
        _check_writable_parent(metrics_file, "--metrics-file")
        wanted = [limit or _ALL]
        if html is not None:
            wanted.append(html_limit)
        if fix:
            wanted.append(fix_limit or _ALL)
        options = AuditOptions(min_quality=min_quality, source=source, keep=max(wanted))
        return _run(
            settings,
            options,
            fix,
            fix_limit,
            html,
            html_limit,
            limit,
            metrics_file,
            quiet,
            as_json,
            allow_private,
        )


_ALL = 10**9  # "no limit" for the bounded list of findings
# Column headings that fit an 80-column terminal.
_SHORT = {
    "dead_link": "dead",
    "wrong_source": "wrong src",
    "duplicate_image": "dup",
    "low_quality": "low q",
    "never_checked": "unchecked",
}


def _check_writable_parent(path: Path | None, flag: str) -> None:
    if path is not None and not path.parent.is_dir():
        raise UsageError(f"{flag}: the directory {path.parent} does not exist.")
    if path is not None and path.is_dir():
        raise UsageError(f"{flag}: {path} is a directory; give a file name.")


def _run(
    settings: Any,
    options: Any,
    fix: bool,
    fix_limit: int,
    html: Path | None,
    html_limit: int,
    limit: int,
    metrics_file: Path | None,
    quiet: bool,
    as_json: bool,
    allow_private: bool = False,
) -> int:
    import asyncio
    import contextlib
    import logging

    from coverctl.locking import command_lock
    from coverctl.maintenance.audit import run_audit, write_audit_report
    from coverctl.maintenance.fix import fix_findings
    from coverctl.store import open_store

    log = logging.getLogger("coverctl.maintenance.audit")
    metrics = None
    if metrics_file is not None:
        from coverctl.metrics import RunMetrics

        metrics = RunMetrics("audit")
    fix_report = None
    try:
        # Only --fix writes to the store; a read-only audit may overlap anything.
        lock = command_lock(settings, "audit") if fix else contextlib.nullcontext()
        with lock:
            store = open_store(settings)
            try:
                result = run_audit(store, options, settings)
                log.info(
                    "audit: %d rows scanned in %d ms, %d with problems",
                    result.rows_scanned,
                    result.elapsed_ms,
                    result.rows_with_problems,
                )
                if fix:
                    fix_report = asyncio.run(
                        fix_findings(result.findings, settings, store, limit=fix_limit)
                    )
                    for notice in fix_report.notices:
                        log.warning("audit --fix: %s", notice)
                    counts = fix_report.counts()
                    log.info(
                        "audit --fix: %s",
                        ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()),
                    )
                    result = run_audit(store, options, settings)  # what remains
            finally:
                store.close()
        omitted = None
        if html is not None:
            omitted = write_audit_report(
                html, result, html_limit, settings=settings, allow_private=allow_private
            )
            log.info("audit: report written to %s", html)
        if metrics is not None:
            for kind, count in result.problem_counts().items():
                metrics.audit_problem_rows.labels(kind=kind).set(count)
            if fix_report is not None:
                for source, count in fix_report.sources.items():
                    metrics.requests.labels(source=source).inc(count)
            metrics.mark_success()  # the audit ran to the end, whatever it found
    finally:
        if metrics is not None and metrics_file is not None:
            metrics.write(metrics_file)

    code = ExitCode.INCOMPLETE if result.rows_with_problems else ExitCode.OK
    if as_json:
        from coverctl.cli.common import print_json

        data = result.to_json(limit=limit or None)
        data["fix"] = fix_report.to_json() if fix_report is not None else None
        data["html"] = None if html is None else {"path": str(html), "cards_omitted": omitted}
        data["exit_code"] = code
        print_json(data)
    elif not quiet:
        _print_human(result, fix_report, limit, html, omitted)
    return code


def _print_human(
    result: Any, fix_report: Any, limit: int, html: Path | None, omitted: int | None
) -> None:
    from rich.table import Table

    from coverctl.cli.common import stdout_console
    from coverctl.maintenance.audit import PROBLEM_KINDS

    console = stdout_console()
    if fix_report is not None:
        counts = fix_report.counts()
        console.print(
            "fix: "
            + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items())
            + (
                f"; {fix_report.skipped} left for a later run (--fix-limit)"
                if fix_report.skipped
                else ""
            )
        )
        changed = [o for o in fix_report.outcomes if o.outcome == "replaced"]
        if changed:
            table = Table(title="replaced rows", title_justify="left")
            for column in ("character", "title", "old", "new", "why"):
                table.add_column(column, overflow="fold")
            for o in changed:
                f = o.finding
                table.add_row(
                    f.character_name,
                    f.title,
                    f"{f.source} {f.quality_score}",
                    f"{o.new_source} {o.new_quality}",
                    o.reason,
                )
            console.print(table)
    label = f" ({result.options.source})" if result.options.source else ""
    console.print(
        f"audit{label}: {result.rows_scanned} rows, {result.rows_with_problems} with problems "
        f"(quality bar {result.options.min_quality})"
    )
    if not result.rows_with_problems:
        console.print("[green]no problems found[/]", markup=True)
    else:
        table = Table(title="problem rows by source", title_justify="left")
        table.add_column("source")
        table.add_column("rows", justify="right")
        table.add_column("flagged", justify="right")
        for kind in PROBLEM_KINDS:
            table.add_column(_SHORT[kind], justify="right")
        for source in sorted(result.rows_by_source):
            per_kind = result.problems_by_source.get(source, {})
            table.add_row(
                source,
                str(result.rows_by_source[source]),
                str(result.flagged_by_source.get(source, 0)),
                *(str(per_kind.get(kind, 0)) for kind in PROBLEM_KINDS),
            )
        totals = result.problem_counts()
        table.add_row(
            "all",
            str(result.rows_scanned),
            str(result.rows_with_problems),
            *(str(totals[kind]) for kind in PROBLEM_KINDS),
            style="bold",
        )
        console.print(table)
        shown = result.findings[: limit or None]
        rows = Table(title="worst rows", title_justify="left")
        for column in ("character", "title", "source", "score", "problems"):
            rows.add_column(column, overflow="fold")
        for f in shown:
            rows.add_row(
                f.character_name,
                f.title,
                f.source,
                str(f.quality_score),
                ", ".join(_SHORT[k] for k in f.problems),
            )
        console.print(rows)
        rest = result.rows_with_problems - len(shown)
        if rest:
            console.print(
                f"... and {rest} more (--limit 0 lists all; --json or --html for details)"
            )
    if html is not None:
        extra = f" ({omitted} rows not shown, see --html-limit)" if omitted else ""
        console.print(f"report: {html}{extra}")
