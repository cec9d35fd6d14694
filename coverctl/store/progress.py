"""Batch progress in the SQLite store, so an interrupted batch resumes where it stopped.

`batch_runs` has one row per run: the identity of its input file, where it writes, its options
and status (`running`, `interrupted`, `finished`). `batch_rows` has one row per finished input
row: its output rows as JSON. The batch commits a row here *before* writing it to the output
file, so the table is the source of truth: on resume every row it holds is either already in the
output or written again from here, and no provider is asked again for it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from coverctl.errors import StoreError
from coverctl.store.records import (
    FINISHED,
    INTERRUPTED,
    RUNNING,
    InputIdentity,
    RunRecord,
    utc_now,
)

__all__ = [
    "FINISHED",
    "INTERRUPTED",
    "RUNNING",
    "InputIdentity",
    "RunRecord",
    "SqliteProgressStore",
    "file_run_lock",
    "run_lock_names",
]


def _record(row: Any) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        identity=InputIdentity(
            row["input_path"], row["input_size"], row["input_mtime_ns"], row["input_head_sha256"]
        ),
        out_path=row["out_path"],
        out_format=row["out_format"],
        options=json.loads(row["options_json"]),
        status=row["status"],
        summary=json.loads(row["summary_json"]) if row["summary_json"] else None,
        started_at=row["started_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
    )


class SqliteProgressStore:
    """Runs and their finished rows, in the SQLite store's database (same connection, same
    thread); run locks are files under `home`/locks."""

    def __init__(self, conn: sqlite3.Connection, home: Path) -> None:
        self._conn = conn
        self._home = home

    def lock(self, run_id: str, out: Path | None = None) -> contextlib.AbstractContextManager[None]:
        return file_run_lock(self._home, run_id, out)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        cursor = self._conn.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._query("SELECT * FROM batch_runs WHERE run_id = ?", [run_id])
        return _record(rows[0]) if rows else None

    def runs_of(self, input_path: str) -> list[RunRecord]:
        """Every recorded run of one input path, newest first."""
        rows = self._query(
            "SELECT * FROM batch_runs WHERE input_path = ? ORDER BY updated_at DESC", [input_path]
        )
        return [_record(row) for row in rows]

    def start_run(
        self,
        run_id: str,
        identity: InputIdentity,
        out_path: str,
        out_format: str,
        options: dict[str, Any],
    ) -> None:
        """Record a new run (forgetting any earlier progress under the same id)."""
        now = utc_now()
        with self._conn:
            self._conn.execute("DELETE FROM batch_rows WHERE run_id = ?", [run_id])
            self._conn.execute("DELETE FROM batch_runs WHERE run_id = ?", [run_id])
            self._conn.execute(
                "INSERT INTO batch_runs (run_id, input_path, input_size, input_mtime_ns, "
                "input_head_sha256, out_path, out_format, options_json, status, started_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    identity.path,
                    identity.size,
                    identity.mtime_ns,
                    identity.head_sha256,
                    out_path,
                    out_format,
                    json.dumps(options, sort_keys=True),
                    RUNNING,
                    now,
                    now,
                ],
            )

    def set_status(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        with self._conn:
            self._conn.execute(
                "UPDATE batch_runs SET status = ?, updated_at = ?, "
                "summary_json = COALESCE(?, summary_json) WHERE run_id = ?",
                [status, utc_now(), json.dumps(summary) if summary is not None else None, run_id],
            )

    def finish(self, run_id: str, summary: dict[str, Any]) -> None:
        """Mark the run finished with its summary and drop its per-row results."""
        now = utc_now()
        with self._conn:
            self._conn.execute(
                "UPDATE batch_runs SET status = ?, summary_json = ?, updated_at = ?, "
                "finished_at = ? WHERE run_id = ?",
                [FINISHED, json.dumps(summary), now, now, run_id],
            )
            self._conn.execute("DELETE FROM batch_rows WHERE run_id = ?", [run_id])

    def discard(self, run_id: str) -> None:
        with self._conn:
            self._conn.execute("DELETE FROM batch_rows WHERE run_id = ?", [run_id])
            self._conn.execute("DELETE FROM batch_runs WHERE run_id = ?", [run_id])

    def record(self, run_id: str, rows: Iterable[tuple[int, list[dict[str, Any]]]]) -> None:
        """Commit finished input rows (row number, output rows) in one transaction."""
        values = [(run_id, row, json.dumps(results, ensure_ascii=False)) for row, results in rows]
        try:
            with self._conn:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO batch_rows (run_id, row, results_json) "
                    "VALUES (?, ?, ?)",
                    values,
                )
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot save the batch progress: {exc}.") from None

    def count(self, run_id: str) -> int:
        cursor = self._conn.execute("SELECT count(*) FROM batch_rows WHERE run_id = ?", [run_id])
        return int(cursor.fetchone()[0])

    def done_rows(self, run_id: str) -> Iterator[int]:
        """Row numbers already finished, ascending (streamed)."""
        cursor = self._conn.execute(
            "SELECT row FROM batch_rows WHERE run_id = ? ORDER BY row", [run_id]
        )
        for (row,) in cursor:
            yield int(row)

    def results(self, run_id: str) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """(row, output rows) of every finished row, ascending (streamed)."""
        cursor = self._conn.execute(
            "SELECT row, results_json FROM batch_rows WHERE run_id = ? ORDER BY row", [run_id]
        )
        for row, results_json in cursor:
            yield int(row), json.loads(results_json)


def run_lock_names(run_id: str, out: Path | None) -> list[str]:
    """The locks a run holds: its own, and its output file's (named by the absolute path)."""
    import hashlib

    names = [f"batch-{run_id}"]
    if out is not None:
        digest = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
        names.append(f"batch-out-{digest}")
    return names


RUN_IN_PROGRESS = (
    "another coverctl batch is writing this output right now; wait for it to finish or stop it "
    "first (this run did nothing)."
)


@contextmanager
def file_run_lock(home: Path, run_id: str, out: Path | None = None) -> Iterator[None]:
    """Hold the run's lock, and its output file's: two processes never write the same run, nor
    the same output file (even from different inputs), at once.

    OS file locks (flock), so they die with their process: `kill -9` leaves nothing stale.
    """
    from filelock import FileLock, Timeout

    from coverctl.locking import RunInProgress

    directory = home / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        for name in run_lock_names(run_id, out):
            lock = FileLock(str(directory / f"{name}.lock"), timeout=0)
            try:
                lock.acquire()
            except Timeout:
                raise RunInProgress(RUN_IN_PROGRESS) from None
            held.callback(lock.release)
        yield
