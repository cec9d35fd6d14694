"""coverctl.push.postgres against a real PostgreSQL (started once per session by tests/services.py;
each test gets a database of its own through `pg_dsn`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from coverctl.errors import ConfigError, CoverctlError, InputRowError, ServiceUnreachable
from coverctl.push.postgres import SCHEMA_SQL, describe_dsn, push_rows
from coverctl.push.rows import PUSH_COLUMNS
from tests import services
from tests.services import PostgresService, free_port

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("character_specific", "ai_generated", "tvdb", "tmdb", "hardcover", "web_search")


def make_row(i: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "character_name": f"Character {i}",
        "movie_title": f"Movie {i % 7}",
        "image_url": f"https://img.example/{i}.jpg",
        "source": SOURCES[i % len(SOURCES)],
        "external_character_id": str(1000 + i) if i % 3 else None,
        "quality_score": 50 + i % 50,
        "created_at": "2026-11-27T08:00:00+00:00",
        "updated_at": "2026-11-27T08:00:00+00:00",
        "status": "resolved",  # extra keys from the local store are dropped
        "cache_hit": True,
    }
    row.update(changes)
    return row


def fetch_all(dsn: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("SELECT * FROM character_images ORDER BY character_name, movie_title, source")
        return cur.fetchall()


def test_sql_file_and_packaged_schema_are_identical() -> None:
    assert (REPO / "sql" / "character_images.sql").read_text(encoding="utf-8") == SCHEMA_SQL


@pytest.mark.postgres
def test_create_table_creates_the_schema_and_can_run_again(pg_dsn: str) -> None:
    report = push_rows(pg_dsn, [], create_table=True)
    assert (report.rows_sent, report.batches) == (0, 0)
    push_rows(pg_dsn, [], create_table=True)  # IF NOT EXISTS everywhere

    with psycopg.connect(pg_dsn) as conn:
        columns: dict[str, str] = dict(
            conn.execute(
                "SELECT column_name, is_nullable FROM information_schema.columns "
                "WHERE table_name = 'character_images'"
            ).fetchall()
        )
        indexes = {
            name: definition
            for name, definition in conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'character_images'"
            ).fetchall()
        }
        types: dict[str, str] = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'character_images'"
            ).fetchall()
        )
    assert set(columns) == {"id", *PUSH_COLUMNS}
    assert columns["external_character_id"] == "YES"
    assert all(columns[c] == "NO" for c in PUSH_COLUMNS if c != "external_character_id")
    assert types["id"] == "uuid"
    assert types["created_at"] == types["updated_at"] == "timestamp with time zone"
    definitions = " ".join(indexes.values())
    assert "UNIQUE INDEX" in definitions and "(character_name, movie_title, source)" in definitions
    assert "(quality_score DESC)" in definitions
    assert any(d.endswith("(character_name, movie_title)") for d in indexes.values())

    # Defaults and the CHECK on source work on their own.
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute(
            "INSERT INTO character_images (character_name, movie_title, image_url, source, "
            "quality_score) VALUES ('A', 'B', 'u', 'tmdb', 1) RETURNING id, created_at, updated_at"
        ).fetchone()
        assert row is not None and all(value is not None for value in row)
    with psycopg.connect(pg_dsn) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO character_images (character_name, movie_title, image_url, source, "
            "quality_score) VALUES ('A', 'B', 'u', 'imdb', 1)"
        )


@pytest.mark.postgres
def test_pushing_the_same_rows_twice_keeps_one_row_per_key(pg_dsn: str) -> None:
    rows = [make_row(i) for i in range(30)]

    first = push_rows(pg_dsn, rows, create_table=True)
    second = push_rows(pg_dsn, rows)

    assert (first.rows_sent, first.inserted, first.updated, first.unchanged) == (30, 30, 0, 0)
    assert (second.rows_sent, second.inserted, second.updated, second.unchanged) == (30, 0, 0, 30)
    stored = fetch_all(pg_dsn)
    assert len(stored) == 30
    keys = {(r["character_name"], r["movie_title"], r["source"]) for r in stored}
    assert len(keys) == 30
    by_key = {(r["character_name"], r["movie_title"], r["source"]): r for r in stored}
    for row in rows:
        saved = by_key[(row["character_name"], row["movie_title"], row["source"])]
        assert saved["image_url"] == row["image_url"]
        assert saved["quality_score"] == row["quality_score"]
        assert saved["external_character_id"] == row["external_character_id"]
        assert saved["created_at"] == datetime(2026, 11, 27, 8, tzinfo=UTC)


@pytest.mark.postgres
def test_changed_rows_are_updated_but_keep_their_first_id_and_created_at(pg_dsn: str) -> None:
    original = make_row(1, quality_score=50)
    push_rows(pg_dsn, [original, make_row(2)], create_table=True)
    first_id = next(r["id"] for r in fetch_all(pg_dsn) if r["character_name"] == "Character 1")

    changed = make_row(
        1,
        id=str(uuid.uuid4()),  # a different id and created_at must not replace the stored ones
        quality_score=95,
        image_url="https://img.example/better.jpg",
        external_character_id="999",
        created_at="2026-12-01T00:00:00+00:00",
        updated_at="2026-12-01T09:30:00+00:00",
    )
    report = push_rows(pg_dsn, [changed, make_row(2)])

    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 1)
    stored = [r for r in fetch_all(pg_dsn) if r["character_name"] == "Character 1"]
    assert len(stored) == 1
    row = stored[0]
    assert row["id"] == first_id
    assert row["created_at"] == datetime(2026, 11, 27, 8, tzinfo=UTC)
    assert row["updated_at"] == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert row["quality_score"] == 95
    assert row["image_url"] == "https://img.example/better.jpg"
    assert row["external_character_id"] == "999"


@pytest.mark.postgres
def test_rows_are_sent_in_batches_each_committed(pg_dsn: str) -> None:
    rows = [make_row(i) for i in range(1201)]
    report = push_rows(pg_dsn, rows, create_table=True, batch_size=500)
    assert (report.rows_sent, report.batches, report.inserted) == (1201, 3, 1201)
    assert len(fetch_all(pg_dsn)) == 1201
    assert report.elapsed > 0


@pytest.mark.postgres
def test_duplicate_keys_in_the_input_keep_the_last_row(pg_dsn: str) -> None:
    rows = [make_row(1, quality_score=10), make_row(2), make_row(1, quality_score=70)]
    report = push_rows(pg_dsn, rows, create_table=True, batch_size=10)
    assert (report.rows_sent, report.duplicates_dropped) == (2, 1)
    scores = {r["character_name"]: r["quality_score"] for r in fetch_all(pg_dsn)}
    assert scores["Character 1"] == 70


@pytest.mark.postgres
def test_missing_table_without_create_table_is_config_error(pg_dsn: str) -> None:
    with pytest.raises(ConfigError, match="--create-table") as caught:
        push_rows(pg_dsn, [make_row(1)])
    assert "character_images" in str(caught.value)
    with psycopg.connect(pg_dsn) as conn:
        found = conn.execute("SELECT to_regclass('character_images')").fetchone()
    assert found == (None,)


@pytest.mark.postgres
def test_table_without_the_unique_index_is_config_error(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE character_images (id uuid PRIMARY KEY, character_name text, "
            "movie_title text, image_url text, source text, external_character_id text, "
            "quality_score int, created_at timestamptz, updated_at timestamptz)"
        )
    with pytest.raises(ConfigError, match=r"sql/character_images\.sql") as caught:
        push_rows(pg_dsn, [make_row(1)])
    assert "42P10" in str(caught.value)


@pytest.mark.postgres
def test_server_side_rejection_quotes_the_sqlstate_and_counts_committed_batches(
    pg_dsn: str,
) -> None:
    push_rows(pg_dsn, [], create_table=True)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "ALTER TABLE character_images ADD CONSTRAINT score_range "
            "CHECK (quality_score BETWEEN 0 AND 100)"
        )
    rows = [make_row(i, quality_score=60) for i in range(4)] + [make_row(9, quality_score=500)]
    with pytest.raises(CoverctlError) as caught:
        push_rows(pg_dsn, rows, batch_size=2)
    message = str(caught.value)
    assert "23514" in message and "score_range" in message
    assert "4 rows in 2 batches were committed" in message
    assert len(fetch_all(pg_dsn)) == 4


@pytest.mark.postgres
def test_wrong_port_is_service_unreachable_without_the_password(postgres: PostgresService) -> None:
    password = "pa55-w0rd-Never-Shown"
    port = free_port()
    dsn = f"postgresql://coverctl:{password}@127.0.0.1:{port}/coverctl"

    with pytest.raises(ServiceUnreachable) as caught:
        push_rows(dsn, [make_row(1)], connect_timeout=3)

    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert password not in message and dsn not in message
    assert caught.value.__cause__ is None
    assert caught.value.exit_code == 4


@pytest.mark.postgres
def test_key_value_dsn_unknown_database_is_config_error(postgres: PostgresService) -> None:
    dsn = f"host=127.0.0.1 port={postgres.port} user=postgres password=s3cr3t-Value dbname=nope"
    with pytest.raises(ConfigError, match="nope") as caught:
        push_rows(dsn, [make_row(1)])
    assert not isinstance(caught.value, ServiceUnreachable)
    assert "s3cr3t-Value" not in str(caught.value)


def test_describe_dsn_names_host_port_and_database_only() -> None:
    assert describe_dsn("postgresql://u:secret@db.example:6543/app") == (
        "PostgreSQL at db.example:6543 (database app)"
    )
    assert "secret" not in describe_dsn("host=/run/pg port=5433 password=secret dbname=x")


def test_malformed_rows_are_refused_before_connecting() -> None:
    # Port 1 would be unreachable: the row error must come first, and nothing is sent.
    with pytest.raises(InputRowError, match="source"):
        push_rows("postgresql://u@127.0.0.1:1/x", [make_row(1, source="imdb")])


def test_missing_service_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match=r"scripts/services\.sh"):
        services.missing_service("Thing")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"scripts/services\.sh"):
        services.missing_service("Thing")
