"""Billed service jobs in the store (`service_jobs`), so a job is paid for once.

`animate` records a Luma generation as soon as Luma accepted it, updates its state while polling
and records where the finished video was stored. The same request again (same character,
title, picture and options) finds the row: a running job is polled again, a finished one is
reported, and only a failed one (or `--new`) starts another.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from coverctl.store.records import (
    COMPLETED,
    FAILED,
    RUNNING_STATES,
    JobRecord,
    utc_now,
)

__all__ = ["COMPLETED", "FAILED", "RUNNING_STATES", "JobRecord", "SqliteJobStore"]


class SqliteJobStore:
    """The `service_jobs` table, on the SQLite store's connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def latest(self, provider: str, request_key: str) -> JobRecord | None:
        """The most recent job for this request that has not failed, or None."""
        cursor = self._conn.execute(
            "SELECT * FROM service_jobs WHERE provider=? AND request_key=? AND state != ? "
            "ORDER BY created_at DESC, rowid DESC LIMIT 1",
            [provider, request_key, FAILED],
        )
        row = cursor.fetchone()
        if row is None:
            return None
        names = [d[0] for d in cursor.description]
        data = dict(zip(names, row, strict=True))
        data["options"] = json.loads(data.pop("options_json"))
        return JobRecord(**data)

    def record(
        self,
        *,
        job_id: str,
        provider: str,
        request_key: str,
        character_name: str,
        movie_title: str,
        picture_url: str,
        options: dict[str, Any],
        state: str,
    ) -> None:
        now = utc_now()
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO service_jobs (job_id, provider, request_key, "
                "character_name, movie_title, picture_url, options_json, state, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    job_id,
                    provider,
                    request_key,
                    character_name,
                    movie_title,
                    picture_url,
                    json.dumps(options, sort_keys=True),
                    state,
                    now,
                    now,
                ],
            )

    def update(
        self,
        provider: str,
        job_id: str,
        *,
        state: str,
        failure_reason: str | None = None,
        result_url: str | None = None,
    ) -> None:
        with self._conn:
            self._conn.execute(
                "UPDATE service_jobs SET state=?, failure_reason=COALESCE(?, failure_reason), "
                "result_url=COALESCE(?, result_url), updated_at=? WHERE provider=? AND job_id=?",
                [state, failure_reason, result_url, utc_now(), provider, job_id],
            )
