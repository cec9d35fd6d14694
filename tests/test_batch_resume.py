"""Resuming a batch: nothing lost, nothing written twice, no provider asked twice for a row.

In-process tests build each crash state directly (stopped mid-run, torn last line, commit lost,
half a --cast group); two subprocess tests do it for real with SIGKILL and SIGINT.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from coverctl.batch import BatchEngine, BatchOptions, BatchSummary, run_batch
from coverctl.config import Settings
from coverctl.errors import UsageError
from coverctl.net.http import RetryPolicy
from coverctl.store.db import SqliteStore
from coverctl.store.progress import file_run_lock
from tests.fakes.base import serve
from tests.fakes.ratelimited import SyntheticTmdb, character_name, film_title, latency_transport
from tests.fakes.tmdb import VALID_KEY

QUICK = RetryPolicy(attempts=3, wait_initial=0.001, wait_max=0.01, wait_jitter=0.001)
ROOT = Path(__file__).resolve().parent.parent


def write_input(path: Path, films: int, *, cast_rows: bool = False) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["character", "title", "media_type", "ticket"])
        for film in range(films):
            name = "" if cast_rows else character_name(film, 0)
            writer.writerow([name, film_title(film), "movie", f"T{film + 1}"])
    return path


def read_rows(path: Path) -> list[int]:
    """Row numbers of the output, checking every line is a whole result."""
    return [json.loads(line)["row"] for line in path.read_text(encoding="utf-8").splitlines()]


def searched_titles(fake: SyntheticTmdb, since: int = 0) -> set[str]:
    return {r.url.params["query"] for r in fake.requests[since:] if r.url.path == "/3/search/movie"}


class Harness:
    """Runs batches of N distinct films (one row each: two TMDB calls per row)."""

    def __init__(self, tmp_path: Path, settings: Settings, films: int = 30, **input: Any) -> None:
        self.settings = settings
        self.source = write_input(tmp_path / "in.csv", films, **input)
        self.out = tmp_path / "out.jsonl"
        self.films = films
        self.fake = SyntheticTmdb(titles=films, cast_size=4)

    def run(self, *, stop_after: int | None = None, **options: Any) -> BatchSummary:
        options.setdefault("out", self.out)
        options.setdefault("concurrency", 3)
        options.setdefault("rates", {"tmdb": 1000.0})
        engine: dict[str, BatchEngine] = {}
        seen = {"rows": 0}

        class StopAfter:
            def started(self, done_before: int) -> None:
                pass

            def rows_finished(self, rows: list[Any]) -> None:
                seen["rows"] += len(rows)
                if stop_after is not None and seen["rows"] >= stop_after:
                    engine["it"].stop()

        return run_batch(
            self.source,
            self.settings,
            BatchOptions(**options),
            transport=latency_transport(self.fake, 0.005),
            policy=QUICK,
            observer=StopAfter(),
            on_engine=lambda e: engine.setdefault("it", e),
        )

    def forget_cache(self) -> None:
        """So that only the progress table can spare a provider call on resume."""
        shutil.rmtree(self.settings.cache_dir, ignore_errors=True)


@pytest.fixture
def harness(tmp_path: Path, provider_settings: Settings) -> Harness:
    return Harness(tmp_path, provider_settings)


@pytest.mark.parametrize("ordered", [True, False])
def test_stopped_run_resumes_every_row_once_asking_nothing_twice(
    harness: Harness, ordered: bool
) -> None:
    first = harness.run(stop_after=10, ordered=ordered)
    assert first.interrupted and first.exit_code == 130
    assert first.resume_command is not None and first.resume_command.endswith("--resume")
    done = read_rows(harness.out)
    assert 10 <= len(done) < harness.films
    if ordered:
        assert done == list(range(1, len(done) + 1))
    harness.forget_cache()
    sent = len(harness.fake.requests)

    second = harness.run(resume=True, ordered=ordered)
    rows = read_rows(harness.out)
    assert sorted(rows) == list(range(1, harness.films + 1))
    if ordered:
        assert rows == list(range(1, harness.films + 1))
    done_titles = {film_title(row - 1) for row in done}
    assert not searched_titles(harness.fake, sent) & done_titles
    assert len(harness.fake.requests) - sent == 2 * (harness.films - len(done))
    assert second.exit_code == 0 and second.resumed_rows == len(done)
    assert second.input_rows == harness.films and second.statuses["resolved"] == harness.films


def test_resume_cuts_a_torn_line_and_rewrites_saved_rows_the_output_lacks(
    harness: Harness,
) -> None:
    harness.run(stop_after=12)
    lines = harness.out.read_text(encoding="utf-8").splitlines(keepends=True)
    recorded = len(lines)
    # The crash came after rows were committed but while the output was being written.
    harness.out.write_text("".join(lines[:-2]) + lines[-2][:25], encoding="utf-8")
    harness.forget_cache()
    sent = len(harness.fake.requests)

    summary = harness.run(resume=True)
    assert read_rows(harness.out) == list(range(1, harness.films + 1))
    assert len(harness.fake.requests) - sent == 2 * (harness.films - recorded)
    assert any("cut" in n and "wrote 2 saved rows" in n for n in summary.notices)


def test_resume_keeps_rows_the_output_has_but_the_table_lost(harness: Harness) -> None:
    first = harness.run(stop_after=12)
    written = read_rows(harness.out)
    store = SqliteStore(harness.settings.db_path)
    with store.db.conn:
        store.db.execute(
            "DELETE FROM batch_rows WHERE run_id = ? AND row > ?", [first.run_id, written[-3]]
        )
    store.close()
    harness.forget_cache()
    sent = len(harness.fake.requests)

    harness.run(resume=True)
    assert read_rows(harness.out) == list(range(1, harness.films + 1))
    assert len(harness.fake.requests) - sent == 2 * (harness.films - len(written))


def test_resume_completes_a_half_written_cast_group(tmp_path: Path, provider_settings: Any) -> None:
    harness = Harness(tmp_path, provider_settings, films=8, cast_rows=True)
    harness.run(stop_after=3, cast=4)
    lines = harness.out.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) % 4 == 0
    harness.out.write_text("".join(lines[:-1]), encoding="utf-8")  # 3 of the last row's 4

    harness.run(resume=True, cast=4)
    results = [json.loads(line) for line in harness.out.read_text(encoding="utf-8").splitlines()]
    assert [(r["row"], r["cast_rank"]) for r in results] == [
        (row, rank) for row in range(1, 9) for rank in range(1, 5)
    ]
    assert all(r["ticket"] == f"T{r['row']}" for r in results)


def test_csv_resume_cuts_a_torn_record_and_keeps_one_header(harness: Harness) -> None:
    out = harness.out.with_suffix(".csv")
    harness.run(stop_after=10, out=out, fmt="csv")
    text = out.read_text(encoding="utf-8")
    out.write_text(text + '31,"Half a reco', encoding="utf-8")

    harness.run(resume=True, out=out, fmt="csv")
    records = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [int(r["row"]) for r in records] == list(range(1, harness.films + 1))
    assert out.read_text(encoding="utf-8").count("character_name") == 1


def test_csv_resume_cuts_a_record_torn_inside_a_multiline_field(harness: Harness) -> None:
    out = harness.out.with_suffix(".csv")
    harness.run(stop_after=10, out=out, fmt="csv")
    text = out.read_text(encoding="utf-8")
    fields = next(csv.reader([text.splitlines()[-1]]))
    fields[0] = str(int(fields[0]) + 1)
    # Every field is there, but the last one's closing quote was never written: the crash cut
    # the file right after a newline inside it.
    out.write_text(text + ",".join(fields[:-1]) + ',"line one\n', encoding="utf-8")

    harness.run(resume=True, out=out, fmt="csv")
    records = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [int(r["row"]) for r in records] == list(range(1, harness.films + 1))


def test_resume_refuses_an_output_edited_in_the_middle(harness: Harness) -> None:
    harness.run(stop_after=10)
    lines = harness.out.read_text(encoding="utf-8").splitlines(keepends=True)
    harness.out.write_text("".join([*lines[:3], "oops\n", *lines[3:]]), encoding="utf-8")
    with pytest.raises(UsageError, match="changed after the run wrote it"):
        harness.run(resume=True)


def test_a_finished_run_is_not_redone_unless_forced(harness: Harness) -> None:
    first = harness.run()
    assert first.exit_code == 0
    output = harness.out.read_bytes()
    sent = len(harness.fake.requests)

    again = harness.run()
    assert again.already_finished and again.exit_code == 0 and again.rows == harness.films
    assert "nothing to do" in again.notices[-1] and "--force" in again.notices[-1]
    assert harness.out.read_bytes() == output and len(harness.fake.requests) == sent

    harness.forget_cache()
    forced = harness.run(force=True)
    assert not forced.already_finished and forced.session_rows == harness.films
    assert len(harness.fake.requests) == sent + 2 * harness.films
    assert read_rows(harness.out) == list(range(1, harness.films + 1))


def test_an_interrupted_run_is_not_silently_restarted(harness: Harness) -> None:
    harness.run(stop_after=5)
    with pytest.raises(UsageError, match="Add --resume to finish it"):
        harness.run()


def test_resume_refuses_when_the_input_changed(harness: Harness) -> None:
    harness.run(stop_after=5)
    with harness.source.open("a", encoding="utf-8") as handle:
        handle.write("Someone,Film 99999,movie,T\n")
    with pytest.raises(UsageError, match="changed since its interrupted run"):
        harness.run(resume=True)


def test_resume_with_nothing_to_resume_starts_the_run(harness: Harness) -> None:
    summary = harness.run(resume=True)
    assert summary.exit_code == 0 and read_rows(harness.out) == list(range(1, 31))
    assert any("Nothing to resume" in n for n in summary.notices)


def test_two_processes_cannot_write_the_same_run(harness: Harness) -> None:
    from coverctl.locking import RunInProgress

    first = harness.run(stop_after=5)
    assert first.run_id is not None
    with (
        file_run_lock(harness.settings.home, first.run_id),
        pytest.raises(RunInProgress, match="right now") as caught,
    ):
        harness.run(resume=True)
    assert caught.value.exit_code == 4


def test_two_inputs_cannot_write_the_same_output_at_once(harness: Harness) -> None:
    from coverctl.locking import RunInProgress

    with (
        file_run_lock(harness.settings.home, "some-other-input-run", harness.out),
        pytest.raises(RunInProgress, match="writing this output"),
    ):
        harness.run()


# --- real processes ------------------------------------------------------------------------


def coverctl_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "TMDB_API_URL": f"{url}/3",
        "TMDB_API_KEY": VALID_KEY,
        "COVERCTL_WEB_SEARCH": "0",
        "PYTHONPATH": str(ROOT),
    }


def wait_for_lines(path: Path, count: int, proc: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        if proc.poll() is not None:
            raise AssertionError(f"batch ended early with {proc.returncode}")
        time.sleep(0.02)
    raise AssertionError("batch made no progress")


def whole_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


@pytest.mark.slow
def test_kill_9_then_resume_yields_every_row_exactly_once(tmp_path: Path) -> None:
    films = 120
    source = write_input(tmp_path / "in.csv", films)
    out = tmp_path / "out.jsonl"
    fake = SyntheticTmdb(titles=films, cast_size=2)
    fake.latency = 0.01
    args = [sys.executable, "-m", "coverctl", "batch", str(source), "--out", str(out), "-q"]
    args += ["--concurrency", "16", "--rate", "tmdb=1000"]
    with serve(fake) as url:
        proc = subprocess.Popen(args, env=coverctl_env(url), cwd=tmp_path)
        wait_for_lines(out, 30, proc)
        proc.kill()
        assert proc.wait() == -signal.SIGKILL
        before = whole_lines(out)
        sent = len(fake.requests)
        resumed = subprocess.run([*args, "--resume"], env=coverctl_env(url), cwd=tmp_path)
    assert resumed.returncode == 0
    rows = [r["row"] for r in whole_lines(out)]
    assert rows == list(range(1, films + 1))  # every row once, in input order
    assert out.read_text(encoding="utf-8").endswith("\n")
    # No provider call for a row that was already in the output when the process died.
    done_titles = {r["title"] for r in before}
    assert len(done_titles) >= 30
    assert not searched_titles(fake, sent) & done_titles


@pytest.mark.slow
def test_ctrl_c_exits_130_with_the_resume_command_and_a_valid_partial_output(
    tmp_path: Path,
) -> None:
    films = 80
    source = write_input(tmp_path / "in.csv", films)
    out = tmp_path / "out.jsonl"
    fake = SyntheticTmdb(titles=films, cast_size=2)
    fake.latency = 0.01
    args = [sys.executable, "-m", "coverctl", "batch", str(source), "--out", str(out)]
    args += ["--rate", "tmdb=400", "--concurrency", "8"]
    with serve(fake) as url:
        env = coverctl_env(url)
        proc = subprocess.Popen(args, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        wait_for_lines(out, 10, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        partial = [r["row"] for r in whole_lines(out)]
        assert out.read_text(encoding="utf-8").endswith("\n")  # flushed, nothing torn
        assert partial == list(range(1, len(partial) + 1)) and len(partial) < films
        command = err[err.index("Resume with:") :].splitlines()[1].strip()
        argv = shlex.split(command)
        assert argv[:2] == ["coverctl", "batch"] and argv[-1] == "--resume"
        resumed = subprocess.run(
            [sys.executable, "-m", "coverctl", *argv[1:]],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
    assert resumed.returncode == 0, resumed.stderr
    assert [r["row"] for r in whole_lines(out)] == list(range(1, films + 1))
