"""`coverctl batch`: resolve every row of a CSV or JSONL file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from coverctl.errors import ExitCode, UsageError

EPILOG = (
    "Example: coverctl batch examples/movies.csv --out out/movies.jsonl\n\n"
    "Results come out in input order (--unordered: as they finish), one row per input row "
    "(--cast N: up to N per title-only row), flushed as they are known. Progress is saved as "
    "rows finish: after Ctrl-C or a crash, add --resume to the same command to finish the "
    "rest (nothing is done twice). Running a finished file again does nothing; --force runs "
    "it again from the start.\n\n"
    "Several workers: run --shard 1/N ... --shard N/N, each with its own --out; with "
    "COVERCTL_DATABASE_URL set they share the store, so a shard resumes on any host."
)


def register(app: typer.Typer) -> None:
    @app.command("batch", epilog=EPILOG)
    def batch(
        file: Path = typer.Argument(
            ..., metavar="FILE", help="CSV (with a header) or JSONL file of characters."
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Where to write results (default: stdout)."
        ),
        fmt: str = typer.Option("jsonl", "--format", help="Output format: jsonl or csv."),
        input_format: str | None = typer.Option(
            None, "--input-format", help="csv or jsonl (default: from the file name)."
        ),
        concurrency: int = typer.Option(
            32, "--concurrency", "-c", help="Rows resolved at the same time."
        ),
        rate: str | None = typer.Option(
            None,
            "--rate",
            help="Requests per second per provider, e.g. tmdb=20,tvdb=10 "
            "(default: COVERCTL_RATE_<PROVIDER>, else the published limits).",
        ),
        unordered: bool = typer.Option(
            False, "--unordered", help="Write rows as they finish instead of in input order."
        ),
        resume: bool = typer.Option(
            False, "--resume", help="Finish an interrupted run of this file into this output."
        ),
        force: bool = typer.Option(
            False, "--force", help="Start again even if this file was (partly) processed."
        ),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="Validate rows and estimate calls and time; no network."
        ),
        cast: int | None = typer.Option(
            None, "--cast", help="Rows with a title and no character: its top N billed roles."
        ),
        shard: str | None = typer.Option(
            None,
            "--shard",
            metavar="K/N",
            help="Process only shard K of N (rows by a hash of their title: all rows of a "
            "title in one shard); run the N shards on as many workers or hosts.",
        ),
        refresh: bool = typer.Option(False, "--refresh", help="Ignore cached answers."),
        no_network: bool = typer.Option(
            False, "--no-network", help="Only local files, the store and the cache."
        ),
        generate: bool = typer.Option(False, "--generate", help="Allow AI generation (costs)."),
        verify: bool | None = typer.Option(
            None,
            "--verify/--no-verify",
            help="--verify: check every source's picture (TMDB's too) before accepting it. "
            "--no-verify: check none but web search results (always checked: strangers' "
            "pictures). Default: check TVDB and Hardcover pictures, often dead or truncated.",
            show_default=False,
        ),
        max_generations: int | None = typer.Option(
            None, "--max-generations", help="With --generate: at most N generations."
        ),
        metrics_file: Path | None = typer.Option(
            None, "--metrics-file", help="Write Prometheus metrics (textfile format) here."
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress or summary table."),
        as_json: bool = typer.Option(
            False,
            "--json",
            help="Print the summary as one JSON object (to stdout with --out, else stderr).",
        ),
    ) -> int:
        """Resolve every row of a CSV/JSONL file, streaming results as JSONL or CSV."""
        from coverctl.batch import BatchOptions
        from coverctl.batch.shard import Shard
        from coverctl.cli.common import load_settings
        from coverctl.resolver import checks_from_flag

        if input_format not in {None, "csv", "jsonl"}:
            raise UsageError(f"--input-format must be csv or jsonl, got {input_format!r}.")
        shard_of = Shard.parse(shard) if shard is not None else None
        settings = load_settings()
        options = BatchOptions(
            out=out,
            fmt=fmt,
            input_format=input_format,
            refresh=refresh,
            network=not no_network,
            generate=generate,
            verify=checks_from_flag(verify),
            max_generations=max_generations,
            concurrency=concurrency,
            ordered=not unordered,
            resume=resume,
            force=force,
            cast=cast,
            rates=_rates(rate),
            shard=shard_of,
        )
        if dry_run:
            return _dry_run(file, settings, options, as_json, quiet)
        if metrics_file is not None and (metrics_file.is_dir() or not metrics_file.parent.is_dir()):
            raise UsageError(
                f"--metrics-file {metrics_file}: give a file in an existing directory."
            )
        return _run(file, settings, options, as_json, quiet, metrics_file)


def _rates(spec: str | None) -> dict[str, float]:
    from coverctl.config import default_rates, parse_rates

    if not spec:
        return {}
    rates = parse_rates(spec)
    known = default_rates()
    unknown = sorted(set(rates) - set(known))
    if unknown:
        raise UsageError(
            f"--rate names unknown provider {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}."
        )
    return rates


def _summary_console(out: Path | None) -> Any:
    from coverctl.cli.common import stderr_console, stdout_console

    # stdout carries the results when there is no --out: keep it pure JSONL/CSV.
    return stdout_console() if out is not None else stderr_console()


def _run(
    file: Path,
    settings: Any,
    options: Any,
    as_json: bool,
    quiet: bool,
    metrics_file: Path | None,
) -> int:
    from coverctl.batch import run_batch
    from coverctl.cli.common import print_notices, stderr_console

    err = stderr_console()
    bar = None if quiet or not err.is_terminal else _ProgressBar(err, file, options)
    try:
        if bar is not None:
            with bar:
                summary = run_batch(file, settings, options, observer=bar)
        else:
            summary = run_batch(file, settings, options)
    finally:
        sys.stdout.flush()
    if metrics_file is not None:
        _write_metrics(summary, metrics_file)
    console = _summary_console(options.out)
    if as_json:
        import json

        text = json.dumps(summary.to_json(), ensure_ascii=False)
        console.print(text, markup=False, highlight=False, soft_wrap=True)
    elif not quiet:
        print_notices(summary.notices, err)
        if not summary.already_finished or summary.rows:
            _print_summary(summary, console)
    if summary.interrupted:
        err.print(
            f"Interrupted: {summary.input_rows} rows are done and saved. Resume with:\n"
            f"  {summary.resume_command}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return summary.exit_code


def _dry_run(file: Path, settings: Any, options: Any, as_json: bool, quiet: bool) -> int:
    from coverctl.batch import plan_batch
    from coverctl.cli.common import print_json, print_notices, stderr_console, stdout_console

    plan = plan_batch(file, settings, options)
    code = ExitCode.INCOMPLETE if plan.error_rows else ExitCode.OK
    if as_json:
        print_json(plan.to_json())
        return code
    if quiet:
        return code
    from rich.table import Table

    console = stdout_console()
    print_notices(plan.notices, stderr_console())
    table = Table(title=f"coverctl batch --dry-run: {file}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    if plan.shard:
        share = plan.input_rows / plan.all_input_rows if plan.all_input_rows else 0.0
        table.add_row(
            f"shard {plan.shard}: its rows",
            f"{plan.input_rows} of {plan.all_input_rows} ({share:.0%})",
        )
    table.add_row("input rows", str(plan.input_rows))
    table.add_row("valid rows", str(plan.valid_rows))
    table.add_row("bad rows (would be error rows)", str(plan.error_rows))
    if plan.cast_rows:
        table.add_row(f"title-only rows (--cast {options.cast})", str(plan.cast_rows))
    table.add_row("distinct questions", str(plan.unique_queries))
    table.add_row("rows sharing another row's answer", str(plan.duplicate_rows))
    table.add_row("distinct titles to look up", str(plan.unique_titles))
    table.add_row("answered without providers", str(plan.cached_hits))
    table.add_row("questions for providers", str(plan.to_resolve))
    table.add_row("AI generations (at most)", str(plan.generations))
    if plan.generation_cost:
        table.add_row("AI generation cost", plan.generation_cost)
    console.print(table)
    calls = Table(title="provider calls")
    calls.add_column("provider")
    calls.add_column("rate/s", justify="right")
    calls.add_column("expected", justify="right")
    calls.add_column("at most", justify="right")
    for provider in sorted(set(plan.max_calls) | set(plan.expected_calls)):
        calls.add_row(
            provider,
            f"{plan.rates.get(provider, 10.0):g}",
            str(plan.expected_calls.get(provider, 0)),
            str(plan.max_calls.get(provider, 0)),
        )
    console.print(calls)
    console.print(_downloads_line(plan), markup=False, highlight=False)
    expected = plan.seconds(plan.expected_calls, plan.expected_downloads)
    at_most = plan.seconds(plan.max_calls, plan.max_downloads)
    console.print(
        f"expected time at these rates: {_duration(expected)} (at most {_duration(at_most)}); "
        "'expected' assumes the first source answers, 'at most' that every source is asked."
    )
    for message in plan.errors:
        console.print(f"  {message}", markup=False, highlight=False)
    return code


_CHECKS_SAID = {
    "default": "TVDB, Hardcover and web pictures",
    "all": "every picture, --verify",
    "none": "web pictures only, --no-verify",
}


def _downloads_line(plan: Any) -> str:
    """Picture downloads (to the image hosts, apart from the API calls above)."""
    expected = sum(plan.expected_downloads.values())
    at_most = sum(plan.max_downloads.values())
    line = f"picture checks ({_CHECKS_SAID.get(plan.picture_checks, plan.picture_checks)}): "
    line += f"~{expected} downloads expected, at most {at_most}"
    if at_most:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(plan.max_downloads.items()))
        line += f" ({parts}); each image host is paced on its own, apart from the APIs"
    return line


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _print_summary(summary: Any, console: Any) -> None:
    from rich.table import Table

    title = f"coverctl batch: {summary.rows} rows"
    if summary.resumed_rows:
        title += f" ({summary.resumed_rows} input rows done earlier)"
    if summary.elapsed_s:
        title += f", {summary.session_rows} in {summary.elapsed_s:.1f} s"
        if summary.rows_per_s:
            title += f" ({summary.rows_per_s:.1f} rows/s)"
    console.print(title, markup=False, highlight=False)
    table = Table()
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
    apis = {n: s for n, s in summary.providers.items() if n in summary.provider_calls}
    hosts = {n: s for n, s in summary.providers.items() if n not in summary.provider_calls}
    if apis:
        console.print(_gate_table("providers (this session)", "provider", "calls", apis))
    if hosts:
        title = f"picture downloads (this session): {summary.picture_downloads}"
        console.print(_gate_table(title, "image host", "downloads", hosts))
    if summary.unavailable:
        parts = ", ".join(f"{k} ({v} rows)" for k, v in summary.unavailable.most_common())
        console.print(f"unavailable sources: {parts}")
    if summary.session_rows:
        rate = summary.cache_hits / summary.session_rows
        line = f"cache hits: {summary.cache_hits} ({rate:.0%})"
        if summary.deduplicated:
            line += f", {summary.deduplicated} rows shared another row's answer"
        console.print(line)
    if summary.generations:
        console.print(f"AI generations: {summary.generations}")
    if summary.out and summary.out != "-":
        console.print(f"results: {summary.out}")


def _gate_table(title: str, what: str, requests: str, gates: dict[str, Any]) -> Any:
    """One row per gate (an API, or an image host): requests, 429s, retries, failures, circuit."""
    from rich.table import Table

    from coverctl.net.pictures import image_host_of

    table = Table(title=title)
    for column in (what, requests, "429s", "retries", "failures", "circuit"):
        table.add_column(column, justify="left" if column == what else "right")
    for name, stats in gates.items():
        circuit = "open now" if stats["circuit_open"] else "closed"
        if stats["breaker_opened"]:
            circuit += f" (opened {stats['breaker_opened']}x)"
        table.add_row(
            image_host_of(name) or name,
            str(stats["requests"]),
            str(stats["rate_limited"]),
            str(stats["retries"]),
            str(stats["failures"]),
            circuit,
        )
    return table


def _write_metrics(summary: Any, path: Path) -> None:
    from coverctl.metrics import RunMetrics, provider_outcomes

    metrics = RunMetrics("batch")
    for source, count in summary.session_sources.items():
        metrics.requests.labels(source=source).inc(count)
    if summary.cache_hits:
        metrics.cache_hits.inc(summary.cache_hits)
    if summary.generation_failures:
        metrics.generation_failures.inc(summary.generation_failures)
    for seconds in summary.generation_durations:
        metrics.generation_duration.observe(seconds)
    for provider, stats in summary.providers.items():
        for outcome, count in provider_outcomes(stats).items():
            if count:
                metrics.provider_requests.labels(provider=provider, outcome=outcome).inc(count)
    if not summary.interrupted:
        metrics.mark_success()
    metrics.write(path)


def estimate_rows(path: Path, fmt: str | None) -> int | None:
    """Lines in the file (less the CSV header): a quick total for the progress bar."""
    try:
        with path.open("rb") as handle:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None
    is_csv = (fmt or ("jsonl" if path.suffix.lower() in {".jsonl", ".ndjson"} else "csv")) == "csv"
    return max(0, lines - 1) if is_csv else lines


class _ProgressBar:
    """A rich progress bar on stderr: rows, rows/s, ETA, counts per status."""

    def __init__(self, console: Any, file: Path, options: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:.1f} rows/s" if speed else "- rows/s")

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("batch"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task(
            "batch", total=estimate_rows(file, options.input_format), counts=""
        )
        self._counts: dict[str, int] = {"resolved": 0, "not_found": 0, "error": 0}

    def __enter__(self) -> _ProgressBar:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def started(self, done_before: int) -> None:
        self._progress.update(self._task, completed=done_before)

    def rows_finished(self, rows: list[list[dict[str, Any]]]) -> None:
        for results in rows:
            for result in results:
                status = str(result.get("status"))
                self._counts[status] = self._counts.get(status, 0) + 1
        counts = " ".join(f"{k} {v}" for k, v in self._counts.items())
        self._progress.update(self._task, advance=len(rows), counts=counts)
