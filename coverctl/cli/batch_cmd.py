"""`coverctl batch`: resolve every row of a CSV or JSONL file."""

from __future__ import annotations

from pathlib import Path

import typer

from coverctl.errors import ExitCode, UsageError


def register(app: typer.Typer) -> None:
    @app.command(
        "batch",
        epilog="Example: coverctl batch examples/movies.csv --out out/movies.jsonl",
    )
    def batch(
        file: Path = typer.Argument(
            ..., metavar="FILE", help="CSV (with a header) or JSONL file of characters."
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Where to write results (default: stdout)."
        ),
        fmt: str = typer.Option("jsonl", "--format", help="Output format: jsonl or csv."),
        refresh: bool = typer.Option(False, "--refresh", help="Ignore cached answers."),
        no_network: bool = typer.Option(
            False, "--no-network", help="Only local files, the store and the cache."
        ),
        generate: bool = typer.Option(False, "--generate", help="Allow AI generation (costs)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress or summary table."),
        as_json: bool = typer.Option(
            False,
            "--json",
            help="Print the summary as one JSON object (to stderr if results go to stdout).",
        ),
    ) -> int:
        """Resolve every row of a CSV/JSONL file, streaming results as JSONL or CSV."""
        from coverctl.batch import BatchOptions, run_batch
        from coverctl.cli.common import load_settings, print_notices, stderr_console

        if fmt not in {"jsonl", "csv"}:
            raise UsageError(f"--format must be jsonl or csv, got {fmt!r}.")
        settings = load_settings()
        options = BatchOptions(
            out=out, fmt=fmt, refresh=refresh, network=not no_network, generate=generate
        )
        summary = run_batch(file, settings, options)
        console = stderr_console() if out is None else None
        if as_json:
            import json

            text = json.dumps(summary.to_json(), ensure_ascii=False)
            if out is None:
                stderr_console().print(text, markup=False, highlight=False, soft_wrap=True)
            else:
                print(text)
        elif not quiet:
            print_notices(summary.notices, stderr_console())
            _print_summary(summary, out, console)
        return ExitCode.OK if summary.complete else ExitCode.INCOMPLETE


def _print_summary(summary, out, console) -> None:
    from rich.table import Table

    from coverctl.cli.common import stdout_console

    console = console or stdout_console()
    table = Table(title=f"coverctl batch: {summary.rows} rows in {summary.elapsed_s:.1f} s")
    table.add_column("status")
    table.add_column("rows", justify="right")
    for status in ("resolved", "not_found", "error"):
        table.add_row(status, str(summary.statuses.get(status, 0)))
    console.print(table)
    if summary.sources:
        sources = Table(title="by source")
        sources.add_column("source")
        sources.add_column("rows", justify="right")
        for source, count in summary.sources.most_common():
            sources.add_row(source, str(count))
        console.print(sources)
    calls = ", ".join(f"{k} {v}" for k, v in summary.provider_calls.items()) or "none"
    console.print(f"provider calls: {calls}; cache hits: {summary.cache_hits}")
    if out is not None:
        console.print(f"results: {out}")
