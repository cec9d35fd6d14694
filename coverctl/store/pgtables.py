"""What the PostgreSQL store keeps beside `character_images`: decisions, batch progress, jobs.

The same behaviour as their SQLite twins (decisions.py, progress.py, jobs.py; the same tests run
against both), in coverctl's own tables (pgschema.py). Two things differ because the store is
shared by several hosts:

- Batch progress is found by every worker pointing at the database, so a batch interrupted on
  one host resumes on another (`batch --resume` with another COVERCTL_HOME).
- Run locks are PostgreSQL session advisory locks, held on a connection of their own for the
  run: every host sees them, and they die with their process (`kill -9`) as file locks do.
  A host that dies without closing its connection holds them until the server notices (its
  `tcp_keepalives_*` settings).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from coverctl.store.pgconn import PgDatabase, reason
from coverctl.store.pgschema import DECISIONS_TABLE, JOBS_TABLE, ROWS_TABLE, RUNS_TABLE
from coverctl.store.records import (
    DECISION_COLUMNS,
    FAILED,
    FINISHED,
    PINNED,
    REJECTED,
    RUNNING,
    TABLE,
    Decision,
    ImageRecord,
    InputIdentity,
    JobRecord,
    RunRecord,
    decision_from_row,
    fresh_decision,
    utc_now,
)

if TYPE_CHECKING:
    from coverctl.store.postgres import PostgresStore

__all__ = ["PgDecisionStore", "PgJobStore", "PgProgressStore"]

# A process killed with `kill -9` closes its socket at once, but the server may take a moment to
# end its session: a lock still held is asked for again for this long before giving up.
LOCK_GRACE: Final = 3.0
_LOCK_POLL: Final = 0.1

# NULL year / media type is a scope of its own ("any"): IS NOT DISTINCT FROM compares NULLs equal.
_SAME_SCOPE: Final = (
    "character_key = %s AND title_key = %s AND year IS NOT DISTINCT FROM %s "
    "AND media_type IS NOT DISTINCT FROM %s"
)
_DECISION_SELECT: Final = ", ".join(DECISION_COLUMNS)


class PgDecisionStore:
    """Curators' pins and rejections in PostgreSQL (see store/decisions.py)."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._db = store.db

    def _select(self, where: str, params: Sequence[Any], order: str) -> list[Decision]:
        sql = f"SELECT {_DECISION_SELECT} FROM {DECISIONS_TABLE}{where} ORDER BY {order}"

        def work(conn: Any) -> list[Decision]:
            with conn.cursor(row_factory=self._db.pg.rows.dict_row) as cursor:
                cursor.execute(sql.encode(), list(params))
                return [decision_from_row(row) for row in cursor.fetchall()]

        return self._db.run(work, doing="read the decisions", transaction=False)

    def for_work(
        self, character_key: str, title_key: str, kind: str | None = None
    ) -> list[Decision]:
        where = " WHERE character_key = %s AND title_key = %s"
        params: list[Any] = [character_key, title_key]
        if kind is not None:
            where += " AND kind = %s"
            params.append(kind)
        return self._select(where, params, "decided_at DESC, seq DESC")

    def all(self, kind: str | None = None) -> Iterator[Decision]:
        where, params = (" WHERE kind = %s", [kind]) if kind is not None else ("", [])
        yield from self._select(where, params, "decided_at, seq")

    def count(self, kind: str | None = None) -> int:
        where, params = (" WHERE kind = %s", [kind]) if kind else ("", [])
        sql = f"SELECT count(*) FROM {DECISIONS_TABLE}{where}"
        row = self._db.run(
            lambda conn: conn.execute(sql.encode(), params).fetchone(),
            doing="count decisions",
            transaction=False,
        )
        return int(row[0])

    def pin(self, decision: Decision, row: ImageRecord) -> Decision:
        """Record `decision` (kind PINNED) and its `character_images` row, in one transaction
        (see SqliteDecisionStore.pin)."""
        stored = fresh_decision(decision, PINNED)
        scope = [decision.character_key, decision.title_key, decision.year, decision.media_type]

        def work(conn: Any) -> None:
            conn.execute(
                f"DELETE FROM {DECISIONS_TABLE} WHERE kind = %s AND {_SAME_SCOPE}".encode(),
                [PINNED, *scope],
            )
            conn.execute(
                f"DELETE FROM {DECISIONS_TABLE} WHERE kind = %s AND {_SAME_SCOPE} "
                "AND image_url = %s".encode(),
                [REJECTED, *scope, decision.image_url],
            )
            _insert(conn, stored)
            self._store.upsert_in(conn, row)

        self._db.run(work, doing="save the pin")
        return stored

    def unpin(self, ids: Sequence[str], row: ImageRecord | None) -> None:
        """Delete the pins `ids`; then write `row` as the work's pinned row (another pin still
        applies) or, with None, delete the work's pinned row. One transaction."""
        if not ids:
            return

        def work(conn: Any) -> None:
            keys = conn.execute(
                f"SELECT DISTINCT character_key, title_key FROM {DECISIONS_TABLE} "
                "WHERE id = ANY(%s::text[])".encode(),
                [list(ids)],
            ).fetchall()
            conn.execute(
                f"DELETE FROM {DECISIONS_TABLE} WHERE id = ANY(%s::text[])".encode(), [list(ids)]
            )
            if row is not None:
                self._store.upsert_in(conn, row)
                return
            for character_key, title_key in keys:
                conn.execute(
                    f"DELETE FROM {TABLE} WHERE character_key = %s AND title_key = %s "
                    "AND source = %s".encode(),
                    [character_key, title_key, PINNED],
                )

        self._db.run(work, doing="remove the pin")

    def reject(self, decision: Decision, drop_rows: Sequence[str] = ()) -> Decision:
        """Record `decision` (kind REJECTED) and delete the rows `drop_rows` (never a pinned
        one), in one transaction (see SqliteDecisionStore.reject)."""
        stored = fresh_decision(decision, REJECTED)
        scope = [decision.character_key, decision.title_key, decision.year, decision.media_type]
        ids = self._store.ids

        def work(conn: Any) -> None:
            conn.execute(
                f"DELETE FROM {DECISIONS_TABLE} WHERE kind = %s AND {_SAME_SCOPE} "
                "AND image_url = %s".encode(),
                [REJECTED, *scope, decision.image_url],
            )
            _insert(conn, stored)
            for row_id in drop_rows:
                match = ids.match_one(row_id)
                if match is not None:
                    where, params = match
                    conn.execute(
                        f"DELETE FROM {TABLE} WHERE {where} AND source != %s".encode(),
                        [*params, PINNED],
                    )

        self._db.run(work, doing="save the rejection")
        return stored

    def delete(self, ids: Sequence[str]) -> int:
        """Delete decisions by id (unreject); returns how many went."""
        if not ids:
            return 0
        cursor = self._db.run(
            lambda conn: conn.execute(
                f"DELETE FROM {DECISIONS_TABLE} WHERE id = ANY(%s::text[])".encode(), [list(ids)]
            ),
            doing="delete decisions",
            transaction=False,
        )
        return int(cursor.rowcount)


def _insert(conn: Any, decision: Decision) -> None:
    values = decision.to_json()
    conn.execute(
        f"INSERT INTO {DECISIONS_TABLE} ({', '.join(values)}) "
        f"VALUES ({', '.join(['%s'] * len(values))})".encode(),
        list(values.values()),
    )


_RUN_COLUMNS: Final = (
    "run_id, input_path, input_size, input_mtime_ns, input_head_sha256, out_path, out_format, "
    "options_json, status, summary_json, started_at, updated_at, finished_at"
)


def _run_record(row: Sequence[Any]) -> RunRecord:
    (run_id, path, size, mtime, head, out_path, out_format, options, status, summary) = row[:10]
    return RunRecord(
        run_id=run_id,
        identity=InputIdentity(path, int(size), int(mtime), head),
        out_path=out_path,
        out_format=out_format,
        options=json.loads(options),
        status=status,
        summary=json.loads(summary) if summary else None,
        started_at=row[10],
        updated_at=row[11],
        finished_at=row[12],
    )


class PgProgressStore:
    """Batch runs and their finished rows in PostgreSQL (see store/progress.py), shared by every
    host; run locks are advisory locks (see module docstring)."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def _fetch(self, sql: str, params: Sequence[Any], doing: str) -> list[Any]:
        return self._db.run(
            lambda conn: conn.execute(sql.encode(), list(params)).fetchall(),
            doing=doing,
            transaction=False,
        )

    def _write(self, statements: Sequence[tuple[str, Sequence[Any]]], doing: str) -> None:
        """The statements in one transaction (one alone: committed on its own)."""

        def work(conn: Any) -> None:
            for sql, params in statements:
                conn.execute(sql.encode(), list(params))

        self._db.run(work, doing=doing, transaction=len(statements) > 1)

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._fetch(
            f"SELECT {_RUN_COLUMNS} FROM {RUNS_TABLE} WHERE run_id = %s",
            [run_id],
            "read the batch progress",
        )
        return _run_record(rows[0]) if rows else None

    def runs_of(self, input_path: str) -> list[RunRecord]:
        rows = self._fetch(
            f"SELECT {_RUN_COLUMNS} FROM {RUNS_TABLE} WHERE input_path = %s "
            "ORDER BY updated_at DESC",
            [input_path],
            "read the batch progress",
        )
        return [_run_record(row) for row in rows]

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
        self._write(
            [
                (f"DELETE FROM {ROWS_TABLE} WHERE run_id = %s", [run_id]),
                (f"DELETE FROM {RUNS_TABLE} WHERE run_id = %s", [run_id]),
                (
                    f"INSERT INTO {RUNS_TABLE} (run_id, input_path, input_size, input_mtime_ns, "
                    "input_head_sha256, out_path, out_format, options_json, status, started_at, "
                    "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
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
                ),
            ],
            "start the batch progress",
        )

    def set_status(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        self._write(
            [
                (
                    f"UPDATE {RUNS_TABLE} SET status = %s, updated_at = %s, "
                    "summary_json = COALESCE(%s, summary_json) WHERE run_id = %s",
                    [
                        status,
                        utc_now(),
                        json.dumps(summary) if summary is not None else None,
                        run_id,
                    ],
                )
            ],
            "save the batch status",
        )

    def finish(self, run_id: str, summary: dict[str, Any]) -> None:
        now = utc_now()
        self._write(
            [
                (
                    f"UPDATE {RUNS_TABLE} SET status = %s, summary_json = %s, updated_at = %s, "
                    "finished_at = %s WHERE run_id = %s",
                    [FINISHED, json.dumps(summary), now, now, run_id],
                ),
                (f"DELETE FROM {ROWS_TABLE} WHERE run_id = %s", [run_id]),
            ],
            "finish the batch progress",
        )

    def discard(self, run_id: str) -> None:
        self._write(
            [
                (f"DELETE FROM {ROWS_TABLE} WHERE run_id = %s", [run_id]),
                (f"DELETE FROM {RUNS_TABLE} WHERE run_id = %s", [run_id]),
            ],
            "discard the batch progress",
        )

    def record(self, run_id: str, rows: Iterable[tuple[int, list[dict[str, Any]]]]) -> None:
        """Commit finished input rows in one transaction; a row recorded again replaces itself."""
        values = [(run_id, row, json.dumps(results, ensure_ascii=False)) for row, results in rows]
        if not values:
            return
        sql = (
            f"INSERT INTO {ROWS_TABLE} (run_id, row, results_json) VALUES (%s, %s, %s) "
            "ON CONFLICT (run_id, row) DO UPDATE SET results_json = EXCLUDED.results_json"
        )

        def work(conn: Any) -> None:
            with conn.cursor() as cursor:
                cursor.executemany(sql.encode(), values)

        self._db.run(work, doing="save the batch progress")

    def count(self, run_id: str) -> int:
        rows = self._fetch(
            f"SELECT count(*) FROM {ROWS_TABLE} WHERE run_id = %s",
            [run_id],
            "read the batch progress",
        )
        return int(rows[0][0])

    def done_rows(self, run_id: str) -> Iterator[int]:
        sql = f"SELECT row FROM {ROWS_TABLE} WHERE run_id = %s ORDER BY row"
        for (row,) in self._db.stream(sql.encode(), [run_id], doing="read the batch progress"):
            yield int(row)

    def results(self, run_id: str) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        sql = f"SELECT row, results_json FROM {ROWS_TABLE} WHERE run_id = %s ORDER BY row"
        for row, results_json in self._db.stream(
            sql.encode(), [run_id], doing="read the batch progress"
        ):
            yield int(row), json.loads(results_json)

    @contextmanager
    def lock(self, run_id: str, out: Path | None = None) -> Iterator[None]:
        """Hold the run's advisory lock, and its output file's, on a connection of their own
        (closing it releases them). RunInProgress when another process holds one."""
        from coverctl.locking import RunInProgress
        from coverctl.store.progress import RUN_IN_PROGRESS, run_lock_names

        conn = self._db.connect()
        try:
            for name in run_lock_names(run_id, out):
                try:
                    held = _try_lock(conn, _lock_key(name))
                except self._db.pg.Error as exc:
                    raise self._db.lost(
                        "lock the batch run", reason(exc, self._db.secrets)
                    ) from None
                if not held:
                    raise RunInProgress(RUN_IN_PROGRESS)
            yield
        finally:
            conn.close()


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for `name` (stable across processes and hosts)."""
    return int.from_bytes(hashlib.sha256(f"coverctl:{name}".encode()).digest()[:8], signed=True)


def _try_lock(conn: Any, key: int) -> bool:
    deadline = time.monotonic() + LOCK_GRACE
    while True:
        if conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_LOCK_POLL)


class PgJobStore:
    """Billed service jobs in PostgreSQL (see store/jobs.py)."""

    _COLUMNS: Final = (
        "job_id, provider, request_key, character_name, movie_title, picture_url, options_json, "
        "state, failure_reason, result_url, created_at, updated_at"
    )

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def latest(self, provider: str, request_key: str) -> JobRecord | None:
        """The most recent job for this request that has not failed, or None."""
        sql = (
            f"SELECT {self._COLUMNS} FROM {JOBS_TABLE} WHERE provider = %s AND request_key = %s "
            "AND state != %s ORDER BY created_at DESC, seq DESC LIMIT 1"
        )

        def work(conn: Any) -> Any:
            with conn.cursor(row_factory=self._db.pg.rows.dict_row) as cursor:
                cursor.execute(sql.encode(), [provider, request_key, FAILED])
                return cursor.fetchone()

        data = self._db.run(work, doing="read the service jobs", transaction=False)
        if data is None:
            return None
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
        values = [
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
        ]
        # INSERT OR REPLACE, as SQLite's: the job recorded again starts over (a new seq too).
        sql = (
            f"INSERT INTO {JOBS_TABLE} (job_id, provider, request_key, character_name, "
            "movie_title, picture_url, options_json, state, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )

        def work(conn: Any) -> None:
            conn.execute(
                f"DELETE FROM {JOBS_TABLE} WHERE provider = %s AND job_id = %s".encode(),
                [provider, job_id],
            )
            conn.execute(sql.encode(), values)

        self._db.run(work, doing="save the service job")

    def update(
        self,
        provider: str,
        job_id: str,
        *,
        state: str,
        failure_reason: str | None = None,
        result_url: str | None = None,
    ) -> None:
        sql = (
            f"UPDATE {JOBS_TABLE} SET state = %s, failure_reason = COALESCE(%s, failure_reason), "
            "result_url = COALESCE(%s, result_url), updated_at = %s "
            "WHERE provider = %s AND job_id = %s"
        )
        self._db.run(
            lambda conn: conn.execute(
                sql.encode(), [state, failure_reason, result_url, utc_now(), provider, job_id]
            ),
            doing="update the service job",
            transaction=False,
        )
