"""`coverctl batch` end to end in-process: real resolver, store, cache and HTTP client against
fakes with the real reply shapes."""

from __future__ import annotations

import csv
import dataclasses
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from coverctl.batch import BatchOptions, BatchSummary, plan_batch, run_batch
from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.constants import Source
from coverctl.models import Candidate, Match, Query
from coverctl.net.http import RetryPolicy
from coverctl.sources.base import SourceAnswer, SourceContext
from tests.fakes.base import serve
from tests.fakes.ratelimited import SyntheticTmdb, character_name, film_title, latency_transport
from tests.fakes.tmdb import VALID_KEY, FakeTmdb

QUICK = RetryPolicy(attempts=4, wait_initial=0.001, wait_max=0.01, wait_jitter=0.001)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def film_rows(films: range, chars: int) -> list[dict[str, Any]]:
    return [
        {"character": character_name(f, k), "title": film_title(f), "media_type": "movie"}
        for f in films
        for k in range(chars)
    ]


def batch(
    tmp_path: Path,
    settings: Settings,
    transport: Any,
    rows: list[dict[str, Any]],
    **options: Any,
) -> tuple[BatchSummary, list[dict[str, Any]]]:
    source = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out.jsonl"
    options.setdefault("out", out)
    summary = run_batch(
        source, settings, BatchOptions(**options), transport=transport, policy=QUICK
    )
    return summary, read_jsonl(out)


def test_twenty_characters_of_one_title_cost_two_calls_at_concurrency_20(
    tmp_path: Path, provider_settings: Settings
) -> None:
    fake = SyntheticTmdb(titles=1, cast_size=20)
    summary, results = batch(
        tmp_path,
        provider_settings,
        latency_transport(fake, 0.05),
        film_rows(range(1), 20),
        concurrency=20,
    )
    assert fake.paths() == ["/3/search/movie", "/3/movie/100000"]
    assert summary.provider_calls == {"tmdb": 2}
    assert [r["status"] for r in results] == ["resolved"] * 20
    # Each row got its own billed person: no row borrowed another's face.
    assert [r["matched"]["person"] for r in results] == [f"Actor 0-{k}" for k in range(20)]


def test_refresh_fetches_each_title_once_not_once_per_row(
    tmp_path: Path, provider_settings: Settings
) -> None:
    fake = SyntheticTmdb(titles=2, cast_size=5)
    rows = film_rows(range(2), 5)
    batch(tmp_path, provider_settings, latency_transport(fake), rows)
    sent = len(fake.requests)
    # One row at a time, so no two rows overlap: only the cache can spare the second row.
    summary, results = batch(
        tmp_path,
        provider_settings,
        latency_transport(fake),
        rows,
        refresh=True,
        force=True,
        concurrency=1,
    )
    assert len(fake.requests) - sent == 4  # a search and a details call per title, again
    assert {r["status"] for r in results} == {"resolved"} and summary.session_rows == 10


def test_every_row_finishes_with_five_percent_server_errors_and_some_network_faults(
    tmp_path: Path, provider_settings: Settings
) -> None:
    fake = SyntheticTmdb(titles=40, cast_size=3)
    rng = random.Random(2024)
    injected: list[str] = []

    def faults(request: httpx.Request) -> Any:
        roll = rng.random()
        if roll < 0.05:
            injected.append("500")
            return httpx.Response(500, json={"status_code": 11, "status_message": "Internal"})
        if roll < 0.06:
            injected.append("timeout")
            return httpx.ReadTimeout("slow", request=request)
        if roll < 0.07:
            injected.append("connect")
            return httpx.ConnectError("refused", request=request)
        return None

    summary, results = batch(
        tmp_path,
        provider_settings,
        latency_transport(fake, 0.002, faults=faults),
        film_rows(range(40), 3),
        concurrency=16,
        rates={"tmdb": 2000.0},
    )
    assert len(results) == 120
    assert {r["status"] for r in results} == {"resolved"}
    assert sorted(r["row"] for r in results) == list(range(1, 121))
    stats = summary.providers["tmdb"]
    assert injected.count("500") >= 3 and stats["failures"] == len(injected)
    assert stats["retries"] >= len(injected) and stats["gave_up"] == 0
    assert summary.exit_code == 0


def test_dead_provider_opens_the_breaker_and_rows_say_it_was_unavailable(
    tmp_path: Path, provider_settings: Settings
) -> None:
    fake = SyntheticTmdb(titles=30, cast_size=1)
    transport = latency_transport(fake, faults=lambda r: httpx.Response(503, text="down"))
    source = write_csv(tmp_path / "in.csv", film_rows(range(30), 1))
    policy = RetryPolicy(
        attempts=2, wait_initial=0.001, wait_max=0.01, wait_jitter=0.001, breaker_threshold=3
    )
    summary = run_batch(
        source,
        provider_settings,
        BatchOptions(out=tmp_path / "out.jsonl", concurrency=2),
        transport=transport,
        policy=policy,
    )
    results = read_jsonl(tmp_path / "out.jsonl")
    assert [r["status"] for r in results] == ["not_found"] * 30
    assert all(r["unavailable_sources"] == ["tmdb_movie"] for r in results)
    assert "skipped" in results[-1]["error"]
    # Once open, the circuit spares the provider: far fewer requests than rows.
    assert len(fake.requests) <= 6
    assert summary.breaker_opened == ["tmdb"]
    assert summary.unavailable["tmdb_movie"] == 30 and summary.exit_code == 3


def test_output_is_flushed_row_by_row_as_results_are_known(
    tmp_path: Path, provider_settings: Settings
) -> None:
    fake = SyntheticTmdb(titles=10, cast_size=1)
    out = tmp_path / "out.jsonl"
    seen: list[tuple[int, int]] = []

    class Watch:
        def started(self, done_before: int) -> None:
            pass

        def rows_finished(self, rows: list[Any]) -> None:
            lines = out.read_text(encoding="utf-8").count("\n")
            seen.append((lines, sum(len(r) for r in rows)))

    source = write_csv(tmp_path / "in.csv", film_rows(range(10), 1))
    run_batch(
        source,
        provider_settings,
        BatchOptions(out=out, concurrency=1),
        transport=latency_transport(fake, 0.01),
        observer=Watch(),
    )
    # When the observer hears about rows, they are already on disk.
    assert [lines for lines, _ in seen] == list(range(1, 11))


def test_cast_turns_title_only_rows_into_top_billed_characters(
    tmp_path: Path, provider_settings: Settings, tmdb: FakeTmdb
) -> None:
    rows = [
        {"character": "", "title": "The Dark Knight", "year": "2008", "ticket": "A"},
        {"character": "Joker", "title": "The Dark Knight", "year": "2008", "ticket": "B"},
        {"character": "", "title": "Some Book", "year": "", "ticket": "C"},
        {"character": "", "title": "No Such Film", "year": "", "ticket": "D"},
    ]
    rows[2]["media_type"] = "book"
    for row in rows:
        row.setdefault("media_type", "")
    summary, results = batch(
        tmp_path, provider_settings, latency_transport(tmdb, 0.01), rows, cast=3
    )
    cast = [r for r in results if r["row"] == 1]
    assert [(r["character_name"], r["matched"]["person"]) for r in cast] == [
        ("Bruce Wayne", "Christian Bale"),
        ("Joker", "Heath Ledger"),
        ("Harvey Dent", "Aaron Eckhart"),
    ]
    assert [(r["cast_rank"], r["cast_count"], r["ticket"]) for r in cast] == [
        (1, 3, "A"),
        (2, 3, "A"),
        (3, 3, "A"),
    ]
    by_row = {r["row"]: r for r in results if r["row"] != 1}
    assert by_row[2]["status"] == "resolved" and "cast_rank" not in by_row[2]
    assert by_row[3]["status"] == "error" and "not books" in by_row[3]["error"]
    assert by_row[4]["status"] == "not_found" and "No Such Film" in by_row[4]["error"]
    # The Dark Knight: one search and one details request for the listing and all four rows.
    assert tmdb.count(r"/3/movie/155") == 1
    assert summary.rows == 6


def test_without_cast_a_title_only_row_is_an_error_row(
    tmp_path: Path, provider_settings: Settings, tmdb: FakeTmdb
) -> None:
    rows = [{"character": "", "title": "The Dark Knight"}, {"character": "Joker", "title": "X"}]
    summary, results = batch(tmp_path, provider_settings, latency_transport(tmdb), rows)
    assert results[0]["status"] == "error" and "character name is empty" in results[0]["error"]
    assert summary.exit_code == 3


def test_rate_flag_and_environment_set_the_provider_rate(
    tmp_path: Path, make_settings: Any
) -> None:
    fake = SyntheticTmdb(titles=6, cast_size=1)
    settings = make_settings(
        TMDB_API_KEY=VALID_KEY, COVERCTL_WEB_SEARCH="0", COVERCTL_RATE_TMDB="7"
    )
    summary, _ = batch(tmp_path, settings, latency_transport(fake), film_rows(range(1), 1))
    assert summary.providers["tmdb"]["rate"] == 7.0
    (tmp_path / "out.jsonl").unlink()
    fake = SyntheticTmdb(titles=6, cast_size=1)
    summary, _ = batch(
        tmp_path,
        settings,
        latency_transport(fake),
        film_rows(range(6), 1),
        concurrency=6,
        rates={"tmdb": 20.0},
        refresh=True,
    )
    assert summary.providers["tmdb"]["rate"] == 20.0
    # 12 requests paced at 20/s: the first goes at once, the last 11 intervals later.
    times = fake.request_times
    assert len(times) == 12 and times[-1] - times[0] >= 11 / 20 - 0.02


class FakeGenerateSource:
    """Stands in for the (not yet written) AI generation source."""

    name: ClassVar[str] = "generate"
    provider: ClassVar[str | None] = "replicate"
    calls: ClassVar[list[str]] = []

    def unavailable_reason(self, settings: Settings) -> str | None:
        return None

    def __init__(self) -> None:
        self.failures = 0
        self.durations: list[float] = []

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        FakeGenerateSource.calls.append(query.character_name)
        self.durations.append(1.5)
        url = f"https://blob.example/images/anonymous_{len(self.calls)}.jpg"
        return SourceAnswer([Candidate(url, Source.AI_GENERATED, 80, Match())])


@pytest.fixture
def generate_source() -> Iterator[type[FakeGenerateSource]]:
    from coverctl.sources import registry

    FakeGenerateSource.calls = []
    spec = registry.spec_for("generate")
    assert spec is not None
    # The fake needs no Replicate token.
    fake = dataclasses.replace(spec, source_class=FakeGenerateSource, key_variable=None)
    with registry.registered(fake):
        yield FakeGenerateSource


def test_max_generations_caps_ai_generations_across_concurrent_rows(
    tmp_path: Path, provider_settings: Settings, generate_source: Any
) -> None:
    fake = SyntheticTmdb(titles=1, cast_size=1)
    rows = [
        {"character": f"Nobody {i}", "title": film_title(0), "media_type": "movie"}
        for i in range(6)
    ]
    summary, results = batch(
        tmp_path,
        provider_settings,
        latency_transport(fake, 0.01),
        rows,
        concurrency=6,
        generate=True,
        max_generations=2,
    )
    assert len(generate_source.calls) == 2 and summary.generations == 2
    assert summary.generation_durations == [1.5, 1.5]
    assert sorted(r["source"] or "-" for r in results) == ["-"] * 4 + ["ai_generated"] * 2


def test_dry_run_counts_and_prices_without_any_network_call(
    tmp_path: Path, provider_settings: Settings, generate_source: Any
) -> None:
    # Warm the cache with film 0's rows through a real run first.
    fake = SyntheticTmdb(titles=4, cast_size=3)
    batch(tmp_path, provider_settings, latency_transport(fake), film_rows(range(1), 3))
    rows = [
        *film_rows(range(4), 3),  # film 0 cached, films 1-3 new
        *film_rows(range(1, 2), 3),  # asked again: duplicates
        {"character": "X", "title": "T", "media_type": "podcast"},  # bad
    ]
    source = write_csv(tmp_path / "plan.csv", rows)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"dry run sent {request.url}")

    refusing = httpx.MockTransport(refuse)
    plan = plan_batch(source, provider_settings, BatchOptions(), transport=refusing)
    assert (plan.input_rows, plan.valid_rows, plan.error_rows) == (16, 15, 1)
    assert "Unknown media type" in plan.errors[0]
    assert plan.unique_queries == 12 and plan.duplicate_rows == 3
    assert plan.cached_hits == 3 and plan.to_resolve == 9
    assert plan.unique_titles == 3
    assert plan.expected_calls == {"tmdb": 6}  # a search and a details call per new title
    assert plan.seconds(plan.expected_calls) == pytest.approx(6 / 40)
    assert plan.generations == 0  # not without --generate

    options = BatchOptions(generate=True, max_generations=4)
    generating = plan_batch(source, provider_settings, options, transport=refusing)
    # With generation on, every distinct question could fall through to it (the cached
    # answers were found without it, so they do not count): 12, capped at 4.
    assert generating.generations == 4 and generating.max_calls["replicate"] == 12
    assert generate_source.calls == []
    assert plan.generation_cost is None
    assert generating.generation_cost is not None
    assert generating.generation_cost.startswith("about $0.01 for 4 images")


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def tmdb_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SyntheticTmdb]:
    fake = SyntheticTmdb(titles=5, cast_size=2)
    with serve(fake) as url:
        monkeypatch.setenv("TMDB_API_URL", f"{url}/3")
        monkeypatch.setenv("TMDB_API_KEY", VALID_KEY)
        monkeypatch.setenv("COVERCTL_WEB_SEARCH", "0")
        yield fake


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_summary_goes_to_stdout_with_out_and_stderr_without(
    tmdb_server: SyntheticTmdb, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "in.csv", film_rows(range(5), 2))
    code, out, err = cli(capsys, "batch", str(source), "--out", str(tmp_path / "o.jsonl"), "--json")
    summary = json.loads(out)
    assert code == 0 and summary["statuses"]["resolved"] == 10
    assert summary["provider_calls"] == {"tmdb": 10} and summary["interrupted"] is False

    code, out, err = cli(capsys, "batch", str(source), "--json", "--force")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["row"] for r in lines] == list(range(1, 11))  # stdout: only result rows
    assert json.loads(err.strip().splitlines()[-1])["rows"] == 10


def test_cli_quiet_prints_nothing_on_stderr_and_exit_code_reflects_rows(
    tmdb_server: SyntheticTmdb, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = [*film_rows(range(1), 1), {"character": "Nobody", "title": "Nothing", "media_type": ""}]
    source = write_csv(tmp_path / "in.csv", rows)
    code, out, err = cli(
        capsys, "batch", str(source), "--out", str(tmp_path / "o.csv"), "-q", "--format", "csv"
    )
    assert code == 3 and out == "" and err == ""
    records = list(csv.DictReader((tmp_path / "o.csv").open(encoding="utf-8")))
    assert [r["status"] for r in records] == ["resolved", "not_found"]


def test_cli_without_a_terminal_draws_no_progress_bar_and_keeps_stdout_for_results(
    tmdb_server: SyntheticTmdb, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "in.csv", film_rows(range(2), 2))
    code, out, err = cli(capsys, "batch", str(source))
    assert code == 0 and "eta" not in err and "\r" not in err  # no progress bar
    assert [json.loads(line)["row"] for line in out.splitlines()] == [1, 2, 3, 4]
    assert "resolved" in err  # the summary table went to stderr, stdout stayed JSONL


def test_progress_bar_shows_rows_rate_and_counts_per_status(
    tmp_path: Path, provider_settings: Settings
) -> None:
    from io import StringIO

    from rich.console import Console

    from coverctl.cli.batch_cmd import _ProgressBar

    fake = SyntheticTmdb(titles=3, cast_size=1)
    source = write_csv(
        tmp_path / "in.csv", [*film_rows(range(3), 1), {"character": "", "title": "T"}]
    )
    screen = StringIO()
    options = BatchOptions(out=tmp_path / "out.jsonl")
    bar = _ProgressBar(Console(file=screen, force_terminal=True, width=160), source, options)
    with bar:
        run_batch(
            source, provider_settings, options, transport=latency_transport(fake), observer=bar
        )
    drawn = screen.getvalue()
    assert "rows/s" in drawn and "4/4" in drawn
    assert "resolved 3" in drawn and "error 1" in drawn


def test_cli_output_that_cannot_be_written_is_a_usage_error(
    tmdb_server: SyntheticTmdb, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "in.csv", film_rows(range(1), 1))
    (tmp_path / "taken").mkdir()
    code, _, err = cli(capsys, "batch", str(source), "--out", str(tmp_path / "taken"))
    assert code == 2 and "not a regular file" in err and "Traceback" not in err


def test_cli_rejects_an_unknown_rate_provider(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "in.csv", film_rows(range(1), 1))
    code, _, err = cli(capsys, "batch", str(source), "--rate", "tmbd=5")
    assert code == 2 and "unknown provider tmbd" in err


def test_cli_dry_run_json(
    tmdb_server: SyntheticTmdb, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "in.csv", film_rows(range(5), 2))
    code, out, _ = cli(capsys, "batch", str(source), "--dry-run", "--json", "--rate", "tmdb=2")
    plan = json.loads(out)
    assert code == 0 and plan["expected_calls"] == {"tmdb": 10} and plan["expected_seconds"] == 5
    assert tmdb_server.requests == []


def test_cli_metrics_file(
    tmdb_server: SyntheticTmdb, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "in.csv", film_rows(range(2), 2))
    metrics = tmp_path / "batch.prom"
    code, _, _ = cli(
        capsys,
        "batch",
        str(source),
        "-o",
        str(tmp_path / "o.jsonl"),
        "-q",
        "--metrics-file",
        str(metrics),
    )
    text = metrics.read_text(encoding="utf-8")
    assert code == 0
    assert 'image_requests_total{command="batch",source="tmdb"} 4.0' in text
    assert (
        'coverctl_provider_requests_total{command="batch",outcome="ok",provider="tmdb"} 4.0' in text
    )
    assert 'coverctl_last_success_timestamp_seconds{command="batch"}' in text


def test_metrics_file_reports_generation_failures_and_durations(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from coverctl.batch.summary import BatchSummary
    from coverctl.cli.batch_cmd import _write_metrics

    summary = BatchSummary(generation_failures=2, generation_durations=[3.0, 7.0])
    path = tmp_path / "batch.prom"
    _write_metrics(summary, path)
    samples = {
        (s.name, s.labels.get("le")): s.value
        for family in text_string_to_metric_families(path.read_text(encoding="utf-8"))
        for s in family.samples
    }
    assert samples[("image_generation_failures_total", None)] == 2
    assert samples[("image_generation_duration_seconds_count", None)] == 2
    assert samples[("image_generation_duration_seconds_sum", None)] == 10.0


def test_rerunning_to_stdout_prints_the_rows_again(
    tmdb_server: SyntheticTmdb, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "in.csv", film_rows(range(1), 3))
    first, out1, _ = cli(capsys, "batch", str(source), "--quiet")
    second, out2, _ = cli(capsys, "batch", str(source), "--quiet")
    assert first == second
    assert len(out1.splitlines()) == len(out2.splitlines()) == 3
    assert [json.loads(line)["row"] for line in out2.splitlines()] == [1, 2, 3]
