"""`coverctl push postgres|supabase`: the real PostgreSQL (tests/services.py), a served Supabase
fake, and rows from the real local store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.errors import UsageError
from coverctl.names import normalize
from coverctl.push.publish import parse_since
from coverctl.store.db import ImageRecord, SqliteStore
from tests.fakes.base import serve
from tests.fakes.supabase import INVALID_JWT_BODY, SERVICE_KEY, FakeSupabase
from tests.services import free_port

NOW = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def store() -> Iterator[SqliteStore]:
    store = SqliteStore(Settings.from_env().db_path)
    yield store
    store.close()


def remember(
    store: SqliteStore,
    character: str,
    title: str,
    *,
    source: str = "tmdb",
    score: int = 50,
    updated_at: datetime | None = None,
) -> str:
    row_id = store.upsert(
        ImageRecord(
            character_name=character,
            movie_title=title,
            character_key=normalize(character),
            title_key=normalize(title),
            image_url=f"https://image.example/{normalize(character).replace(' ', '_')}.jpg",
            source=source,
            quality_score=score,
            external_character_id="3894",
        )
    )
    if updated_at is not None:
        store.update_fields(row_id, {"updated_at": updated_at.isoformat(timespec="seconds")})
    return row_id


def remote_rows(dsn: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("SELECT * FROM character_images ORDER BY character_name, source")
        return cur.fetchall()


# --- --since -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2w", NOW - timedelta(weeks=2)),
        ("1d12h", NOW - timedelta(days=1, hours=12)),
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
        ("2026-01-31T08:00:00", datetime(2026, 1, 31, 8, tzinfo=UTC)),
        ("2026-01-31T08:00:00Z", datetime(2026, 1, 31, 8, tzinfo=UTC)),
        ("2026-01-31T10:00:00+02:00", datetime(2026, 1, 31, 8, tzinfo=UTC)),
    ],
)
def test_since_accepts_durations_and_iso_dates(text: str, expected: datetime) -> None:
    assert parse_since(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "7", "d7", "-3d", "2026-13-01", ""])
def test_since_refuses_anything_else(text: str) -> None:
    with pytest.raises(UsageError, match="--since expects"):
        parse_since(text, now=NOW)


def test_bad_since_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(
        capsys, "push", "postgres", "--dsn", "postgresql://x@h/db", "--since", "soon"
    )
    assert code == 2 and "--since expects" in err


# --- PostgreSQL ----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_pushing_twice_leaves_one_row_per_key_and_updates_changed_scores(
    pg_dsn: str, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    remember(store, "Bruce Wayne", "The Dark Knight", score=50)
    remember(store, "Bruce Wayne", "The Dark Knight", source="web_search", score=30)
    remember(store, "Joker", "The Dark Knight", score=50)

    code, out, err = cli(capsys, "push", "postgres", "--dsn", pg_dsn, "--create-table", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert (first["rows_sent"], first["inserted"], first["updated"]) == (3, 3, 0)
    assert first["batches"] == 1 and first["target"] == "postgres"

    code, out, _ = cli(capsys, "push", "postgres", "--dsn", pg_dsn, "--json")
    assert code == 0
    again = json.loads(out)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert len(remote_rows(pg_dsn)) == 3

    remember(store, "Joker", "The Dark Knight", score=55)  # a better picture was scored
    code, out, _ = cli(capsys, "push", "postgres", "--dsn", pg_dsn)
    assert code == 0
    assert "1 updated" in out and "0 inserted" in out
    rows = remote_rows(pg_dsn)
    assert len(rows) == 3
    assert {(r["character_name"], r["source"]): r["quality_score"] for r in rows} == {
        ("Bruce Wayne", "tmdb"): 50,
        ("Bruce Wayne", "web_search"): 30,
        ("Joker", "tmdb"): 55,
    }


@pytest.mark.postgres
def test_since_sends_only_rows_changed_since_then(
    pg_dsn: str, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    remember(store, "Old Timer", "Archive", updated_at=now - timedelta(days=30))
    remember(store, "Boundary", "Archive", updated_at=now - timedelta(days=2))
    remember(store, "Fresh Face", "News", updated_at=now - timedelta(hours=1))

    code, out, _ = cli(
        capsys, "push", "postgres", "--dsn", pg_dsn, "--create-table", "--since", "3d", "--json"
    )
    assert code == 0
    assert json.loads(out)["rows_sent"] == 2
    assert {r["character_name"] for r in remote_rows(pg_dsn)} == {"Boundary", "Fresh Face"}

    since = (now - timedelta(days=2)).isoformat(timespec="seconds")  # inclusive: updated_at >= T
    code, out, _ = cli(capsys, "push", "postgres", "--dsn", pg_dsn, "--since", since, "--json")
    assert json.loads(out)["rows_sent"] == 2


@pytest.mark.postgres
def test_dsn_comes_from_the_environment_and_nothing_to_push_is_fine(
    pg_dsn: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVERCTL_POSTGRES_DSN", pg_dsn)
    code, out, _ = cli(capsys, "push", "postgres", "--create-table")
    assert code == 0
    assert "nothing to push" in out
    assert remote_rows(pg_dsn) == []  # the table was created


@pytest.mark.parametrize("host", ["127.0.0.1", "no-such-db-host.invalid"])
def test_unreachable_database_exits_four_without_the_password(
    store: SqliteStore, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    remember(store, "Bruce Wayne", "The Dark Knight")
    password = "s3cr3t-Pa55word"
    dsn = f"postgresql://coverctl:{password}@{host}:{free_port()}/images?connect_timeout=3"
    code, out, err = cli(capsys, "push", "postgres", "--dsn", dsn)
    assert code == 4
    assert host in err and "Cannot connect" in err
    assert password not in out + err and dsn not in out + err


def test_unparsable_dsn_exits_four_without_quoting_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn = "host=db password='unterminated-s3cr3t"
    code, out, err = cli(capsys, "push", "postgres", "--dsn", dsn)
    assert code == 4
    assert "cannot be parsed" in err and "s3cr3t" not in out + err


def test_missing_dsn_exits_four_naming_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "push", "postgres")
    assert code == 4 and "COVERCTL_POSTGRES_DSN" in err and "--dsn" in err


# --- Supabase ------------------------------------------------------------------------------------


@pytest.fixture
def supabase(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSupabase]:
    fake = FakeSupabase()
    with serve(fake) as url:
        monkeypatch.setenv("SUPABASE_URL", url)
        monkeypatch.setenv("SUPABASE_KEY", SERVICE_KEY)
        yield fake


def test_supabase_push_sends_real_headers_and_merges_on_the_key(
    supabase: FakeSupabase, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    remember(store, "Bruce Wayne", "The Dark Knight", score=50)
    remember(store, "Joker", "The Dark Knight", score=50)
    code, out, err = cli(capsys, "push", "supabase", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["rows_sent"], report["batches"], report["target"]) == (2, 1, "supabase")
    assert report["inserted"] is None  # return=minimal: PostgREST does not say

    [request] = supabase.requests
    assert request.headers["apikey"] == SERVICE_KEY
    assert request.headers["authorization"] == f"Bearer {SERVICE_KEY}"
    assert "resolution=merge-duplicates" in request.headers["prefer"]
    assert request.url.params["on_conflict"] == "character_name,movie_title,source"

    remember(store, "Joker", "The Dark Knight", score=55)
    code, out, _ = cli(capsys, "push", "supabase")
    assert code == 0 and "pushed 2 rows" in out
    assert len(supabase.rows) == 2
    assert supabase.rows[("Joker", "The Dark Knight", "tmdb")]["quality_score"] == 55


def test_supabase_since_filters_rows(
    supabase: FakeSupabase, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    remember(store, "Old Timer", "Archive", updated_at=now - timedelta(days=10))
    remember(store, "Fresh Face", "News", updated_at=now)
    code, out, _ = cli(capsys, "push", "supabase", "--since", "12h", "--json")
    assert code == 0 and json.loads(out)["rows_sent"] == 1
    assert list(supabase.rows) == [("Fresh Face", "News", "tmdb")]


def test_supabase_rejected_jwt_exits_four_without_the_key(
    supabase: FakeSupabase, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    remember(store, "Bruce Wayne", "The Dark Knight")
    supabase.fail_next("/rest/v1/character_images", 401, INVALID_JWT_BODY)
    code, out, err = cli(capsys, "push", "supabase")
    assert code == 4
    assert "PGRST301" in err and "SUPABASE_KEY" in err
    assert SERVICE_KEY not in out + err
    assert supabase.rows == {}


def test_supabase_wrong_key_is_refused_at_the_gateway_and_exits_four(
    supabase: FakeSupabase,
    store: SqliteStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    remember(store, "Bruce Wayne", "The Dark Knight")
    wrong = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.d3JvbmctLXNpZ25hdHVyZQ"
    monkeypatch.setenv("SUPABASE_KEY", wrong)
    code, out, err = cli(capsys, "push", "supabase")
    assert code == 4
    assert "Invalid API key" in err and "SUPABASE_KEY" in err
    assert wrong not in out + err
    assert supabase.rows == {}


def test_supabase_missing_url_exits_four_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "push", "supabase")
    assert code == 4 and "SUPABASE_URL" in err
