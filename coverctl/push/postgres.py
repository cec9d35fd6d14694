"""Publish rows to a plain PostgreSQL database (psycopg 3, the `postgres` extra).

One idempotent upsert per row, sent with `executemany` (psycopg pipelines it: one round trip per
batch), one transaction per batch. A row that already exists keeps its `id` and `created_at`; the
other columns are overwritten only when they differ, so pushing the same rows again changes nothing.
Messages name the server as host:port and database, never the password or the DSN itself.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from coverctl.errors import ConfigError, CoverctlError, ServiceUnreachable
from coverctl.push.rows import (
    CONFLICT_COLUMNS,
    DEFAULT_BATCH_SIZE,
    PUSH_COLUMNS,
    TABLE_NAME,
    UPDATE_COLUMNS,
    PushReport,
    batched,
    prepare_rows,
)
from coverctl.redact import scrub

if TYPE_CHECKING:
    import psycopg

__all__ = ["SCHEMA_SQL", "UPSERT_SQL", "PushReport", "describe_dsn", "push_rows"]

# Must stay byte-for-byte identical to sql/character_images.sql (a test checks it): the file is for
# people (Supabase's SQL editor, psql), this copy ships inside the package for --create-table.
SCHEMA_SQL = """\
-- coverctl: the table `coverctl push` writes to, on Supabase or plain PostgreSQL (13 or newer).
-- Safe to run again: every statement is CREATE ... IF NOT EXISTS or replaces what it adds.
-- Supabase: paste into the SQL editor. PostgreSQL: psql "$DSN" -f sql/character_images.sql,
-- or `coverctl push --create-table`.

CREATE TABLE IF NOT EXISTS character_images (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    character_name TEXT NOT NULL,
    movie_title TEXT NOT NULL,
    image_url TEXT NOT NULL,
    source TEXT NOT NULL,
    external_character_id TEXT,
    quality_score INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The sources a row may come from ('pinned': a curator's choice, `coverctl pin`). Dropped and
-- added again so a table created before a source was added accepts it too.
ALTER TABLE character_images DROP CONSTRAINT IF EXISTS character_images_source_check;
ALTER TABLE character_images ADD CONSTRAINT character_images_source_check CHECK (
    source IN (
        'pinned', 'character_specific', 'ai_generated', 'tvdb', 'tmdb', 'hardcover', 'web_search'
    )
);

-- One row per (character, title, source): the key of every upsert (ON CONFLICT / on_conflict=).
CREATE UNIQUE INDEX IF NOT EXISTS character_images_character_movie_source_key
    ON character_images (character_name, movie_title, source);

CREATE INDEX IF NOT EXISTS idx_character_images_lookup
    ON character_images (character_name, movie_title);

CREATE INDEX IF NOT EXISTS idx_character_images_quality_score
    ON character_images (quality_score DESC);
"""

_CASTS = {"id": "::uuid", "created_at": "::timestamptz", "updated_at": "::timestamptz"}

# `xmax = 0` is true for a freshly inserted tuple and false for one an ON CONFLICT updated; a row
# whose values did not change matches no UPDATE and returns nothing.
UPSERT_SQL = (
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

CREATE_HINT = "pass --create-table (or run sql/character_images.sql)"


def push_rows(
    dsn: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    create_table: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    connect_timeout: int = 10,
) -> PushReport:
    """Upsert `rows` into `character_images` of the database `dsn` points at.

    Raises ServiceUnreachable (cannot connect), ConfigError (bad DSN, rejected password, missing
    table without `create_table`), InputRowError (a malformed row; nothing is sent) and
    CoverctlError (the server refused a batch; earlier batches stay committed).
    """
    started = time.monotonic()
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    prepared, dropped = prepare_rows(rows)
    where = describe_dsn(dsn)
    secrets = _dsn_secrets(dsn)
    report = PushReport(
        target="postgres", duplicates_dropped=dropped, inserted=0, updated=0, unchanged=0
    )
    pg = _import_psycopg()

    try:
        conn = pg.connect(dsn, autocommit=True, connect_timeout=connect_timeout)
    except pg.Error as exc:
        raise _connect_error(exc, where, secrets) from None

    with conn:
        try:
            if create_table:
                conn.execute(SCHEMA_SQL.encode())
            else:
                found = conn.execute("SELECT to_regclass(%s)", (TABLE_NAME,)).fetchone()
                if not found or found[0] is None:
                    raise ConfigError(
                        f"The table {TABLE_NAME} does not exist in {where}: {CREATE_HINT}."
                    )
        except pg.Error as exc:
            raise _sql_error(pg, exc, where, secrets, report) from None

        for batch in batched(prepared, batch_size):
            try:
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(UPSERT_SQL, batch, returning=True)
                    inserted, updated = _count_results(cur)
            except pg.Error as exc:
                raise _sql_error(pg, exc, where, secrets, report) from None
            report.batches += 1
            report.rows_sent += len(batch)
            report.inserted = (report.inserted or 0) + inserted
            report.updated = (report.updated or 0) + updated
            report.unchanged = (report.unchanged or 0) + len(batch) - inserted - updated
            report.elapsed = time.monotonic() - started

    report.elapsed = time.monotonic() - started
    return report


def describe_dsn(dsn: str) -> str:
    """`host:port/dbname` for messages. Raises ConfigError (without quoting) if `dsn` is invalid."""
    params = _parse_dsn(dsn)
    host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST") or ""
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    dbname = params.get("dbname") or os.environ.get("PGDATABASE") or params.get("user") or ""
    if not host:
        place = f"the local socket, port {port}"
    elif host.startswith("/"):
        place = f"socket {host}, port {port}"
    else:
        place = f"{host}:{port}"
    return f"PostgreSQL at {place}" + (f" (database {dbname})" if dbname else "")


def _parse_dsn(dsn: str) -> dict[str, Any]:
    pg = _import_psycopg()
    try:
        return dict(pg.conninfo.conninfo_to_dict(dsn))
    except pg.Error:
        # The parser's message may quote a piece of the DSN (a password): never show it.
        raise ConfigError(
            "The PostgreSQL DSN cannot be parsed: expected "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME or 'host=HOST port=PORT dbname=DBNAME'."
        ) from None


def _dsn_secrets(dsn: str) -> list[str]:
    secrets = [dsn]
    password = str(_parse_dsn(dsn).get("password") or "")
    if password:
        secrets += [password, quote(password, safe="")]
    return [s for s in secrets if len(s) >= 3]


def _count_results(cur: psycopg.Cursor[Any]) -> tuple[int, int]:
    inserted = updated = 0
    while True:
        row = cur.fetchone()
        if row is not None:
            if row[0]:
                inserted += 1
            else:
                updated += 1
        if not cur.nextset():
            return inserted, updated


def _reason(exc: BaseException, secrets: Iterable[str]) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    text = text.removeprefix("connection failed:").strip()
    # We name the server ourselves; keep libpq's reason only.
    text = re.sub(r"^connection to server (at|on) .*? failed:\s*", "", text)
    text = re.sub(r"^(FATAL|ERROR):\s*", "", text)
    return scrub(text, secrets).rstrip(".")


def _connect_error(exc: BaseException, where: str, secrets: list[str]) -> CoverctlError:
    reason = _reason(exc, secrets)
    lowered = str(exc).lower()
    if "authentication failed" in lowered or "no pg_hba.conf entry" in lowered:
        return ConfigError(f"{where} rejected the login ({reason}): check the user and password.")
    if "does not exist" in lowered and ("database" in lowered or "role" in lowered):
        return ConfigError(f"{where}: {reason}. Check the DSN.")
    return ServiceUnreachable(
        f"Cannot connect to {where}: {reason}. Check that the server is running and that the "
        "DSN names the right host and port."
    )


def _sql_error(
    pg: Any, exc: BaseException, where: str, secrets: list[str], report: PushReport
) -> CoverctlError:
    done = (
        f" {report.rows_sent} rows in {report.batches} batches were committed before it; "
        "pushing again is safe."
        if report.batches
        else ""
    )
    sqlstate = getattr(exc, "sqlstate", None) or ""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or _reason(exc, secrets)
    message = scrub(primary, secrets).rstrip(".")
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


def _import_psycopg() -> Any:
    try:
        import psycopg
        import psycopg.conninfo
        import psycopg.errors
    except ImportError:
        raise ConfigError(
            "Pushing to PostgreSQL needs psycopg: pip install 'coverctl[postgres]'."
        ) from None
    return psycopg
