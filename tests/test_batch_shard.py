"""`batch --shard K/N`: N runs over one input write every row exactly once between them, all rows
of a title in one shard (so a title's calls are made once), each resumable on its own."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from coverctl.batch import BatchEngine, BatchOptions, BatchSummary, plan_batch, run_batch
from coverctl.batch.shard import Shard
from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.errors import UsageError
from coverctl.net.http import RetryPolicy
from tests.fakes.ratelimited import SyntheticTmdb, character_name, film_title, latency_transport

QUICK = RetryPolicy(attempts=3, wait_initial=0.001, wait_max=0.01, wait_jitter=0.001)
ROOT = Path(__file__).resolve().parent.parent
FILMS, CHARACTERS = 24, 3


def write_input(path: Path) -> Path:
    """FILMS films x CHARACTERS characters, films interleaved, and one malformed row."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["character", "title", "media_type"])
        for k in range(CHARACTERS):
            for film in range(FILMS):
                writer.writerow([character_name(film, k), film_title(film), "movie"])
        writer.writerow(["Nobody", "", "movie"])  # no title: an error row
    return path


TOTAL_ROWS = FILMS * CHARACTERS + 1


class Shards:
    def __init__(self, tmp_path: Path, settings: Settings) -> None:
        self.tmp_path = tmp_path
        self.settings = settings
        self.source = write_input(tmp_path / "in.csv")
        self.fake = SyntheticTmdb(titles=FILMS, cast_size=CHARACTERS)

    def out(self, shard: str) -> Path:
        return self.tmp_path / f"out-{shard.replace('/', '-of-')}.jsonl"

    def run(self, shard: str, *, stop_after: int | None = None, **options: Any) -> BatchSummary:
        engine: dict[str, BatchEngine] = {}
        seen = {"rows": 0}

        class StopAfter:
            def started(self, done_before: int) -> None:
                pass

            def rows_finished(self, rows: list[Any]) -> None:
                seen["rows"] += len(rows)
                if stop_after is not None and seen["rows"] >= stop_after:
                    engine["it"].stop()

        options.setdefault("out", self.out(shard))
        return run_batch(
            self.source,
            self.settings,
            BatchOptions(
                shard=Shard.parse(shard), concurrency=4, rates={"tmdb": 1000.0}, **options
            ),
            transport=latency_transport(self.fake, 0.002),
            policy=QUICK,
            observer=StopAfter(),
            on_engine=lambda e: engine.setdefault("it", e),
        )


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def shards(tmp_path: Path, provider_settings: Settings) -> Shards:
    return Shards(tmp_path, provider_settings)


@pytest.mark.parametrize(
    ("text", "expected"), [("1/4", Shard(1, 4)), ("4/4", Shard(4, 4)), (" 2 / 3 ", Shard(2, 3))]
)
def test_shard_specs_parse(text: str, expected: Shard) -> None:
    assert Shard.parse(text) == expected and str(expected) == text.replace(" ", "")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0/4", "between 1 and 4"),
        ("5/4", "between 1 and 4"),
        ("1/0", "N must be"),
        ("junk", "expects K/N"),
        ("2", "expects K/N"),
        ("-1/4", "expects K/N"),
        ("", "expects K/N"),
    ],
)
def test_a_bad_shard_is_a_usage_error_exit_2(
    text: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UsageError, match=says):
        Shard.parse(text)
    source = write_input(tmp_path / "in.csv")
    assert run(["batch", str(source), "--shard", text, "--dry-run"]) == 2
    assert "--shard" in capsys.readouterr().err


def test_the_shards_together_write_every_row_once_each_title_in_one_shard(
    shards: Shards,
) -> None:
    by_shard = {}
    for k in (1, 2, 3):
        summary = shards.run(f"{k}/3")
        assert summary.exit_code in (0, 3) and summary.shard == f"{k}/3"
        by_shard[k] = results(shards.out(f"{k}/3"))
        assert by_shard[k], "with 24 titles every one of 3 shards gets some"
    rows = sorted(r["row"] for found in by_shard.values() for r in found)
    assert rows == list(range(1, TOTAL_ROWS + 1))  # every row, exactly once
    for k, found in by_shard.items():
        for result in found:
            if result["title"]:
                assert Shard(k, 3).of_title(result["title"]) == k
        resolved = [r for r in found if r["status"] == "resolved"]
        assert {r["title"] for r in resolved} == {r["title"] for r in found if r["title"]}
    shard_of_title = {r["title"]: k for k, found in by_shard.items() for r in found if r["title"]}
    assert len(shard_of_title) == FILMS
    # One search per title for the whole set of shards: no title was asked by two of them.
    searches = [r.url.params["query"] for r in shards.fake.requests if "search" in r.url.path]
    assert sorted(searches) == sorted(film_title(f) for f in range(FILMS))


def test_a_title_falls_in_the_same_shard_in_every_process_and_spelling() -> None:
    titles = [film_title(f) for f in range(40)]
    code = (
        "import json, sys\nfrom coverctl.batch.shard import Shard\n"
        "print(json.dumps([Shard(1, 7).of_title(t) for t in json.loads(sys.argv[1])]))"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(titles)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(out.stdout) == [Shard(1, 7).of_title(t) for t in titles]
    shard = Shard(1, 7)
    assert shard.of_title("The Dark Knight") == shard.of_title("  the dark knight ")
    assert len({shard.of_title(t) for t in titles}) == 7  # 40 titles reach every shard


def test_dry_run_shows_each_shards_share(
    shards: Shards, capsys: pytest.CaptureFixture[str]
) -> None:
    plans = [
        plan_batch(shards.source, shards.settings, BatchOptions(shard=Shard(k, 3)))
        for k in (1, 2, 3)
    ]
    assert sum(p.input_rows for p in plans) == TOTAL_ROWS
    assert all(p.all_input_rows == TOTAL_ROWS for p in plans)
    assert sum(p.unique_titles for p in plans) == FILMS  # no title priced by two shards
    assert [p.to_json()["shard"] for p in plans] == ["1/3", "2/3", "3/3"]
    assert run(["batch", str(shards.source), "--shard", "2/3", "--dry-run"]) in (0, 3)
    out = capsys.readouterr().out
    assert "shard 2/3: its rows" in out and f"{plans[1].input_rows} of {TOTAL_ROWS}" in out


def test_an_interrupted_shard_resumes_on_its_own(shards: Shards) -> None:
    first = shards.run("2/3", stop_after=5)
    assert first.interrupted and first.resume_command is not None
    assert "--shard 2/3" in first.resume_command
    other = shards.run("1/3")  # another shard meanwhile: a run of its own
    assert not other.interrupted
    with pytest.raises(UsageError, match="--resume"):
        shards.run("2/3")  # the interrupted shard is not silently restarted
    resumed = shards.run("2/3", resume=True)
    assert not resumed.interrupted and resumed.resumed_rows >= 5
    rows = [r["row"] for r in results(shards.out("2/3"))]
    assert len(rows) == len(set(rows)) == resumed.input_rows
    expected = [
        r
        for r in range(1, TOTAL_ROWS + 1)
        if r not in {x["row"] for x in results(shards.out("1/3"))}
    ]
    assert set(rows) <= set(expected)


def test_resume_starts_a_shard_whatever_the_other_shards_runs(shards: Shards) -> None:
    """What an Indexed Job's pods run: `--resume` for every shard, first start or restart."""
    interrupted = shards.run("1/3", stop_after=3)  # another shard, interrupted
    assert interrupted.interrupted
    fresh = shards.run("3/3", resume=True)  # no run of its own yet: it starts
    assert not fresh.interrupted and fresh.resumed_rows == 0
    assert any("Nothing to resume" in n for n in fresh.notices)
    again = shards.run("3/3", resume=True)  # finished: nothing to do
    assert again.already_finished
    resumed = shards.run("1/3", resume=True)
    assert not resumed.interrupted and resumed.resumed_rows >= 3
