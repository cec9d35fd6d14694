"""The shared store: `character_images` (and everything kept beside it) in PostgreSQL.

Chosen by COVERCTL_DATABASE_URL (`coverctl.store.open_store`). Every worker on every host that
points at the same database shares one store: the pictures, batch progress (so another host can
resume a batch), link-check results, curators' decisions and service jobs. It implements
`coverctl.store.interfaces.ImageStore` and behaves as the SQLite store does (the same tests run
against both); the differences are only where the engines differ:

- The table is the one sql/character_images.sql makes, so a Supabase project can be the store
  itself. Its `id` may be a uuid, a bigint identity or absent: the store never writes it. Rows are
  named by `id` as text when there is one, else by their natural key (character name, title,
  source; `RowIds`). The store's upserts conflict on its own unique key (normalised character and
  title, source), as SQLite's do, and fall back to the SQL file's key (character name, title,
  source) for a row another writer added without coverctl's keys, which they then adopt.
- Timestamps of `character_images` are TIMESTAMPTZ (the SQL file's); rows come back with them
  as ISO 8601 text in UTC, as SQLite's do.
- Iterating methods read through a server-side cursor (one snapshot, fetched in chunks), so
  writing to the rows being read (dead-links marks them) is safe, as it is with SQLite.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from coverctl.constants import Source
from coverctl.errors import StoreError
from coverctl.store import DATABASE_URL_VAR
from coverctl.store.pgconn import PgDatabase, connection_lost, reason
from coverctl.store.pgschema import KEYS_INDEX, id_type, migrate
from coverctl.store.records import (
    LOCAL_FILE_SQL,
    TABLE,
    UPSERT_KEY,
    AuditScanRow,
    ImageRecord,
)

if TYPE_CHECKING:
    from coverctl.store.pgtables import PgDecisionStore, PgJobStore, PgProgressStore

__all__ = ["PostgresStore", "RowIds"]

NATURAL_KEY: Final = ("character_name", "movie_title", "source")
# The columns a row dict carries (as SQLite's rows do, in the same order), `id` first.
ROW_COLUMNS: Final = (
    "character_name",
    "movie_title",
    "character_key",
    "title_key",
    "image_url",
    "source",
    "external_character_id",
    "quality_score",
    "person_name",
    "matched_character",
    "media_type",
    "year",
    "created_at",
    "updated_at",
    "image_hash",
    "image_width",
    "image_height",
    "last_checked",
    "last_status",
)
_TIMESTAMPS: Final = frozenset({"created_at", "updated_at", "last_checked"})
_INTEGER_TYPES: Final = frozenset({"bigint", "integer", "smallint"})
_ID_CHUNK: Final = 1000  # ids per array parameter
_UNKEYED_PER_OPEN: Final = 5000  # rows without coverctl's keys given them when the store opens


class RowIds:
    """How a row is named: the table's own `id` as text, or, in a table without one, its natural
    key (character name, title, source) packed into one opaque text."""

    PREFIX: Final = "key:"

    def __init__(self, sql_type: str | None) -> None:
        self.sql_type = sql_type

    @property
    def columns(self) -> tuple[str, ...]:
        """The SQL expressions a row's id is made of (`of` takes their values)."""
        return ("id::text",) if self.sql_type else NATURAL_KEY

    @property
    def select(self) -> str:
        return ", ".join(self.columns)

    def of(self, values: Sequence[Any]) -> str:
        if self.sql_type:
            return str(values[0])
        packed = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
        return self.PREFIX + base64.urlsafe_b64encode(packed.encode("utf-8")).decode("ascii")

    def _natural(self, row_id: str) -> tuple[str, str, str] | None:
        if not row_id.startswith(self.PREFIX):
            return None
        try:
            values = json.loads(base64.urlsafe_b64decode(row_id[len(self.PREFIX) :]))
        except ValueError:
            return None
        if not (isinstance(values, list) and len(values) == 3):
            return None
        if not all(isinstance(v, str) for v in values):
            return None
        return values[0], values[1], values[2]

    def _valid(self, row_id: str) -> bool:
        """Whether `row_id` could be an id of this table (a uuid text for a uuid column...):
        another kind is no row here, never an error from the server."""
        if self.sql_type in _INTEGER_TYPES:
            return row_id.lstrip("-").isdigit() and len(row_id) < 20
        if self.sql_type == "uuid":
            try:
                uuid.UUID(row_id)
            except ValueError:
                return False
        return True

    def match_one(self, row_id: str) -> tuple[str, list[Any]] | None:
        """(WHERE fragment, params) naming the row `row_id`; None when it names none here."""
        if self.sql_type:
            return ("id = %s", [row_id]) if self._valid(row_id) else None
        key = self._natural(row_id)
        if key is None:
            return None
        return "character_name = %s AND movie_title = %s AND source = %s", list(key)

    def match_any(self, row_ids: Sequence[str]) -> tuple[str, list[Any]]:
        """(WHERE fragment, params) naming every row of `row_ids` (unknown ids match nothing)."""
        if self.sql_type:
            valid = [i for i in row_ids if self._valid(i)]
            return f"id = ANY(%s::{self.sql_type}[])", [valid]
        keys = [k for k in map(self._natural, row_ids) if k is not None]
        columns = [[k[i] for k in keys] for i in range(3)]
        return (
            "(character_name, movie_title, source) IN "
            "(SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]))",
            columns,
        )

    def aggregated(self) -> str:
        """`array_agg` of each id column (for GROUP BY queries); `unpack` reads them back."""
        return ", ".join(f"array_agg({column})" for column in self.columns)

    def unpack(self, arrays: Sequence[Sequence[Any]]) -> list[str]:
        return [self.of(values) for values in zip(*arrays, strict=True)]


def _text(value: Any) -> Any:
    """A TIMESTAMPTZ as SQLite's rows have it (ISO 8601, UTC); anything else as it is."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class PostgresStore:
    """The PostgreSQL store (see module docstring). Open with `PostgresStore.open(dsn)`."""

    shared = True

    def __init__(self, db: PgDatabase, ids: RowIds, version: int) -> None:
        self.db = db
        self.ids = ids
        self._version = version
        self._select = ", ".join([*(["id::text AS id"] if ids.sql_type else []), *ROW_COLUMNS])

    @classmethod
    def open(cls, dsn: str) -> PostgresStore:
        """Connect, migrate (once, whoever else starts at the same time) and open the pool.

        StoreError naming COVERCTL_DATABASE_URL when the server cannot be reached (exit 4),
        refuses the login, or the schema is newer than this coverctl.
        """
        db = PgDatabase(dsn, variable=DATABASE_URL_VAR)
        conn = db.connect()
        try:
            version = migrate(conn, db.where)
            kind = id_type(conn)
            ids = RowIds(kind)
            _key_unkeyed_rows(conn)
        except db.pg.Error as exc:
            if connection_lost(db.pg, exc):
                raise db.lost("prepare the store", reason(exc, db.secrets)) from None
            raise StoreError(
                f"Cannot prepare the store in {db.where} ({DATABASE_URL_VAR}): "
                f"{reason(exc, db.secrets)}."
            ) from None
        finally:
            conn.close()
        db.open_pool()
        return cls(db, ids, version)

    # --- what it is ------------------------------------------------------------------------------

    @property
    def location(self) -> str:
        return self.db.where

    @property
    def schema_version(self) -> int:
        return self._version

    @property
    def decisions(self) -> PgDecisionStore:
        from coverctl.store.pgtables import PgDecisionStore

        return PgDecisionStore(self)

    @property
    def progress(self) -> PgProgressStore:
        from coverctl.store.pgtables import PgProgressStore

        return PgProgressStore(self.db)

    @property
    def jobs(self) -> PgJobStore:
        from coverctl.store.pgtables import PgJobStore

        return PgJobStore(self.db)

    def close(self) -> None:
        self.db.close()

    # --- rows ------------------------------------------------------------------------------------

    def _row(self, row: dict[str, Any]) -> dict[str, Any]:
        natural = [row[column] for column in NATURAL_KEY]
        out = {"id": row["id"] if self.ids.sql_type else self.ids.of(natural)}
        for column in ROW_COLUMNS:
            out[column] = _text(row[column]) if column in _TIMESTAMPS else row[column]
        return out

    def _query(self, sql: str, params: Sequence[Any], *, doing: str) -> list[dict[str, Any]]:
        pg = self.db.pg

        def work(conn: Any) -> list[dict[str, Any]]:
            with conn.cursor(row_factory=pg.rows.dict_row) as cursor:
                cursor.execute(sql.encode(), list(params))
                return [self._row(row) for row in cursor.fetchall()]

        return self.db.run(work, doing=doing, transaction=False)

    def _stream(self, sql: str, params: Sequence[Any], *, doing: str) -> Iterator[Any]:
        yield from self.db.stream(sql.encode(), params, doing=doing)

    def upsert(self, record: ImageRecord) -> str:
        """Insert or update the row for (character, title, source); return its id.

        One statement, committed on its own: one round trip (see upsert_in for the fallback)."""
        return self.db.run(
            lambda conn: self._upsert(conn, record, savepoint=False),
            doing="save a picture",
            transaction=False,
        )

    def upsert_in(self, conn: Any, record: ImageRecord) -> str:
        """`upsert` inside the caller's transaction (a pin writes its row with its decision)."""
        return self._upsert(conn, record, savepoint=True)

    def _upsert(self, conn: Any, record: ImageRecord, *, savepoint: bool) -> str:
        pg = self.db.pg
        now = datetime.now(UTC).replace(microsecond=0)
        values = dict(record.__dict__)
        columns = [*values, "created_at", "updated_at"]
        # SET expressions see the old row (t): a new picture clears the old link check, which
        # says nothing about it.
        keep_check = (
            "last_checked = CASE WHEN t.image_url = EXCLUDED.image_url THEN t.last_checked END, "
            "last_status = CASE WHEN t.image_url = EXCLUDED.image_url THEN t.last_status END"
        )
        updates = [f"{c} = EXCLUDED.{c}" for c in values if c not in UPSERT_KEY]
        sql = (
            f"INSERT INTO {TABLE} AS t ({', '.join(columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))}) "
            "ON CONFLICT (character_key, title_key, source) DO UPDATE SET "
            f"{', '.join(updates)}, updated_at = EXCLUDED.updated_at, {keep_check} "
            f"RETURNING {self.ids.select}"
        )
        params = [*values.values(), now, now]
        try:
            if savepoint:  # inside a transaction: the fallback must find it still usable
                with conn.transaction():
                    row = conn.execute(sql.encode(), params).fetchone()
            else:
                row = conn.execute(sql.encode(), params).fetchone()
        except pg.errors.UniqueViolation as exc:
            if getattr(exc.diag, "constraint_name", None) == KEYS_INDEX:
                raise
            row = self._adopt(conn, values, now)
        return self.ids.of(row)

    def _adopt(self, conn: Any, values: dict[str, Any], now: datetime) -> Any:
        """The SQL file's key (name, title, source) is taken by a row without coverctl's keys
        (written by another program, or under older keys): update that row, keys included."""
        pg = self.db.pg
        assignments = ", ".join(f"{c} = %s" for c in values)
        sql = (
            f"UPDATE {TABLE} AS t SET {assignments}, updated_at = %s, "
            "last_checked = CASE WHEN t.image_url = %s THEN t.last_checked END, "
            "last_status = CASE WHEN t.image_url = %s THEN t.last_status END "
            "WHERE character_name = %s AND movie_title = %s AND source = %s "
            f"RETURNING {self.ids.select}"
        )
        url = values["image_url"]
        key = [values["character_name"], values["movie_title"], values["source"]]
        try:
            with conn.transaction():
                row = conn.execute(sql.encode(), [*values.values(), now, url, url, *key]).fetchone()
        except pg.errors.UniqueViolation:
            row = None
        if row is None:
            raise StoreError(
                f"Two rows of {self.db.where} claim {key[0]!r} in {key[1]!r} from {key[2]}: one "
                "by its name, another by coverctl's normalised keys. Delete one of them."
            )
        return row

    def find(
        self, character_key: str, title_key: str, sources: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Rows for one character and title, best quality first."""
        sql = f"SELECT {self._select} FROM {TABLE} WHERE character_key = %s AND title_key = %s"
        params: list[Any] = [character_key, title_key]
        if sources:
            sql += " AND source = ANY(%s::text[])"
            params.append(list(sources))
        sql += " ORDER BY quality_score DESC, updated_at DESC"
        return self._query(sql, params, doing="read the store")

    def get(self, row_id: str) -> dict[str, Any] | None:
        match = self.ids.match_one(row_id)
        if match is None:
            return None
        where, params = match
        rows = self._query(
            f"SELECT {self._select} FROM {TABLE} WHERE {where}", params, doing="read the store"
        )
        return rows[0] if rows else None

    def rows_by_id(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The rows with these ids (those still present), by id."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), _ID_CHUNK):
            where, params = self.ids.match_any(list(ids[start : start + _ID_CHUNK]))
            sql = f"SELECT {self._select} FROM {TABLE} WHERE {where}"
            found.update((row["id"], row) for row in self._query(sql, params, doing="read rows"))
        return found

    def pinned_row_ids(self, row_ids: Sequence[str]) -> set[str]:
        """Which of `row_ids` are pinned rows (maintenance commands never delete those)."""
        found: set[str] = set()
        for start in range(0, len(row_ids), _ID_CHUNK):
            where, params = self.ids.match_any(list(row_ids[start : start + _ID_CHUNK]))
            sql = f"SELECT {self.ids.select} FROM {TABLE} WHERE source = %s AND {where}"
            found.update(
                self.ids.of(row) for row in self._fetch(sql, [Source.PINNED, *params], "read rows")
            )
        return found

    def _fetch(self, sql: str, params: Sequence[Any], doing: str) -> list[Any]:
        return self.db.run(
            lambda conn: conn.execute(sql.encode(), list(params)).fetchall(),
            doing=doing,
            transaction=False,
        )

    def recent(self, since: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Rows changed at or after `since` (an ISO-8601 instant; None: any time), the most
        recently changed first, at most `limit`."""
        sql = f"SELECT {self._select} FROM {TABLE}"
        params: list[Any] = []
        if since is not None:
            sql += " WHERE updated_at >= %s::timestamptz"
            params.append(since)
        sql += " ORDER BY updated_at DESC, quality_score DESC"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        return self._query(sql, params, doing="read the store")

    def count(self) -> int:
        row = self.db.run(
            lambda conn: conn.execute(f"SELECT count(*) FROM {TABLE}".encode()).fetchone(),
            doing="count the rows",
            transaction=False,
        )
        return int(row[0])

    def update_fields(self, row_id: str, fields: dict[str, Any]) -> None:
        unknown = set(fields) - set(ROW_COLUMNS)
        if unknown:
            raise ValueError(f"not columns of {TABLE}: {', '.join(sorted(unknown))}")
        match = self.ids.match_one(row_id)
        if match is None or not fields:
            return
        where, params = match
        assignments = ", ".join(f"{name} = %s" for name in fields)
        sql = f"UPDATE {TABLE} SET {assignments} WHERE {where}"
        self.db.run(
            lambda conn: conn.execute(sql.encode(), [*fields.values(), *params]),
            doing="update a row",
            transaction=False,
        )

    def delete(self, row_id: str) -> None:
        match = self.ids.match_one(row_id)
        if match is None:
            return
        where, params = match
        self.db.run(
            lambda conn: conn.execute(f"DELETE FROM {TABLE} WHERE {where}".encode(), params),
            doing="delete a row",
            transaction=False,
        )

    # --- what maintenance needs (audit, dead-links, push) -----------------------------------------

    def audit_scan(self, source: str | None = None) -> Iterator[AuditScanRow]:
        """Every row's (id, source, quality, url, last_checked, last_status), oldest change first
        (see SqliteStore.audit_scan), optionally of one source only."""
        sql = (
            f"SELECT {self.ids.select}, source, quality_score, image_url, last_checked, "
            f"last_status FROM {TABLE}"
        )
        params: list[Any] = []
        if source:
            sql += " WHERE source = %s"
            params.append(source)
        sql += " ORDER BY updated_at"
        width = len(self.ids.columns)
        for row in self._stream(sql, params, doing="read the store"):
            source_, quality, url, checked, status = row[width:]
            yield AuditScanRow(
                self.ids.of(row[:width]), source_, quality, url, _text(checked), status
            )

    def shared_picture_groups(self, column: str) -> Iterator[list[tuple[str, str]]]:
        """Groups of rows sharing one `image_url` or `image_hash` across different characters
        (see SqliteStore.shared_picture_groups), as [(row id, "Character (Title)"), ...]."""
        if column not in ("image_url", "image_hash"):
            raise ValueError(f"not a picture column: {column}")
        person = "lower(trim(coalesce(person_name, '')))"
        sql = (
            f"SELECT {self.ids.aggregated()}, "
            f"array_agg(character_name || ' (' || movie_title || ')') FROM {TABLE} "
            f"WHERE {column} IN (SELECT {column} FROM {TABLE} WHERE {column} IS NOT NULL "
            f"AND {column} != '' GROUP BY {column} HAVING count(*) > 1) "
            f"GROUP BY {column} HAVING count(DISTINCT character_key) > 1 "
            f"AND NOT (count(DISTINCT {person}) = 1 AND min({person}) != '')"
        )
        width = len(self.ids.columns)
        for row in self._stream(sql, [], doing="read the store"):
            yield list(zip(self.ids.unpack(row[:width]), row[width], strict=True))

    def link_check_counts(self, *, local: bool, checked_before: str | None) -> tuple[int, int]:
        """(distinct URLs, rows) due a link check (see SqliteStore.link_check_counts)."""
        where, params = _link_filter(local=local, checked_before=checked_before)
        sql = f"SELECT count(DISTINCT image_url), count(*) FROM {TABLE} WHERE {where}"
        urls, rows = self.db.run(
            lambda conn: conn.execute(sql.encode(), params).fetchone(),
            doing="read the store",
            transaction=False,
        )
        return int(urls), int(rows)

    def link_groups(
        self, *, local: bool, checked_before: str | None
    ) -> Iterator[tuple[str, tuple[str, ...]]]:
        """(url, ids of the rows using it) per distinct URL due a check, in the order of a hash
        of the URL: hosts come interleaved (whatever the id type), so a per-host limit rarely
        holds a run back. One snapshot, read in chunks: marking rows meanwhile is safe."""
        where, params = _link_filter(local=local, checked_before=checked_before)
        sql = (
            f"SELECT image_url, {self.ids.aggregated()} FROM {TABLE} WHERE {where} "
            "GROUP BY image_url ORDER BY md5(image_url)"
        )
        for row in self._stream(sql, params, doing="read the store"):
            yield str(row[0]), tuple(self.ids.unpack(row[1:]))

    def mark_checked(self, results: Sequence[tuple[str, str, str]]) -> None:
        """Record link-check results, (checked_at, status, row id) each, in one transaction."""
        batches: dict[str, list[list[Any]]] = {}
        for checked_at, status, row_id in results:
            match = self.ids.match_one(row_id)
            if match is not None:
                where, params = match
                batches.setdefault(where, []).append([_moment(checked_at), status, *params])
        if not batches:
            return

        def work(conn: Any) -> None:
            with conn.cursor() as cursor:
                for where, rows in batches.items():
                    sql = f"UPDATE {TABLE} SET last_checked = %s, last_status = %s WHERE {where}"
                    cursor.executemany(sql.encode(), rows)

        self.db.run(work, doing="record the link checks")

    def delete_if_url(self, doomed: Sequence[tuple[str, str]]) -> dict[str, int]:
        """Delete each (row id, url) row only if it still has that URL, in one transaction
        (see SqliteStore.delete_if_url); rows deleted per URL. Pinned rows are never deleted."""

        def work(conn: Any) -> dict[str, int]:
            deleted: dict[str, int] = {}
            for row_id, url in doomed:
                match = self.ids.match_one(row_id)
                count = 0
                if match is not None:
                    where, params = match
                    cursor = conn.execute(
                        f"DELETE FROM {TABLE} WHERE {where} AND image_url = %s "
                        "AND source != %s".encode(),
                        [*params, url, Source.PINNED],
                    )
                    count = cursor.rowcount
                deleted[url] = deleted.get(url, 0) + count
            return deleted

        return self.db.run(work, doing="delete dead rows")

    def rows_changed_since(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every row, or those updated at or after `since`, oldest change first."""
        sql = f"SELECT {self._select} FROM {TABLE}"
        params: list[Any] = []
        if since is not None:
            sql += " WHERE updated_at >= %s"
            params.append(since.astimezone(UTC))
        sql += " ORDER BY updated_at"
        names = [*(["id"] if self.ids.sql_type else []), *ROW_COLUMNS]
        for row in self._stream(sql, params, doing="read the store"):
            yield self._row(dict(zip(names, row, strict=True)))


# psycopg reads % as a placeholder: the LIKE patterns' % doubled.
_LOCAL_FILE_PG: Final = LOCAL_FILE_SQL.replace("%", "%%")


def _link_filter(*, local: bool, checked_before: str | None) -> tuple[str, list[Any]]:
    kind = _LOCAL_FILE_PG if local else f"NOT ({_LOCAL_FILE_PG})"
    if checked_before is None:
        return kind, []
    return (
        f"(last_checked IS NULL OR last_checked < %s::timestamptz) AND {kind}",
        [checked_before],
    )


def _key_unkeyed_rows(conn: Any) -> None:
    """Give rows another writer added (push, the application) coverctl's normalised keys, so
    the resolver finds them. A row whose keys another row already has stays as it is."""
    from coverctl.names import normalize
    from coverctl.store.pgconn import import_psycopg

    pg = import_psycopg()
    rows = conn.execute(
        f"SELECT character_name, movie_title, source FROM {TABLE} "
        "WHERE character_key IS NULL OR title_key IS NULL LIMIT %s".encode(),
        [_UNKEYED_PER_OPEN],
    ).fetchall()
    for name, title, source in rows:
        try:
            with conn.transaction():
                conn.execute(
                    f"UPDATE {TABLE} SET character_key = %s, title_key = %s "
                    "WHERE character_name = %s AND movie_title = %s AND source = %s".encode(),
                    [normalize(name), normalize(title), name, title, source],
                )
        except pg.errors.UniqueViolation:
            continue
