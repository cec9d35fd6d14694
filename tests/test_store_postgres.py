"""What only the PostgreSQL store has to get right, against a real server (tests/services.py):
migrations run once by workers starting together, tables whose `id` is a uuid, a bigint
identity or absent, rows other programs wrote, and a server that is gone or goes away."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from coverctl.errors import StoreError, StoreUnavailable
from coverctl.store import pgschema
from coverctl.store.postgres import PostgresStore
from coverctl.store.records import PINNED, REJECTED, Decision, ImageRecord
from tests.pg_tables import ID_VARIANTS, existing_table
from tests.services import PostgresService, free_port

pytestmark = pytest.mark.postgres


def record(name: str, **changes: object) -> ImageRecord:
    base: dict[str, object] = dict(
        character_name=name,
        movie_title="The Dark Knight",
        character_key=name.lower(),
        title_key="the dark knight",
        image_url=f"https://img.example/{name.replace(' ', '_')}.jpg",
        source="tmdb",
        quality_score=50,
    )
    base.update(changes)
    return ImageRecord(**base)  # type: ignore[arg-type]


@pytest.fixture
def opened(pg_dsn: str) -> Iterator[PostgresStore]:
    store = PostgresStore.open(pg_dsn)
    yield store
    store.close()


def _open_and_write(dsn: str, worker: int, barrier: Any, results: Any) -> None:
    barrier.wait()  # every worker opens the new database at the same moment
    try:
        store = PostgresStore.open(dsn)
        for i in range(10):
            store.upsert(record("Bruce Wayne", quality_score=worker * 100 + i))
        results.put((worker, store.schema_version))
        store.close()
    except BaseException as exc:  # reported, so the test names the failure
        results.put((worker, repr(exc)))


def test_workers_opening_a_new_database_together_migrate_it_once(pg_dsn: str) -> None:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    results = context.Queue()
    workers = [
        context.Process(target=_open_and_write, args=(pg_dsn, n, barrier, results))
        for n in range(4)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
    outcomes = dict(results.get(timeout=5) for _ in workers)
    assert outcomes == {n: pgschema.SCHEMA_VERSION for n in range(4)}
    with psycopg.connect(pg_dsn) as conn:
        versions = conn.execute("SELECT version FROM coverctl_schema ORDER BY version").fetchall()
        rows = conn.execute("SELECT count(*) FROM character_images").fetchone()
    # One row per migration: a second run of any of them would have hit the primary key.
    assert [v for (v,) in versions] == list(range(1, pgschema.SCHEMA_VERSION + 1))
    assert rows == (1,)


def test_a_failed_migration_rolls_back_whole_and_the_next_open_starts_clean(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conn: Any) -> None:
        conn.execute("CREATE TABLE half_done (x int)")
        raise psycopg.errors.RaiseException("power cut")

    migrations = list(pgschema.MIGRATIONS)
    monkeypatch.setattr(pgschema, "MIGRATIONS", (*migrations[:-1], broken))
    with pytest.raises(StoreError, match="Cannot prepare the store"):
        PostgresStore.open(pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        leftovers = conn.execute(
            "SELECT to_regclass('half_done'), to_regclass('coverctl_schema'), "
            "to_regclass('character_images')"
        ).fetchone()
    assert leftovers == (None, None, None)
    monkeypatch.setattr(pgschema, "MIGRATIONS", tuple(migrations))
    store = PostgresStore.open(pg_dsn)
    assert store.schema_version == pgschema.SCHEMA_VERSION
    store.close()


def test_a_database_migrated_by_a_newer_coverctl_is_refused(pg_dsn: str) -> None:
    PostgresStore.open(pg_dsn).close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO coverctl_schema (version) VALUES (%s)", [99])
    with pytest.raises(StoreError, match="newer than this coverctl understands"):
        PostgresStore.open(pg_dsn)


def test_the_sql_file_table_gets_coverctls_columns_and_keeps_its_own(pg_dsn: str) -> None:
    PostgresStore.open(pg_dsn).close()
    with psycopg.connect(pg_dsn) as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'character_images'"
            ).fetchall()
        )
        indexes = " ".join(
            d
            for (d,) in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'character_images'"
            ).fetchall()
        )
    assert types["id"] == "uuid" and types["created_at"] == "timestamp with time zone"
    assert {"character_key", "title_key", "image_hash", "last_checked", "last_status"} <= set(types)
    assert "UNIQUE INDEX character_images_character_movie_source_key" in indexes
    assert "(character_key, title_key, source)" in indexes


@pytest.mark.parametrize("variant", ID_VARIANTS)
def test_the_store_works_whatever_the_tables_id(pg_dsn: str, variant: str) -> None:
    existing_table(pg_dsn, variant)
    store = PostgresStore.open(pg_dsn)
    try:
        # The application's row got coverctl's keys when the store opened: found, and adopted
        # (not duplicated) by an upsert of the same character, title and source.
        found = store.find("alfred pennyworth", "the dark knight")
        assert [r["image_url"] for r in found] == ["https://img.example/app-alfred.jpg"]
        alfred = store.upsert(record("Alfred Pennyworth", quality_score=60))
        assert alfred == found[0]["id"] and store.count() == 1

        bruce = store.upsert(record("Bruce Wayne"))
        assert store.upsert(record("Bruce Wayne", quality_score=55)) == bruce
        joker = store.upsert(record("Joker", image_url="https://img.example/Bruce_Wayne.jpg"))
        pinned = store.upsert(record("Gordon", source=PINNED, quality_score=100))
        assert store.count() == 4
        assert store.get(bruce)["quality_score"] == 55  # type: ignore[index]
        assert set(store.rows_by_id([bruce, joker, "12345", str(uuid.uuid4())])) == {bruce, joker}
        assert store.pinned_row_ids([bruce, pinned]) == {pinned}
        assert {r.id for r in store.audit_scan()} == {alfred, bruce, joker, pinned}
        groups = list(store.shared_picture_groups("image_url"))
        assert [sorted(i for i, _ in g) for g in groups] == [sorted([bruce, joker])]

        url = "https://img.example/Bruce_Wayne.jpg"
        due = dict(store.link_groups(local=False, checked_before=None))
        assert sorted(due[url]) == sorted([bruce, joker])
        store.mark_checked([("2026-01-02T00:00:00+00:00", "dead", i) for i in due[url]])
        assert store.get(joker)["last_status"] == "dead"  # type: ignore[index]
        assert store.delete_if_url([(bruce, url)]) == {url: 1}

        store.decisions.reject(
            Decision(
                kind=REJECTED,
                character_name="Joker",
                movie_title="The Dark Knight",
                character_key="joker",
                title_key="the dark knight",
                image_url=url,
            ),
            [joker, pinned],
        )
        assert store.get(joker) is None and store.get(pinned) is not None
        store.delete(pinned)
        assert {r["id"] for r in store.rows_changed_since()} == {alfred}
    finally:
        store.close()
    with psycopg.connect(pg_dsn) as conn:
        names = conn.execute("SELECT character_name FROM character_images").fetchall()
    assert names == [("Alfred Pennyworth",)]


def test_the_server_down_at_start_is_unavailable_naming_the_variable_not_the_password(
    postgres: PostgresService,
) -> None:
    dsn = f"postgresql://coverctl:s3cret-pass@127.0.0.1:{free_port()}/store"
    with pytest.raises(StoreUnavailable) as caught:
        PostgresStore.open(dsn)
    message = caught.value.message
    assert "COVERCTL_DATABASE_URL" in message and "127.0.0.1" in message
    assert "s3cret-pass" not in message
    assert caught.value.exit_code == 4


def test_a_missing_database_is_a_store_error(postgres: PostgresService) -> None:
    with pytest.raises(StoreError, match="does not exist") as caught:
        PostgresStore.open(postgres.dsn_for("no_such_database"))
    assert "COVERCTL_DATABASE_URL" in caught.value.message


def test_connections_the_server_drops_are_replaced_without_the_caller_noticing(
    opened: PostgresStore, pg_dsn: str
) -> None:
    first = opened.upsert(record("Bruce Wayne"))
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'coverctl' AND pid != pg_backend_pid()"
        ).fetchone()
    assert ended is not None and ended[0] >= 1
    assert opened.upsert(record("Bruce Wayne", quality_score=60)) == first
    assert opened.get(first)["quality_score"] == 60  # type: ignore[index]
