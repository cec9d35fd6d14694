"""Publish rows to a plain PostgreSQL database (psycopg 3, the `postgres` extra).

Rows are checked and batched here; the SQL (an idempotent upsert on the natural key, never
sending `id`, so a uuid, a bigint identity or no id column at all is the target's own business)
lives with the store, in coverctl/store/pgexport.py. Batches before a refused one stay committed.
Messages name the server as host:port and database, never the password or the DSN itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from coverctl.push.rows import DEFAULT_BATCH_SIZE, PushReport, batched, prepare_rows
from coverctl.store.pgconn import describe_dsn
from coverctl.store.pgexport import SCHEMA_SQL, UPSERT_SQL, PushConnection

__all__ = ["SCHEMA_SQL", "UPSERT_SQL", "PushReport", "describe_dsn", "push_rows"]


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
    describe_dsn(dsn)  # a DSN that cannot be parsed fails before connecting
    report = PushReport(
        target="postgres", duplicates_dropped=dropped, inserted=0, updated=0, unchanged=0
    )
    with PushConnection(dsn, connect_timeout=connect_timeout) as target:
        target.prepare(create_table=create_table)
        for batch in batched(prepared, batch_size):
            inserted, updated = target.upsert(batch, _committed(report))
            report.batches += 1
            report.rows_sent += len(batch)
            report.inserted = (report.inserted or 0) + inserted
            report.updated = (report.updated or 0) + updated
            report.unchanged = (report.unchanged or 0) + len(batch) - inserted - updated
            report.elapsed = time.monotonic() - started
    report.elapsed = time.monotonic() - started
    return report


def _committed(report: PushReport) -> str:
    if not report.batches:
        return ""
    return (
        f" {report.rows_sent} rows in {report.batches} batches were committed before it; "
        "pushing again is safe."
    )
