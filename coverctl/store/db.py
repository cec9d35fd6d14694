"""The embedded store: `character_images` in SQLite (through sqlite-utils), versioned and migrated.

The default engine (no server; one file under COVERCTL_HOME). It implements
`coverctl.store.interfaces.ImageStore`; `coverctl.store.open_store` picks it unless
COVERCTL_DATABASE_URL names a PostgreSQL server. WAL mode so a batch can commit rows while
`audit` reads. Each schema change is one function in `MIGRATIONS`; `PRAGMA user_version` records
how many ran, so older files upgrade in place.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from coverctl.constants import Source
from coverctl.errors import StoreError
from coverctl.retrying import retry_context
from coverctl.store.decisions import SqliteDecisionStore, migrate_decisions
from coverctl.store.jobs import SqliteJobStore
from coverctl.store.progress import SqliteProgressStore
from coverctl.store.records import (
    LOCAL_FILE_SQL,
    TABLE,
    UPSERT_KEY,
    AuditScanRow,
    ImageRecord,
    utc_now,
)

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLE",
    "AuditScanRow",
    "ImageRecord",
    "SqliteStore",
    "upsert_statement",
    "utc_now",
]


def _migration_1(db: sqlite_utils.Database) -> None:
    db[TABLE].create(  # type: ignore[union-attr]
        {
            "id": str,
            "character_name": str,
            "movie_title": str,
            "character_key": str,
            "title_key": str,
            "image_url": str,
            "source": str,
            "external_character_id": str,
            "quality_score": int,
            "person_name": str,
            "matched_character": str,
            "media_type": str,
            "year": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"character_name", "movie_title", "image_url", "source", "quality_score"},
    )
    db.execute(
        f"CREATE UNIQUE INDEX idx_{TABLE}_unique ON {TABLE}(character_key, title_key, source)"
    )
    db.execute(f"CREATE INDEX idx_{TABLE}_quality ON {TABLE}(quality_score DESC)")
    db.execute(f"CREATE INDEX idx_{TABLE}_updated ON {TABLE}(updated_at)")


def _migration_2(db: sqlite_utils.Database) -> None:
    table = db[TABLE]
    for column, kind in (
        ("image_hash", str),
        ("image_width", int),
        ("image_height", int),
        ("last_checked", str),
        ("last_status", str),
    ):
        table.add_column(column, kind)  # type: ignore[union-attr]


def _migration_maintenance_indexes(db: sqlite_utils.Database) -> None:
    """Indexes for `audit` (shared URLs and picture hashes) and `dead-links` (distinct URLs,
    rows due for a check). IF NOT EXISTS: safe whatever its position in the list."""
    for name, column in (
        ("image_url", "image_url"),
        ("image_hash", "image_hash"),
        ("last_checked", "last_checked"),
    ):
        db.execute(f"CREATE INDEX IF NOT EXISTS idx_{TABLE}_{name} ON {TABLE}({column})")


def _migration_batch_progress(db: sqlite_utils.Database) -> None:
    """Batch progress (coverctl/store/progress.py): one row per run, one per finished input row.

    IF NOT EXISTS throughout: safe whatever its position in the list.
    """
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS batch_runs (
            run_id TEXT PRIMARY KEY,
            input_path TEXT NOT NULL,
            input_size INTEGER NOT NULL,
            input_mtime_ns INTEGER NOT NULL,
            input_head_sha256 TEXT NOT NULL,
            out_path TEXT NOT NULL,
            out_format TEXT NOT NULL,
            options_json TEXT NOT NULL,
            status TEXT NOT NULL,
            summary_json TEXT,
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            finished_at TEXT
        )
        """
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_batch_runs_input ON batch_runs(input_path, out_path)"
    )
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS batch_rows (
            run_id TEXT NOT NULL,
            row INTEGER NOT NULL,
            results_json TEXT NOT NULL,
            PRIMARY KEY (run_id, row)
        ) WITHOUT ROWID
        """
    )


def _migration_service_jobs(db: sqlite_utils.Database) -> None:
    """Billed jobs of the image services (coverctl/store/jobs.py): an interrupted `animate`
    finds its running generation here and polls it again instead of paying for another.

    IF NOT EXISTS throughout: safe whatever its position in the list."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS service_jobs (
            job_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            request_key TEXT NOT NULL,
            character_name TEXT NOT NULL,
            movie_title TEXT NOT NULL,
            picture_url TEXT NOT NULL,
            options_json TEXT NOT NULL,
            state TEXT NOT NULL,
            failure_reason TEXT,
            result_url TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (provider, job_id)
        )
        """
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS idx_service_jobs_request "
        "ON service_jobs(provider, request_key, created_at)"
    )


MIGRATIONS: Sequence[Callable[[sqlite_utils.Database], None]] = (
    _migration_1,
    _migration_2,
    _migration_maintenance_indexes,
    _migration_batch_progress,
    _migration_service_jobs,
    migrate_decisions,
)
SCHEMA_VERSION = len(MIGRATIONS)


WAL_SWITCH_WAIT = 0.05  # seconds between tries while another process switches the same file


def _enable_wal(conn: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch to WAL. SQLite answers "database is locked" at once, without its busy handler,
    when another process is switching the same new file at that moment: try again briefly."""
    for attempt in retry_context(
        on=_locked,
        attempts=attempts,
        timeout=None,
        wait_initial=WAL_SWITCH_WAIT,
        wait_max=WAL_SWITCH_WAIT,
        wait_jitter=0,
    ):
        with attempt:
            conn.execute("PRAGMA journal_mode=WAL")


def _locked(exc: Exception) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def upsert_statement(record: ImageRecord) -> tuple[str, list[Any]]:
    """The one statement that inserts or updates the row for (character, title, source)."""
    now = utc_now()
    values = dict(record.__dict__)
    columns = [*values, "id", "created_at", "updated_at"]
    updates = [f"{c} = excluded.{c}" for c in values if c not in UPSERT_KEY]
    # One statement, so two processes writing the same key cannot collide. SET expressions
    # see the old row: a new picture clears the old link check, which says nothing about it.
    sql = (
        f"INSERT INTO {TABLE} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT(character_key, title_key, source) DO UPDATE SET "
        f"{', '.join(updates)}, updated_at = excluded.updated_at, "
        "last_checked = CASE WHEN image_url = excluded.image_url "
        "THEN last_checked ELSE NULL END, "
        "last_status = CASE WHEN image_url = excluded.image_url "
        "THEN last_status ELSE NULL END "
        "RETURNING id"
    )
    return sql, [*values.values(), str(uuid.uuid4()), now, now]


class SqliteStore:
    """The SQLite store. One instance per process; safe to share across asyncio tasks."""

    shared = False  # one file on one host: other hosts never see it

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self.db = sqlite_utils.Database(conn)
            self._migrate()
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(
                f"Cannot open the store {path}: {exc}. Check COVERCTL_HOME points to a writable "
                "directory, or move the damaged file away to start afresh."
            ) from None

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The store {self.path} has schema version {version}, newer than this coverctl "
                f"understands ({SCHEMA_VERSION}); upgrade coverctl."
            )

    def _migrate(self) -> None:
        """Bring the file to SCHEMA_VERSION in one write transaction.

        BEGIN IMMEDIATE takes the write lock first (waiting out the busy timeout), and the version
        is read again under it: processes opening a new store together migrate it once, and an
        interrupted upgrade rolls back whole, never leaving half-added columns behind.
        """
        self._check_version(self.schema_version)
        if self.schema_version == SCHEMA_VERSION:
            return
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = self.schema_version
            self._check_version(version)
            for number in range(version, SCHEMA_VERSION):
                MIGRATIONS[number](self.db)
                conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def close(self) -> None:
        self.db.conn.close()

    def upsert(self, record: ImageRecord) -> str:
        """Insert or update the row for (character, title, source); return its id."""
        sql, params = upsert_statement(record)
        with self.db.conn:
            row = self.db.conn.execute(sql, params).fetchone()
        return str(row[0])

    @property
    def decisions(self) -> SqliteDecisionStore:
        """Curators' pins and rejections (coverctl/store/decisions.py), on this connection."""
        return SqliteDecisionStore(self.db)

    @property
    def progress(self) -> SqliteProgressStore:
        """Batch progress (coverctl/store/progress.py), on this connection; its run locks are
        files beside the database (COVERCTL_HOME/locks)."""
        return SqliteProgressStore(self.db.conn, self.path.parent)

    @property
    def jobs(self) -> SqliteJobStore:
        """Billed service jobs (coverctl/store/jobs.py), on this connection."""
        return SqliteJobStore(self.db.conn)

    def pinned_row_ids(self, row_ids: Sequence[str]) -> set[str]:
        """Which of `row_ids` are pinned rows (maintenance commands never delete those)."""
        found: set[str] = set()
        ids = list(row_ids)
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            sql = f"SELECT id FROM {TABLE} WHERE source = ? AND id IN "
            sql += f"({','.join('?' * len(chunk))})"
            found.update(str(row[0]) for row in self.db.execute(sql, [Source.PINNED, *chunk]))
        return found

    def find(
        self, character_key: str, title_key: str, sources: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Rows for one character and title, best quality first."""
        sql = f"SELECT * FROM {TABLE} WHERE character_key=? AND title_key=?"
        params: list[Any] = [character_key, title_key]
        if sources:
            sql += f" AND source IN ({','.join('?' * len(sources))})"
            params.extend(sources)
        sql += " ORDER BY quality_score DESC, updated_at DESC"
        return list(self.db.query(sql, params))

    def get(self, row_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query(f"SELECT * FROM {TABLE} WHERE id=?", [row_id]))
        return rows[0] if rows else None

    def _iter_rows(
        self, where: str | None = None, params: Sequence[Any] = ()
    ) -> Iterator[dict[str, Any]]:
        sql = f"SELECT * FROM {TABLE}"
        if where:
            sql += f" WHERE {where}"
        sql += " ORDER BY updated_at"
        yield from self.db.query(sql, list(params))

    def recent(self, since: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Rows changed at or after `since` (an ISO-8601 instant; None: any time), the most
        recently changed first, at most `limit`."""
        sql = f"SELECT * FROM {TABLE}"
        params: list[Any] = []
        if since is not None:
            # julianday() compares instants, whatever offset or precision a timestamp has.
            sql += " WHERE julianday(updated_at) >= julianday(?)"
            params.append(since)
        sql += " ORDER BY updated_at DESC, quality_score DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return list(self.db.query(sql, params))

    def count(self) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0])

    def update_fields(self, row_id: str, fields: dict[str, Any]) -> None:
        with self.db.conn:
            self.db[TABLE].update(row_id, fields)  # type: ignore[union-attr]

    def delete(self, row_id: str) -> None:
        with self.db.conn:
            self.db.execute(f"DELETE FROM {TABLE} WHERE id=?", [row_id])

    # --- what maintenance needs (audit, dead-links, push) -----------------------------------------
    # Named queries, so no SQL lives outside the store and another engine implements the same names.

    def rows_by_id(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The rows with these ids (those still present), by id."""
        rows: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = list(ids[start : start + _ID_CHUNK])
            sql = f"SELECT * FROM {TABLE} WHERE id IN ({','.join('?' * len(chunk))})"
            rows.update((row["id"], row) for row in self.db.query(sql, chunk))
        return rows

    def audit_scan(self, source: str | None = None) -> Iterator[AuditScanRow]:
        """Every row's (id, source, quality, url, last_checked, last_status), oldest change first,
        optionally of one source only: among equally serious rows the one updated longest ago is
        listed (and so fixed) first, so an `audit --fix-limit` works through the store over nights.
        """
        sql = f"SELECT id, source, quality_score, image_url, last_checked, last_status FROM {TABLE}"
        params: list[Any] = []
        if source:
            sql += " WHERE source = ?"
            params.append(source)
        sql += " ORDER BY updated_at"
        for row in self.db.execute(sql, params):
            yield AuditScanRow(*row)

    def shared_picture_groups(self, column: str) -> Iterator[list[tuple[str, str]]]:
        """Groups of rows sharing one `image_url` or `image_hash` across different characters, as
        [(row id, "Character (Title)"), ...]; groups where every row names the same (non-empty)
        person are left out (one actor's photo for two of their roles is not a duplicate).

        Shared values are found first (an index scan), then the few groups they form: one
        GROUP BY on 100k rows.
        """
        if column not in ("image_url", "image_hash"):
            raise ValueError(f"not a picture column: {column}")
        person = "lower(trim(coalesce(person_name, '')))"
        sql = (
            f"SELECT group_concat(id || char(30) || character_name || ' (' || movie_title || ')',"
            f" char(31)) FROM {TABLE} WHERE {column} IN (SELECT {column} FROM {TABLE} "
            f"WHERE {column} IS NOT NULL AND {column} != '' GROUP BY {column} "
            "HAVING count(*) > 1) "
            f"GROUP BY {column} HAVING count(DISTINCT character_key) > 1 "
            f"AND NOT (count(DISTINCT {person}) = 1 AND min({person}) != '')"
        )
        for (packed,) in self.db.execute(sql):
            members = [member.split(_FIELD, 1) for member in packed.split(_SEP)]
            yield [(row_id, label) for row_id, label in members]

    def link_check_counts(self, *, local: bool, checked_before: str | None) -> tuple[int, int]:
        """(distinct URLs, rows) due a link check: local files or remote URLs, and with
        `checked_before` (an ISO instant) only those never checked or checked before it."""
        where, params = _link_filter(local=local, checked_before=checked_before)
        sql = f"SELECT count(DISTINCT image_url), count(*) FROM {TABLE} WHERE {where}"
        urls, rows = self.db.execute(sql, params).fetchone()
        return int(urls), int(rows)

    def link_groups(
        self, *, local: bool, checked_before: str | None
    ) -> Iterator[tuple[str, tuple[str, ...]]]:
        """(url, ids of the rows using it) per distinct URL due a check (see link_check_counts),
        ordered by the smallest id: ids are random (uuid4), so hosts come interleaved and a
        per-host limit rarely holds a run back.

        SQLite sorts the groups before the first is returned, so writing check results to the
        same rows while this is being read is safe; one group is held in memory at a time.
        """
        where, params = _link_filter(local=local, checked_before=checked_before)
        sql = (
            f"SELECT image_url, group_concat(id, char(31)) FROM {TABLE} WHERE {where} "
            "GROUP BY image_url ORDER BY min(id)"
        )
        for url, ids in self.db.execute(sql, params):
            yield str(url), tuple(str(ids).split(_SEP))

    def mark_checked(self, results: Sequence[tuple[str, str, str]]) -> None:
        """Record link-check results, (checked_at, status, row id) each, in one transaction."""
        if not results:
            return
        with self.db.conn:
            self.db.conn.executemany(
                f"UPDATE {TABLE} SET last_checked = ?, last_status = ? WHERE id = ?", results
            )

    def delete_if_url(self, doomed: Sequence[tuple[str, str]]) -> dict[str, int]:
        """Delete each (row id, url) row only if it still has that URL (a row re-resolved to a new
        picture since it was checked is kept), in one transaction; rows deleted per URL. A pinned
        row (a curator's choice) is never deleted here."""
        deleted: dict[str, int] = {}
        with self.db.conn:
            for row_id, url in doomed:
                cursor = self.db.conn.execute(
                    f"DELETE FROM {TABLE} WHERE id = ? AND image_url = ? AND source != ?",
                    (row_id, url, Source.PINNED),
                )
                deleted[url] = deleted.get(url, 0) + cursor.rowcount
        return deleted

    def rows_changed_since(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every row, or those updated at or after `since`, oldest change first."""
        if since is None:
            yield from self._iter_rows()
            return
        # julianday() compares instants, whatever offset or precision a timestamp was written with.
        yield from self._iter_rows(
            "julianday(updated_at) >= julianday(?)",
            [since.astimezone(UTC).isoformat(timespec="microseconds")],
        )


_ID_CHUNK = 500  # ids per `IN (...)`: well under SQLite's bound-parameter limit
_SEP = "\x1f"  # unit separator: never in a name or an id
_FIELD = "\x1e"


def _link_filter(*, local: bool, checked_before: str | None) -> tuple[str, list[Any]]:
    kind = LOCAL_FILE_SQL if local else f"NOT ({LOCAL_FILE_SQL})"
    if checked_before is None:
        return kind, []
    return f"(last_checked IS NULL OR last_checked < ?) AND {kind}", [checked_before]
