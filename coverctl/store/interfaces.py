"""What the rest of coverctl may ask of the store: the `Protocol`s every engine implements.

Two engines implement them: SQLite (`db.py`, `decisions.py`, `progress.py`, `jobs.py`: the
embedded default, one file under COVERCTL_HOME) and PostgreSQL (`postgres.py` and its `pg*`
siblings: shared by every worker on every host, chosen by COVERCTL_DATABASE_URL). Callers get
one from `coverctl.store.open_store(settings)` and type against these names only; no SQL, and
no engine's exceptions, cross this boundary (failures are `StoreError`).

Row dicts carry the `character_images` columns with text timestamps (ISO 8601, UTC) and a text
`id` whatever the table's own id type is (a uuid, a bigint identity, or none at all: then the
id names the row's natural key). Ids are opaque: pass them back, never parse them.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar

from coverctl.store.records import (
    AuditScanRow,
    Decision,
    ImageRecord,
    InputIdentity,
    JobRecord,
    RunRecord,
)

__all__ = ["DecisionStore", "ImageStore", "JobStore", "ProgressStore", "store_call"]

P = ParamSpec("P")
T = TypeVar("T")


class DecisionStore(Protocol):
    """Curators' pins and rejections (see store/decisions.py for what each one means)."""

    def for_work(
        self, character_key: str, title_key: str, kind: str | None = None
    ) -> list[Decision]:
        """Every decision for one character and title (any year or media type), newest first."""
        ...

    def all(self, kind: str | None = None) -> Iterator[Decision]: ...

    def count(self, kind: str | None = None) -> int: ...

    def pin(self, decision: Decision, row: ImageRecord) -> Decision:
        """Record a pin and its `pinned` row in one transaction (replacing the scope's pin and
        dropping a rejection of the same picture in that scope)."""
        ...

    def unpin(self, ids: Sequence[str], row: ImageRecord | None) -> None:
        """Delete pins; write `row` as the work's pinned row, or (None) delete that row."""
        ...

    def reject(self, decision: Decision, drop_rows: Sequence[str] = ()) -> Decision:
        """Record a rejection and delete the rows `drop_rows` (never a pinned row)."""
        ...

    def delete(self, ids: Sequence[str]) -> int: ...


class ProgressStore(Protocol):
    """Batch runs and their finished rows, so an interrupted batch resumes where it stopped
    (see store/progress.py). A shared store (PostgreSQL) lets another host resume it."""

    def get_run(self, run_id: str) -> RunRecord | None: ...

    def runs_of(self, input_path: str) -> list[RunRecord]:
        """Every recorded run of one input path, newest first."""
        ...

    def start_run(
        self,
        run_id: str,
        identity: InputIdentity,
        out_path: str,
        out_format: str,
        options: dict[str, Any],
    ) -> None: ...

    def set_status(
        self, run_id: str, status: str, summary: dict[str, Any] | None = None
    ) -> None: ...

    def finish(self, run_id: str, summary: dict[str, Any]) -> None:
        """Mark the run finished with its summary and drop its per-row results."""
        ...

    def discard(self, run_id: str) -> None: ...

    def record(self, run_id: str, rows: Iterable[tuple[int, list[dict[str, Any]]]]) -> None:
        """Commit finished input rows (row number, output rows) in one transaction; recording a
        row again replaces it (exactly once, however often a resume repeats it)."""
        ...

    def count(self, run_id: str) -> int: ...

    def done_rows(self, run_id: str) -> Iterator[int]:
        """Row numbers already finished, ascending (streamed)."""
        ...

    def results(self, run_id: str) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """(row, output rows) of every finished row, ascending (streamed)."""
        ...

    def lock(self, run_id: str, out: Path | None = None) -> AbstractContextManager[None]:
        """Hold the run's lock, and its output file's, for a `with` block: two processes never
        write the same run (nor the same output file) at once. RunInProgress if held. The lock
        dies with its process (`kill -9` leaves nothing stale)."""
        ...


class JobStore(Protocol):
    """Billed service jobs (see store/jobs.py): a job is paid for once."""

    def latest(self, provider: str, request_key: str) -> JobRecord | None: ...

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
    ) -> None: ...

    def update(
        self,
        provider: str,
        job_id: str,
        *,
        state: str,
        failure_reason: str | None = None,
        result_url: str | None = None,
    ) -> None: ...


class ImageStore(Protocol):
    """The `character_images` rows and everything kept beside them (decisions, batch progress,
    service jobs). One instance per process; safe to share across asyncio tasks."""

    @property
    def shared(self) -> bool:
        """True when other processes on other hosts see the same store (PostgreSQL)."""
        ...

    @property
    def location(self) -> str:
        """Where the store is, for messages: a file path or `PostgreSQL at host:port (...)`,
        never a password."""
        ...

    @property
    def schema_version(self) -> int: ...

    @property
    def decisions(self) -> DecisionStore: ...

    @property
    def progress(self) -> ProgressStore: ...

    @property
    def jobs(self) -> JobStore: ...

    def close(self) -> None: ...

    def upsert(self, record: ImageRecord) -> str:
        """Insert or update the row for (character, title, source); return its id."""
        ...

    def find(
        self, character_key: str, title_key: str, sources: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Rows for one character and title, best quality first."""
        ...

    def get(self, row_id: str) -> dict[str, Any] | None: ...

    def rows_by_id(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def recent(self, since: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Rows changed at or after `since` (ISO 8601), most recently changed first."""
        ...

    def count(self) -> int: ...

    def delete(self, row_id: str) -> None: ...

    def update_fields(self, row_id: str, fields: dict[str, Any]) -> None: ...

    def pinned_row_ids(self, row_ids: Sequence[str]) -> set[str]: ...

    def audit_scan(self, source: str | None = None) -> Iterator[AuditScanRow]: ...

    def shared_picture_groups(self, column: str) -> Iterator[list[tuple[str, str]]]: ...

    def link_check_counts(self, *, local: bool, checked_before: str | None) -> tuple[int, int]: ...

    def link_groups(
        self, *, local: bool, checked_before: str | None
    ) -> Iterator[tuple[str, tuple[str, ...]]]: ...

    def mark_checked(self, results: Sequence[tuple[str, str, str]]) -> None: ...

    def delete_if_url(self, doomed: Sequence[tuple[str, str]]) -> dict[str, int]: ...

    def rows_changed_since(self, since: datetime | None = None) -> Iterator[dict[str, Any]]: ...


_worker: ThreadPoolExecutor | None = None


async def store_call(
    store: ImageStore, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """`call(*args)` from async code (a resolution, a source, the batch's progress).

    A server store's calls run in a worker thread: their round trips must not stall the event
    loop, which paces every provider's requests (a loop held for tens of milliseconds sends the
    requests it held up all at once). One thread, so calls queue instead of each opening a
    connection of its own (every new PostgreSQL connection is a server process forked). The
    SQLite store's calls stay in place: microseconds, on its one connection.
    """
    global _worker
    if not store.shared:
        return call(*args, **kwargs)
    if _worker is None:
        _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coverctl-store")
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_worker, functools.partial(call, *args, **kwargs))
