"""A PostgreSQL store that is not there, or goes away mid-batch: exit 4 naming
COVERCTL_DATABASE_URL (never its password), progress kept, the way to resume said; `doctor`
checks it. Against the real server of tests/services.py, cut off through a TCP proxy."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from coverctl.batch import BatchEngine, BatchOptions, run_batch
from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.errors import StoreUnavailable
from coverctl.net.http import RetryPolicy
from tests.fakes.ratelimited import SyntheticTmdb, character_name, film_title, latency_transport
from tests.fakes.tcpproxy import TcpProxy
from tests.fakes.tmdb import VALID_KEY
from tests.services import PostgresService, free_port

pytestmark = pytest.mark.postgres

QUICK = RetryPolicy(attempts=3, wait_initial=0.001, wait_max=0.01, wait_jitter=0.001)
PASSWORD = "pg-Secret-42"


def unreachable_url() -> str:
    return f"postgresql://coverctl:{PASSWORD}@127.0.0.1:{free_port()}/covers"


def test_a_store_down_at_start_exits_4_naming_the_variable_and_never_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("character,title\nBruce Wayne,The Dark Knight\n", encoding="utf-8")
    monkeypatch.setenv("COVERCTL_DATABASE_URL", unreachable_url())
    assert run(["batch", str(source), "--out", str(tmp_path / "out.jsonl")]) == 4
    err = capsys.readouterr().err
    assert "COVERCTL_DATABASE_URL" in err and "127.0.0.1" in err
    assert PASSWORD not in err
    assert not (tmp_path / "out.jsonl").exists()


def test_an_unparsable_url_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COVERCTL_DATABASE_URL", f"postgresql://u:{PASSWORD}@[::1/db?x=1=2")
    assert run(["resolve", "Bruce Wayne", "--title", "The Dark Knight", "--no-network"]) == 4
    err = capsys.readouterr().err
    assert "COVERCTL_DATABASE_URL" in err and PASSWORD not in err


def test_doctor_checks_the_shared_store(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COVERCTL_DATABASE_URL", pg_dsn)
    run(["doctor", "--json"])
    store = next(
        c for c in json.loads(capsys.readouterr().out)["checks"] if c["component"] == "store"
    )
    assert store["status"] == "ok"
    assert store["detail"].startswith("PostgreSQL at 127.0.0.1:") and "0 rows" in store["detail"]

    monkeypatch.setenv("COVERCTL_DATABASE_URL", unreachable_url())
    assert run(["doctor", "--json"]) == 4
    report = json.loads(capsys.readouterr().out)
    store = next(c for c in report["checks"] if c["component"] == "store")
    assert store["status"] == "failed" and "COVERCTL_DATABASE_URL" in store["fix"]
    assert PASSWORD not in json.dumps(report)


def write_input(path: Path, films: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["character", "title", "media_type"])
        for film in range(films):
            writer.writerow([character_name(film, 0), film_title(film), "movie"])
    return path


def test_a_store_lost_mid_batch_stops_cleanly_and_another_host_resumes_it(
    tmp_path: Path,
    pg_dsn: str,
    postgres: PostgresService,
    make_settings: Callable[..., Settings],
) -> None:
    films = 40
    source = write_input(tmp_path / "in.csv", films)
    out = tmp_path / "out.jsonl"
    fake = SyntheticTmdb(titles=films, cast_size=2)
    proxy = TcpProxy(postgres.port)
    dbname = pg_dsn.rsplit("/", 1)[1]
    keys = {"TMDB_API_KEY": VALID_KEY, "COVERCTL_WEB_SEARCH": "0"}
    first_host = make_settings(COVERCTL_DATABASE_URL=proxy.dsn(dbname), **keys)
    engine: dict[str, BatchEngine] = {}
    finished = {"rows": 0}

    class CutAfterTen:
        def started(self, done_before: int) -> None:
            pass

        def rows_finished(self, rows: list[Any]) -> None:
            finished["rows"] += len(rows)
            if finished["rows"] >= 10:
                proxy.cut()  # the database's host goes away

    options = dict(out=out, concurrency=2, rates={"tmdb": 1000.0})
    with pytest.raises(StoreUnavailable) as caught:
        run_batch(
            source,
            first_host,
            BatchOptions(**options),
            transport=latency_transport(fake, 0.01),
            policy=QUICK,
            observer=CutAfterTen(),
            on_engine=lambda e: engine.setdefault("it", e),
        )
    message = caught.value.message
    assert "COVERCTL_DATABASE_URL" in message and "Progress is saved" in message
    assert message.rstrip().endswith("--resume") and caught.value.exit_code == 4
    written = [json.loads(line)["row"] for line in out.read_text(encoding="utf-8").splitlines()]
    with psycopg.connect(pg_dsn) as conn:
        saved = [r for (r,) in conn.execute("SELECT row FROM coverctl_batch_rows ORDER BY row")]
    assert written == saved and len(saved) >= 10  # every written row is saved, nothing torn

    # Another host (its own COVERCTL_HOME and cache), straight to the server, resumes the run.
    shutil.rmtree(first_host.home)
    second_host = make_settings(
        COVERCTL_HOME=str(tmp_path / "other-home"), COVERCTL_DATABASE_URL=pg_dsn, **keys
    )
    sent = len(fake.requests)
    summary = run_batch(
        source,
        second_host,
        BatchOptions(resume=True, **options),
        transport=latency_transport(fake, 0.001),
        policy=QUICK,
    )
    assert summary.exit_code == 0 and summary.resumed_rows == len(saved)
    rows = [json.loads(line)["row"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows == list(range(1, films + 1))  # every row once, in order
    asked = {r.url.params.get("query") for r in fake.requests[sent:]}
    assert not asked & {film_title(row - 1) for row in saved}  # nothing done is asked again
