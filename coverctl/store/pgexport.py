"""The SQL side of `push postgres`: idempotent upserts into another database's `character_images`.

One statement per row, sent with `executemany` (psycopg pipelines it: one round trip per batch),
one transaction per batch. The conflict target is the SQL file's natural key (character name,
title, source) and `id` is never sent: the target's own id (a uuid default, a bigint identity,
or no id column at all) is left to the target. A row that already exists keeps its id and
`created_at`; the other columns are overwritten only when they differ, so pushing the same rows
again changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from coverctl.errors import ConfigError, CoverctlError, ServiceUnreachable
from coverctl.push.rows import CONFLICT_COLUMNS, PUSH_COLUMNS, TABLE_NAME, UPDATE_COLUMNS
from coverctl.redact import scrub
from coverctl.store.pgconn import (
    connect_error,
    describe_dsn,
    dsn_secrets,
    import_psycopg,
    reason,
)
from coverctl.store.pgschema import SCHEMA_SQL

__all__ = ["CREATE_HINT", "SCHEMA_SQL", "UPSERT_SQL", "PushConnection"]

_CASTS: Final = {"created_at": "::timestamptz", "updated_at": "::timestamptz"}

# `xmax = 0` is true for a freshly inserted tuple and false for one an ON CONFLICT updated; a row
# whose values did not change matches no UPDATE and returns nothing.
UPSERT_SQL: Final = (
    f"INSERT INTO {TABLE_NAME} AS t ({', '.join(PUSH_COLUMNS)}) VALUES ("
    + ", ".join(f"%({c})s{_CASTS.get(c, '')}" for c in PUSH_COLUMNS)
    + f") ON CONFLICT ({', '.join(CONFLICT_COLUMNS)}) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in UPDATE_COLUMNS)
    + " WHERE ("
    + ", ".join(f"t.{c}" for c in UPDATE_COLUMNS)
    + ") IS DISTINCT FROM ("
    + ", ".join(f"EXCLUDED.{c}" for c in UPDATE_COLUMNS)
    + ") RETURNING (xmax = 0) AS inserted"
)

CREATE_HINT: Final = "pass --create-table (or run sql/character_images.sql)"


class PushConnection:
    """One connection to the push target, closed on exit. Errors name the server as
    `PostgreSQL at host:port (database d)`, never the DSN or its password."""

    def __init__(self, dsn: str, *, connect_timeout: int = 10) -> None:
        self.pg = import_psycopg("Pushing to PostgreSQL")
        self.where = describe_dsn(dsn)
        self.secrets = dsn_secrets(dsn)
        try:
            self.conn = self.pg.connect(dsn, autocommit=True, connect_timeout=connect_timeout)
        except self.pg.Error as exc:
            raise connect_error(exc, self.where, self.secrets) from None

    def __enter__(self) -> PushConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    def prepare(self, *, create_table: bool) -> None:
        """Create the table (the SQL file, safe to run again), or check it exists."""
        try:
            if create_table:
                self.conn.execute(SCHEMA_SQL.encode())
                return
            found = self.conn.execute("SELECT to_regclass(%s)", (TABLE_NAME,)).fetchone()
        except self.pg.Error as exc:
            raise self.error(exc, "") from None
        if not found or found[0] is None:
            raise ConfigError(
                f"The table {TABLE_NAME} does not exist in {self.where}: {CREATE_HINT}."
            )

    def upsert(self, batch: Sequence[dict[str, Any]], done: str) -> tuple[int, int]:
        """Upsert one batch in one transaction; (inserted, updated). `done` says what earlier
        batches committed, for the message when this one is refused."""
        try:
            with self.conn.transaction(), self.conn.cursor() as cursor:
                cursor.executemany(UPSERT_SQL, batch, returning=True)
                return _count_results(cursor)
        except self.pg.Error as exc:
            raise self.error(exc, done) from None

    def error(self, exc: BaseException, done: str) -> CoverctlError:
        pg, where = self.pg, self.where
        sqlstate = getattr(exc, "sqlstate", None) or ""
        diag = getattr(exc, "diag", None)
        primary = getattr(diag, "message_primary", None) or reason(exc, self.secrets)
        message = scrub(primary, self.secrets).rstrip(".")
        if isinstance(exc, pg.errors.UndefinedTable):
            return ConfigError(f"The table {TABLE_NAME} does not exist in {where}: {CREATE_HINT}.")
        if sqlstate in {"42P10", "42703"}:
            return ConfigError(
                f"The table {TABLE_NAME} in {where} does not match sql/character_images.sql "
                f"({sqlstate}: {message}): add the missing unique index or columns from that file."
            )
        if sqlstate == "42501":
            return ConfigError(f"{where} refused the write ({sqlstate}: {message}).{done}")
        if isinstance(exc, pg.OperationalError) and not sqlstate:
            return ServiceUnreachable(f"Lost the connection to {where}: {message}.{done}")
        code = f"{sqlstate}: " if sqlstate else ""
        return CoverctlError(f"{where} refused the rows ({code}{message}).{done}")


def _count_results(cursor: Any) -> tuple[int, int]:
    inserted = updated = 0
    while True:
        row = cursor.fetchone()
        if row is not None:
            if row[0]:
                inserted += 1
            else:
                updated += 1
        if not cursor.nextset():
            return inserted, updated
