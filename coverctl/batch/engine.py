"""The concurrent core of a batch: a bounded window of rows in flight, emitted in order.

- At most `concurrency` resolutions run at once (a semaphore), and at most `window` input rows
  are read ahead of the oldest row not yet written, so a 100k-row file never becomes 100k tasks
  and the reorder buffer stays bounded.
- Rows that ask the same question (same normalised character, title, year, media type, actor
  and ids) share one resolution: one set of provider calls, N output rows. A row asking while the
  question is in flight waits for that answer; a later row reuses it from a bounded memo of
  recent answers (outages excluded: those are asked again). Rows of the same title share its
  search and credits through the resolver's single-flight response cache.
- Results are handed to `emit` in batches, in input order (or as they finish, unordered). The
  runner commits each batch to the progress table before writing it.
- Everything here runs on one event loop; the only CPU-heavy work a row may need (image checks)
  belongs in `asyncio.to_thread` inside the source that does it.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from coverctl.batch.inputs import InputRow, printable
from coverctl.constants import MediaType
from coverctl.errors import ConfigError, CoverctlError, ProviderError, StoreError
from coverctl.models import Query, Resolution
from coverctl.names import question_key
from coverctl.redact import scrub
from coverctl.resolver import ResolveOptions, Resolver
from coverctl.sources.base import CastLister
from coverctl.sources.tmdb import CastListing
from coverctl.validation import validate_query

Results = list[dict[str, Any]]
# Told each batch of finished rows, in order; it may be a coroutine function (the runner's is,
# so that saving the progress to a server store never holds the event loop).
Emit = Callable[[list[tuple[int, Results]]], Awaitable[None] | None]
# Errors that stop the whole batch (every further row would fail the same way).
FATAL_ERRORS = (ConfigError, StoreError)
CAST_STEPS: dict[str | None, tuple[str, ...]] = {
    None: ("tmdb_movie", "tmdb_tv"),
    MediaType.MOVIE: ("tmdb_movie",),
    MediaType.TV: ("tmdb_tv",),
}


# Titles (and often characters) repeat down a batch: fold each distinct string once.
_question_key = lru_cache(maxsize=65536)(question_key)
MEMO_SIZE = 4096  # finished resolutions kept for later rows asking the same question


def query_key(query: Query) -> tuple[Any, ...]:
    """Rows with the same key get the same answer: they are resolved once per batch."""
    return (
        _question_key(query.character_name),
        _question_key(query.title),
        query.year,
        query.media_type,
        _question_key(query.actor or ""),
        query.ids,  # rows with other ids (or none) ask another question
    )


def _as_text(value: Any) -> str | None:
    return None if value is None else printable(str(value))[:300]


def failure_result(
    row: InputRow,
    status: str,
    message: str,
    *,
    query: Query | None = None,
    unavailable: Sequence[str] = (),
) -> dict[str, Any]:
    """An output row that is not a resolution: a bad input row, or a title-only row whose cast
    could not be listed."""
    raw = row.raw
    result: dict[str, Any] = {
        "row": row.row,
        "character_name": (
            (query.character_name or None) if query else _as_text(raw.get("character_name"))
        ),
        "title": query.title if query else _as_text(raw.get("title")),
        "year": query.year if query else None,
        "media_type": query.media_type if query else None,
        "status": status,
        "image_url": None,
        "source": None,
        "quality_score": None,
        "matched": None,
        "cache_hit": False,
        "elapsed_ms": 0,
        "error": message,
        "unavailable_sources": list(unavailable),
    }
    for key, value in row.extra.items():
        result.setdefault(key, value)
    return result


def error_result(row: InputRow) -> dict[str, Any]:
    """The output row for an input row that could not be read."""
    return failure_result(row, "error", row.error or f"Row {row.row} is not valid.")


@dataclass
class CastFailure:
    status: str
    message: str
    unavailable: list[str] = field(default_factory=list)


async def list_cast(
    resolver: Resolver, query: Query, n: int, options: ResolveOptions
) -> CastListing | CastFailure:
    """The top `n` billed characters of the title `query` names, from TMDB (movie, then TV when
    the media type is unknown)."""
    if query.media_type not in CAST_STEPS:
        return CastFailure("error", "--cast lists movie and TV casts (from TMDB), not books.")
    if not options.network:
        return CastFailure("error", "--cast needs TMDB to list the cast, and --no-network is set.")
    reasons: list[str] = []
    unavailable: list[str] = []
    for step in CAST_STEPS[query.media_type]:
        source = resolver.source(step)
        if not isinstance(source, CastLister):
            continue
        reason = resolver.unavailable_reason(step, source)
        if reason:
            return CastFailure("error", f"--cast needs TMDB to list the cast: {reason}.")
        try:
            listing = await source.top_cast(query, resolver.context, n)
        except ProviderError as exc:
            unavailable.append(step)
            reasons.append(scrub(exc.message, resolver.settings.secrets()))
            continue
        if listing.characters:
            return listing
        reasons.append(listing.reason)
    if not reasons:
        return CastFailure("error", "--cast needs the TMDB source, which this build lacks.")
    return CastFailure("not_found", "; ".join(reasons), unavailable)


class BatchEngine:
    """Runs rows through one resolver with bounded concurrency; see the module docstring."""

    def __init__(
        self,
        resolver: Resolver,
        options: ResolveOptions,
        emit: Emit,
        *,
        concurrency: int,
        window: int,
        ordered: bool = True,
        cast_size: int | None = None,
    ) -> None:
        self._resolver = resolver
        self._options = options
        self._emit = emit
        self._concurrency = concurrency
        self._window = max(window, concurrency)
        self._ordered = ordered
        self._cast = cast_size
        self._shared: dict[tuple[Any, ...], asyncio.Future[Resolution]] = {}
        self._memo: OrderedDict[tuple[Any, ...], Resolution] = OrderedDict()
        self._completed: asyncio.Queue[asyncio.Future[Results] | None] | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._stop_requested = False
        self.deduplicated = 0
        self.stopped = False  # True when run() ended before every row was emitted

    def stop(self) -> None:
        """Stop reading rows, cancel those in flight, emit what can be emitted, return."""
        self._stop_requested = True
        if self._completed is not None:
            self._completed.put_nowait(None)  # wakes run() up

    async def run(
        self, rows: Iterable[InputRow], skip: Callable[[int], bool] | None = None
    ) -> bool:
        """Process every row (but those `skip` says are done); True when all were emitted.

        False when `stop()` ended it early. A fatal error (FATAL_ERRORS) from any row ends it
        too, after the rows already finished were emitted, and is raised.
        """
        # Finished tasks report here (None: stop was asked): O(1) per row, whatever the window.
        completed: asyncio.Queue[asyncio.Future[Results] | None] = asyncio.Queue()
        self._completed = completed
        self._slots = asyncio.Semaphore(self._concurrency)
        rows_iter = iter(rows)
        tasks: dict[asyncio.Future[Results], tuple[int, int]] = {}  # task -> (seq, row)
        ready: dict[int, tuple[int, Results]] = {}  # finished, not yet emitted
        next_seq = emit_seq = emitted = 0
        exhausted = emit_failed = False

        async def flush() -> None:
            nonlocal emit_seq, emitted, emit_failed
            batch: list[tuple[int, Results]] = []
            if self._ordered:
                while emit_seq in ready:
                    batch.append(ready.pop(emit_seq))
                    emit_seq += 1
            else:
                batch = list(ready.values())
                ready.clear()
            if batch:
                emitted += len(batch)
                try:
                    outcome = self._emit(batch)
                    if inspect.isawaitable(outcome):
                        await outcome
                except BaseException:
                    emit_failed = True
                    raise

        try:
            while not self._stop_requested:
                while not exhausted and next_seq - emitted < self._window:
                    row = next(rows_iter, None)
                    if row is None:
                        exhausted = True
                        break
                    if skip is not None and skip(row.row):
                        continue
                    if row.query is None and not (self._cast and row.title_only):
                        ready[next_seq] = (row.row, [error_result(row)])
                    else:
                        started: asyncio.Future[Results] = asyncio.ensure_future(self._process(row))
                        started.add_done_callback(completed.put_nowait)
                        tasks[started] = (next_seq, row.row)
                    next_seq += 1
                await flush()
                if not tasks:
                    if exhausted and not ready:
                        return True
                    continue
                finished = [await completed.get()]
                while not completed.empty():
                    finished.append(completed.get_nowait())
                fatal: BaseException | None = None
                for done in finished:
                    if done is None or done not in tasks:
                        continue
                    seq, row_number = tasks.pop(done)
                    error = done.exception()
                    if error is not None:
                        fatal = fatal or error
                        continue
                    ready[seq] = (row_number, done.result())
                if fatal is not None:
                    raise fatal
            self.stopped = True
            return False
        except BaseException:
            self.stopped = True
            raise
        finally:
            for pending in tasks:
                pending.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
                for pending, (seq, row_number) in tasks.items():
                    if not pending.cancelled() and pending.exception() is None:
                        ready[seq] = (row_number, pending.result())
            if not emit_failed:
                await flush()

    async def _process(self, row: InputRow) -> Results:
        if row.query is None:
            return await self._cast_rows(row)
        return [await self._one(row, row.query)]

    async def _one(self, row: InputRow, query: Query) -> dict[str, Any]:
        """One resolution as an output row; errors that concern only this row become its
        `error`, those that concern every row (FATAL_ERRORS) stop the batch."""
        started = time.perf_counter()
        try:
            query = validate_query(query)
            resolution, shared = await self._resolve_shared(query)
        except FATAL_ERRORS:
            raise
        except CoverctlError as exc:
            return failure_result(row, "error", f"Row {row.row}: {exc.message}", query=query)
        except Exception as exc:
            if os.environ.get("COVERCTL_DEBUG"):
                raise
            detail = scrub(f"{type(exc).__name__}: {exc}", self._resolver.settings.secrets())
            return failure_result(
                row, "error", f"Row {row.row}: unexpected error ({detail}).", query=query
            )
        data = resolution.to_json(extra=row.extra)
        data["row"] = row.row
        # A shared answer echoes this row's own spelling, not the row that asked first.
        data["character_name"] = query.character_name
        data["title"] = query.title
        if shared:
            # Answered by another row's resolution: no provider was asked for this one.
            data["cache_hit"] = True
            data["elapsed_ms"] = round((time.perf_counter() - started) * 1000)
        return data

    async def _resolve_shared(self, query: Query) -> tuple[Resolution, bool]:
        key = query_key(query)
        known = self._memo.get(key)
        if known is not None:
            self._memo.move_to_end(key)
            self.deduplicated += 1
            return known, True
        future = self._shared.get(key)
        if future is not None:
            self.deduplicated += 1
            return await asyncio.shield(future), True
        future = asyncio.get_running_loop().create_future()
        self._shared[key] = future
        try:
            async with self._slots:
                resolution = await self._resolver.resolve(query, self._options)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: each waiter re-raises it itself
            raise
        else:
            future.set_result(resolution)
            if not resolution.unavailable_sources:
                self._memo[key] = resolution
                if len(self._memo) > MEMO_SIZE:
                    self._memo.popitem(last=False)
            return resolution, False
        finally:
            del self._shared[key]

    async def _cast_rows(self, row: InputRow) -> Results:
        title_query = row.title_only
        assert title_query is not None and self._cast is not None
        async with self._slots:
            listing = await list_cast(self._resolver, title_query, self._cast, self._options)
        if isinstance(listing, CastFailure):
            return [
                failure_result(
                    row,
                    listing.status,
                    f"Row {row.row}: {listing.message}",
                    query=title_query,
                    unavailable=listing.unavailable,
                )
            ]
        queries = [
            Query(
                character.character,
                title_query.title,
                title_query.year,
                listing.media_type,
                character.person,  # pinned: the billed person, never someone else
            )
            for character in listing.characters
        ]
        results = list(await asyncio.gather(*(self._one(row, q) for q in queries)))
        for rank, result in enumerate(results, start=1):
            result["cast_rank"] = rank
            result["cast_count"] = len(results)
        return results
