"""`coverctl dead-links`: check that every stored image URL is alive; record, report, prune."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from coverctl.errors import ExitCode, UsageError

EPILOG = (
    "Example: coverctl dead-links --stale 7d --prune --metrics-file "
    "/var/lib/node_exporter/coverctl_dead_links.prom --json\n\n"
    "Exit codes: 0 every checked link is alive; 3 dead links found; 4 another dead-links run "
    "is in progress; 2 bad flags."
)


def register(app: typer.Typer) -> None:
    @app.command("dead-links", epilog=EPILOG)
    def dead_links(
        concurrency: int = typer.Option(50, "--concurrency", help="Checks in flight at once."),
        per_host: int = typer.Option(8, "--per-host", help="Checks in flight to one host."),
        stale: str | None = typer.Option(
            None,
            "--stale",
            help="Only rows never checked or checked longer ago than this (e.g. 12h, 7d, 2w).",
        ),
        prune: bool = typer.Option(
            False, "--prune", help="Delete rows whose picture is confirmed gone (404, 410, ...)."
        ),
        max_prune: str = typer.Option(
            "10%",
            "--max-prune",
            help="Prune nothing if more rows than this would go: a count or a share of the "
            "rows checked (e.g. 500 or 10%).",
        ),
        allow_private: bool = typer.Option(
            False,
            "--allow-private",
            help="Also check URLs on loopback, private and link-local addresses.",
        ),
        allow_host: list[str] = typer.Option(
            [],
            "--allow-host",
            help="Exempt one HOST or HOST:PORT from the private-address guard (repeatable).",
        ),
        timeout: float = typer.Option(10.0, "--timeout", help="Seconds per request."),
        metrics_file: Path | None = typer.Option(
            None, "--metrics-file", help="Write Prometheus metrics (textfile format) here."
        ),
        quiet: bool = typer.Option(
            False, "--quiet", "-q", help="Warnings and errors only; no progress or tables."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> int:
        """Check every stored image URL (and local file) and record whether it is alive."""
        from coverctl.cli.common import load_settings
        from coverctl.cli.logs import configure_logging
        from coverctl.maintenance.deadlinks import DeadLinkOptions, parse_duration

        settings = load_settings()
        configure_logging(quiet=quiet, secrets=settings.secrets())
        if metrics_file is not None and not metrics_file.parent.is_dir():
            raise UsageError(f"--metrics-file: the directory {metrics_file.parent} does not exist.")
        options = DeadLinkOptions(
            concurrency=concurrency,
            per_host=per_host,
            stale=parse_duration(stale) if stale is not None else None,
            prune=prune,
            max_prune=max_prune,
            allow_private=allow_private,
            allow_hosts=tuple(h.strip() for h in allow_host if h.strip()),
            timeout=timeout,
        )
        return _run(settings, options, metrics_file, quiet, as_json)


def _run(settings: Any, options: Any, metrics_file: Path | None, quiet: bool, as_json: bool) -> int:
    import asyncio
    import logging

    from coverctl.cli.common import stderr_console
    from coverctl.locking import command_lock
    from coverctl.maintenance.deadlinks import check_store
    from coverctl.store import open_cache, open_store

    log = logging.getLogger("coverctl.maintenance.deadlinks")
    metrics = None
    if metrics_file is not None:
        from coverctl.metrics import RunMetrics

        metrics = RunMetrics("dead_links")
    err = stderr_console()
    try:
        with command_lock(settings, "dead-links"):
            store = open_store(settings)
            cache = open_cache(settings) if options.prune else None
            bar = _ProgressBar(err) if (err.is_terminal and not quiet) else None
            try:
                if bar is not None:
                    with bar:
                        report = asyncio.run(
                            check_store(store, options, cache=cache, on_progress=bar.update)
                        )
                else:
                    report = asyncio.run(check_store(store, options, cache=cache))
            finally:
                store.close()
                if cache is not None:
                    cache.close()
        log.info(
            "dead-links: %d URLs (%d rows) checked in %.1f s: %d alive, %d dead%s",
            report.urls_checked,
            report.rows_checked,
            report.elapsed_ms / 1000,
            report.alive_urls,
            report.dead_urls,
            f", {report.pruned_rows} rows pruned" if report.pruned_rows else "",
        )
        if metrics is not None:
            metrics.dead_links.set(report.dead_rows)
            metrics.mark_success()  # the check ran to the end, whatever it found
    finally:
        if metrics is not None and metrics_file is not None:
            metrics.write(metrics_file)

    code = ExitCode.INCOMPLETE if report.dead else ExitCode.OK
    if as_json:
        from coverctl.cli.common import print_json

        data = report.to_json()
        data["exit_code"] = code
        print_json(data)
    elif not quiet:
        _print_human(report)
    return code


class _ProgressBar:
    """URLs checked, rate and ETA on stderr (only on a terminal)."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("dead-links"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task("dead-links", total=None)

    def __enter__(self) -> _ProgressBar:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def update(self, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=total)


def _print_human(report: Any) -> None:
    from rich.table import Table

    from coverctl.cli.common import stdout_console

    console = stdout_console()
    console.print(
        f"dead-links: {report.urls_checked} URLs on {report.rows_checked} rows checked "
        f"in {report.elapsed_ms / 1000:.1f} s: {report.alive_urls} alive, {report.dead_urls} dead"
        + (
            f"; {report.rows_skipped_fresh} rows checked recently skipped"
            if report.rows_skipped_fresh
            else ""
        )
    )
    if report.dead:
        statuses = Table(title="dead links by status", title_justify="left")
        statuses.add_column("status")
        statuses.add_column("URLs", justify="right")
        for status, count in sorted(report.statuses.items()):
            if status != "ok":
                statuses.add_row(status, str(count))
        console.print(statuses)
        shown = report.dead[:20]
        table = Table(title="dead links", title_justify="left")
        for column in ("status", "rows", "url", "detail"):
            table.add_column(column, overflow="fold")
        for dead in shown:
            mark = (
                " (pruned)" if dead.pruned else (" (pinned: kept)" if dead.pinned_row_ids else "")
            )
            table.add_row(dead.status + mark, str(len(dead.row_ids)), dead.url, dead.detail)
        console.print(table)
        if len(report.dead) > len(shown):
            console.print(f"... and {len(report.dead) - len(shown)} more (--json lists all)")
    if report.options.prune:
        if report.prune_refused:
            console.print(f"[yellow]prune refused:[/] {report.prune_refused}", markup=True)
        else:
            console.print(
                f"pruned {report.pruned_rows} rows; evicted {report.cache_entries_evicted} "
                "cached resolutions"
            )
        if report.pinned_kept:
            console.print(
                f"[yellow]kept {report.pinned_kept} pinned rows[/] whose picture is gone: pin "
                "another picture or unpin them (coverctl pin / unpin)",
                markup=True,
            )
