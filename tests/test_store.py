"""The SQLite store on a real file: schema, uniqueness, upsert, migrations, WAL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import stamina
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from coverctl.errors import StoreError
from coverctl.store.db import SCHEMA_VERSION, TABLE, ImageRecord, SqliteStore, _enable_wal


def record(**changes: object) -> ImageRecord:
    base = dict(
        character_name="Bruce Wayne",
        movie_title="The Dark Knight",
        character_key="bruce wayne",
        title_key="the dark knight",
        image_url="https://image.tmdb.org/t/p/w500/a.jpg",
        source="tmdb",
        quality_score=50,
        external_character_id="3894",
        person_name="Christian Bale",
    )
    base.update(changes)
    return ImageRecord(**base)  # type: ignore[arg-type]


def test_new_store_has_current_schema_wal_and_indexes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.db")
    assert store.schema_version == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    indexes = {row[1] for row in store.db.execute(f"PRAGMA index_list({TABLE})")}
    assert f"idx_{TABLE}_unique" in indexes and f"idx_{TABLE}_quality" in indexes
    columns = set(store.db[TABLE].columns_dict)
    assert {
        "character_name",
        "movie_title",
        "image_url",
        "source",
        "external_character_id",
        "quality_score",
        "created_at",
        "updated_at",
        "person_name",
        "matched_character",
        "media_type",
        "year",
        "last_checked",
        "last_status",
        "image_hash",
    } <= columns


def test_upsert_keeps_one_row_per_character_title_source(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.db")
    first_id = store.upsert(record())
    created = store.get(first_id)["created_at"]  # type: ignore[index]
    second_id = store.upsert(
        record(image_url="https://image.tmdb.org/t/p/w500/b.jpg", quality_score=55)
    )
    assert first_id == second_id
    assert store.count() == 1
    row = store.get(first_id)
    assert row is not None
    assert row["image_url"].endswith("/b.jpg") and row["quality_score"] == 55
    assert row["created_at"] == created
    store.upsert(record(source="tvdb", quality_score=70))
    assert store.count() == 2
    assert [r["source"] for r in store.find("bruce wayne", "the dark knight")] == ["tvdb", "tmdb"]


def test_unique_key_is_enforced_by_sqlite(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.db")
    store.upsert(record())
    with pytest.raises(sqlite3.IntegrityError):
        store.db[TABLE].insert(
            {
                "id": "x",
                "character_key": "bruce wayne",
                "title_key": "the dark knight",
                "source": "tmdb",
                "character_name": "B",
                "movie_title": "T",
                "image_url": "u",
                "quality_score": 1,
            }
        )


def test_reopening_keeps_rows_and_does_not_rerun_migrations(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    SqliteStore(path).upsert(record())
    again = SqliteStore(path)
    assert again.count() == 1
    assert again.schema_version == SCHEMA_VERSION


def test_version_one_file_is_migrated_in_place(tmp_path: Path) -> None:
    from coverctl.store import db as dbmodule

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    import sqlite_utils

    old = sqlite_utils.Database(conn)
    dbmodule.MIGRATIONS[0](old)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        f"INSERT INTO {TABLE}(id, character_name, movie_title, character_key, title_key, "
        "image_url, source, quality_score) VALUES ('1','A','B','a','b','u','tmdb',50)"
    )
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.get("1")["last_status"] is None  # type: ignore[index]


def test_newer_schema_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="upgrade coverctl"):
        SqliteStore(path)


def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="Cannot open the store"):
        SqliteStore(path)


def _open_and_upsert(path: str, worker: int) -> int:
    store = SqliteStore(Path(path))
    for i in range(20):
        store.upsert(record(quality_score=worker * 100 + i))
    version = store.schema_version
    store.close()
    return version


def test_processes_opening_a_new_store_together_migrate_once_and_upsert_safely(
    tmp_path: Path,
) -> None:
    from concurrent.futures import ProcessPoolExecutor

    path = str(tmp_path / "shared.db")
    with ProcessPoolExecutor(max_workers=4) as pool:
        versions = list(pool.map(_open_and_upsert, [path] * 4, range(4)))
    assert versions == [SCHEMA_VERSION] * 4
    assert SqliteStore(Path(path)).count() == 1


def test_failed_migration_rolls_back_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from coverctl.store import db as dbmodule

    def broken(db: object) -> None:
        raise RuntimeError("power cut")

    path = tmp_path / "c.db"
    migrations = list(dbmodule.MIGRATIONS)
    monkeypatch.setattr(dbmodule, "MIGRATIONS", (*migrations[:-1], broken))
    with pytest.raises(RuntimeError):
        SqliteStore(path)
    monkeypatch.setattr(dbmodule, "MIGRATIONS", tuple(migrations))
    store = SqliteStore(path)  # the retry starts from a clean file, not half-migrated
    assert store.schema_version == SCHEMA_VERSION


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection holding the new store file while it sets it up."""
    conn = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    conn.execute("CREATE TABLE setup (x)")
    conn.execute("BEGIN EXCLUSIVE")
    yield conn
    conn.close()


def retried_switch(conn: sqlite3.Connection, on_retry: Callable[[RetryDetails], None]) -> None:
    """`_enable_wal` with stamina's test mode (no waits) and `on_retry` told of each retry."""
    before = get_on_retry_hooks()
    set_on_retry_hooks([on_retry])
    try:
        with stamina.set_testing(True, attempts=100, cap=True):
            _enable_wal(conn, attempts=5)
    finally:
        set_on_retry_hooks(before)


def test_the_wal_switch_is_tried_again_while_another_process_holds_the_file(
    tmp_path: Path, holder: sqlite3.Connection
) -> None:
    causes: list[BaseException | None] = []

    def release(details: RetryDetails) -> None:
        causes.append(details.caused_by)
        holder.execute("COMMIT")

    conn = sqlite3.connect(tmp_path / "c.db", timeout=0)
    retried_switch(conn, release)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert len(causes) == 1 and "locked" in str(causes[0])


def test_the_wal_switch_gives_up_after_its_attempts(
    tmp_path: Path, holder: sqlite3.Connection
) -> None:
    retries: list[int] = []
    conn = sqlite3.connect(tmp_path / "c.db", timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        retried_switch(conn, lambda details: retries.append(details.retry_num))
    assert retries == [1, 2, 3, 4]
