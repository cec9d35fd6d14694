"""`push postgres` and `push supabase` against `character_images` tables whose `id` is a uuid, a
bigint identity or absent, on a real PostgreSQL (Supabase through PostgREST's own upsert
statement, tests/fakes/postgrest.py). Upserts go by the natural key and never send `id`."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from coverctl.config import Secret
from coverctl.push import postgres, supabase
from tests.fakes.postgrest import PostgrestOnPostgres
from tests.pg_tables import ID_VARIANTS, existing_table

pytestmark = pytest.mark.postgres

URL = "https://project.supabase.co"
KEY = "service-role-key-for-tests"


def store_rows(count: int, **changes: Any) -> list[dict[str, Any]]:
    """Rows as a store hands them to push: with the store's own ids (here SQLite's uuids)."""
    return [
        {
            "id": f"00000000-0000-4000-8000-{i:012d}",
            "character_name": f"Character {i}",
            "movie_title": "The Dark Knight",
            "image_url": f"https://img.example/{i}.jpg",
            "source": "tmdb",
            "external_character_id": str(i),
            "quality_score": 50,
            "created_at": "2026-11-27T08:00:00+00:00",
            "updated_at": "2026-11-27T08:00:00+00:00",
            **changes,
        }
        for i in range(count)
    ]


def table(dsn: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("SELECT * FROM character_images")
        return {row["character_name"]: row for row in cur.fetchall()}


def check_ids(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], variant: str):
    """The target's ids are its own: kept for existing rows, never one the store sent."""
    sent = {row["id"] for row in store_rows(10)}
    for name, row in after.items():
        if variant == "no id":
            assert "id" not in row
            continue
        assert str(row["id"]) not in sent
        if name in before:
            assert row["id"] == before[name]["id"]
    if variant == "bigint identity":
        assert sorted(row["id"] for row in after.values()) == list(range(1, len(after) + 1))


@pytest.mark.parametrize("variant", ID_VARIANTS)
def test_push_postgres_upserts_by_natural_key_whatever_the_id(pg_dsn: str, variant: str) -> None:
    existing_table(pg_dsn, variant)
    first = postgres.push_rows(pg_dsn, store_rows(10))
    assert (first.inserted, first.updated) == (10, 0)
    before = table(pg_dsn)
    again = postgres.push_rows(pg_dsn, store_rows(10, quality_score=60))
    assert (again.inserted, again.updated, again.unchanged) == (0, 10, 0)
    after = table(pg_dsn)
    assert len(after) == 11  # the application's own row, and ours once each
    assert after["Character 3"]["quality_score"] == 60
    check_ids(before, after, variant)


@pytest.mark.parametrize("variant", ID_VARIANTS)
def test_push_supabase_upserts_by_natural_key_whatever_the_id(pg_dsn: str, variant: str) -> None:
    existing_table(pg_dsn, variant)
    fake = PostgrestOnPostgres(pg_dsn, KEY)
    client = httpx.Client(transport=fake.transport())
    report = supabase.push_rows(URL, Secret(KEY), store_rows(10), client=client, batch_size=4)
    assert (report.rows_sent, report.batches) == (10, 3)
    before = table(pg_dsn)
    supabase.push_rows(URL, Secret(KEY), store_rows(10, quality_score=60), client=client)
    after = table(pg_dsn)
    assert len(after) == 11
    assert {row["quality_score"] for name, row in after.items() if name != "Alfred Pennyworth"} == {
        60
    }
    check_ids(before, after, variant)


def test_the_fake_refuses_what_supabase_refused_before_ids_were_left_out(pg_dsn: str) -> None:
    """The bug this fixed: a uuid `id` sent to a bigint identity table fails the whole batch."""
    existing_table(pg_dsn, "bigint identity", app_row=False)
    fake = PostgrestOnPostgres(pg_dsn, KEY)
    body = store_rows(1)  # as push sent them: the store's uuid as `id`
    response = fake.handle(
        httpx.Request(
            "POST",
            f"{URL}/rest/v1/character_images?on_conflict=character_name,movie_title,source",
            headers={"apikey": KEY, "Prefer": "resolution=merge-duplicates"},
            json=body,
        )
    )
    assert response.status_code == 400 and response.json()["code"] == "22P02"
