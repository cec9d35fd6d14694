"""The PostgreSQL schema: `character_images` as sql/character_images.sql makes it, plus coverctl's
own columns and tables, brought up to date by versioned migrations run once.

`character_images` is the table a Supabase project (or any PostgreSQL) already serves pictures
from: its id may be a uuid (the SQL file), a bigint identity (older Supabase tables) or absent
(the design's table); coverctl never writes `id` and adds only nullable columns of its own
(normalised keys, matched person, picture hash and size, last link check). Everything else
coverctl keeps lives in tables of its own, prefixed `coverctl_`: the schema version, batch
progress, service jobs and curators' decisions.

Migrations: `coverctl_schema` has one row per applied migration. A process whose version is
behind takes `pg_advisory_xact_lock` (a lock every coverctl shares), reads the version again
under it and applies what is missing in that one transaction: workers starting together migrate
once, the others wait for it and find nothing left to do, and a failed migration rolls back whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from coverctl.errors import StoreError
from coverctl.store.records import TABLE

SCHEMA_TABLE: Final = "coverctl_schema"
RUNS_TABLE: Final = "coverctl_batch_runs"
ROWS_TABLE: Final = "coverctl_batch_rows"
JOBS_TABLE: Final = "coverctl_service_jobs"
DECISIONS_TABLE: Final = "coverctl_image_decisions"
# The unique index the store's upserts conflict on (one row per normalised key and source).
KEYS_INDEX: Final = f"{TABLE}_keys_source_key"
# The pg_advisory_xact_lock key migrations take: one constant every coverctl version shares.
MIGRATION_LOCK: Final = 0x5F3C_2A91_64D0_7B1E

# Must stay byte-for-byte identical to sql/character_images.sql (a test checks it): the file is for
# people (Supabase's SQL editor, psql), this copy ships inside the package for --create-table and
# the store's first migration.
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

# coverctl's columns beside the SQL file's (all nullable: rows other writers add lack them).
STORE_COLUMNS: Final = (
    ("character_key", "TEXT"),
    ("title_key", "TEXT"),
    ("person_name", "TEXT"),
    ("matched_character", "TEXT"),
    ("media_type", "TEXT"),
    ("year", "INTEGER"),
    ("image_hash", "TEXT"),
    ("image_width", "INTEGER"),
    ("image_height", "INTEGER"),
    ("last_checked", "TIMESTAMPTZ"),
    ("last_status", "TEXT"),
)


def _character_images(conn: Any) -> None:
    """The SQL file's table (left as it is when it exists, whatever its id), coverctl's columns,
    the store's unique key and the indexes audit and dead-links read by."""
    conn.execute(SCHEMA_SQL.encode())
    # Columns a hand-made table may lack (the SQL file's own, then coverctl's).
    for column, kind in (
        ("external_character_id", "TEXT"),
        ("created_at", "TIMESTAMPTZ NOT NULL DEFAULT now()"),
        ("updated_at", "TIMESTAMPTZ NOT NULL DEFAULT now()"),
        *STORE_COLUMNS,
    ):
        conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {column} {kind}".encode())
    conn.execute(
        f"CREATE UNIQUE INDEX IF NOT EXISTS {KEYS_INDEX} "
        f"ON {TABLE} (character_key, title_key, source)".encode()
    )
    for name, definition in (
        ("updated", "(updated_at)"),
        ("image_url", "(image_url)"),
        ("image_hash", "(image_hash)"),
        ("last_checked", "(last_checked)"),
        # Rows another writer added without coverctl's keys: found at once when the store opens.
        ("unkeyed", "(source) WHERE character_key IS NULL OR title_key IS NULL"),
    ):
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS idx_{TABLE}_{name} ON {TABLE} {definition}".encode()
        )


def _batch_progress(conn: Any) -> None:
    """Batch progress (store/pgtables.py): one row per run, one per finished input row."""
    conn.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (
            run_id TEXT PRIMARY KEY,
            input_path TEXT NOT NULL,
            input_size BIGINT NOT NULL,
            input_mtime_ns BIGINT NOT NULL,
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
        """.encode()
    )
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS idx_{RUNS_TABLE}_input "
        f"ON {RUNS_TABLE} (input_path, out_path)".encode()
    )
    # Results as the text they were written as (TEXT, not JSONB: a resumed run writes them out
    # again byte for byte, keys in their order).
    conn.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {ROWS_TABLE} (
            run_id TEXT NOT NULL,
            row INTEGER NOT NULL,
            results_json TEXT NOT NULL,
            PRIMARY KEY (run_id, row)
        )
        """.encode()
    )


def _service_jobs(conn: Any) -> None:
    """Billed service jobs (store/pgtables.py); `seq` orders jobs created in the same second."""
    conn.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {JOBS_TABLE} (
            seq BIGINT GENERATED ALWAYS AS IDENTITY,
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
        """.encode()
    )
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS idx_{JOBS_TABLE}_request "
        f"ON {JOBS_TABLE} (provider, request_key, created_at)".encode()
    )


def _decisions(conn: Any) -> None:
    """Curators' pins and rejections (store/pgtables.py); `seq` orders same-second decisions."""
    from coverctl.store.records import PINNED, REJECTED

    conn.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {DECISIONS_TABLE} (
            seq BIGINT GENERATED ALWAYS AS IDENTITY,
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('{PINNED}', '{REJECTED}')),
            character_name TEXT NOT NULL,
            movie_title TEXT NOT NULL,
            character_key TEXT NOT NULL,
            title_key TEXT NOT NULL,
            year INTEGER,
            media_type TEXT,
            image_url TEXT NOT NULL,
            image_hash TEXT,
            image_width INTEGER,
            image_height INTEGER,
            origin TEXT,
            person_name TEXT,
            matched_character TEXT,
            external_id TEXT,
            decided_by TEXT,
            decided_at TEXT NOT NULL,
            note TEXT
        )
        """.encode()
    )
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS idx_{DECISIONS_TABLE}_key "
        f"ON {DECISIONS_TABLE} (character_key, title_key, kind)".encode()
    )


MIGRATIONS: Sequence[Callable[[Any], None]] = (
    _character_images,
    _batch_progress,
    _service_jobs,
    _decisions,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def read_version(conn: Any) -> int:
    """The highest migration applied (0: none, or no coverctl_schema table yet)."""
    found = conn.execute("SELECT to_regclass(%s)", [SCHEMA_TABLE]).fetchone()
    if not found or found[0] is None:
        return 0
    row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {SCHEMA_TABLE}".encode()).fetchone()
    return int(row[0])


def migrate(conn: Any, where: str) -> int:
    """Bring the database to SCHEMA_VERSION (see module docstring); return the version.

    `conn` is an autocommit connection of its own. StoreError when the database was migrated by
    a newer coverctl.
    """
    version = read_version(conn)
    _check(version, where)
    if version == SCHEMA_VERSION:
        return version
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER PRIMARY KEY, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())".encode()
        )
        version = read_version(conn)  # again, under the lock: another process may have done it
        _check(version, where)
        for number in range(version, SCHEMA_VERSION):
            MIGRATIONS[number](conn)
            conn.execute(f"INSERT INTO {SCHEMA_TABLE} (version) VALUES (%s)".encode(), [number + 1])
    return SCHEMA_VERSION


def _check(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"The store in {where} has schema version {version}, newer than this coverctl "
            f"understands ({SCHEMA_VERSION}); upgrade coverctl."
        )


def id_type(conn: Any) -> str | None:
    """The SQL type of `character_images.id` (`uuid`, `bigint`, ...), or None without one."""
    row = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attname = 'id' AND NOT attisdropped",
        [TABLE],
    ).fetchone()
    return str(row[0]) if row else None
