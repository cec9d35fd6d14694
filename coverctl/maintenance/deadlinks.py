"""Check every stored image URL, record the outcome on its rows, optionally prune dead rows.

Each distinct URL is checked once, however many rows share it (one actor's TMDB photo serves
each of their roles). Remote URLs go through :func:`coverctl.net.linkcheck.check_links` (bounded
concurrency, a per-host limit, the SSRF guard on every redirect hop); a local override file
(a ``character_specific`` or ``ai_generated`` row whose URL is an absolute path) is checked on
disk: it exists, is readable and starts like an image Pillow can open.

Every result is written to its rows as ``last_checked`` (ISO-8601 UTC) and ``last_status``
(``ok``, ``http_404``, ``soft_404``, ``timeout``, ``missing_file``... see ``STATUS_MEANINGS``),
in batches of ``commit_every`` results, so an interrupted run keeps what it checked and
``--stale`` continues where it stopped.

Pruning deletes rows; it does not mark them. The store's job is to hold pictures worth showing,
``last_status`` already marks a failing row for ``audit``, and a deleted row is simply resolved
again on the next request. Because deleting is final, it is careful:

* only *confirmed* dead rows go - the server or the disk said the picture is gone
  (``PRUNABLE_STATUSES``: 404, 410, a web page or other non-image instead of the picture, a
  missing or non-image file). Timeouts, connection and DNS errors, 5xx, 429, 401/403, refused
  addresses and malformed URLs are reported and counted as dead, never pruned: they may pass,
  or they are data problems for ``audit --fix``;
* it happens once, at the end, after every check, so an interrupted run prunes nothing;
* ``max_prune`` (default 10% of the rows checked) refuses the whole prune when more rows would
  go - a CDN outage or a captive portal answering every URL with a web page must not empty the
  store overnight;
* a row is deleted only if it still holds the URL that was checked (a batch may have replaced it
  meanwhile);
* a ``pinned`` row (a curator's choice, `coverctl pin`) is never deleted: it is reported in
  ``pinned_rows`` of its dead link and counted in ``prune.pinned_kept``, for a person to re-pin
  or unpin;
* cached resolutions that point at a pruned URL are evicted (matched by value: resolution cache
  keys are hashes of the query, which a row does not fully record), so the next request for
  that character resolves afresh instead of returning the dead picture from the cache.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from coverctl.errors import UsageError
from coverctl.store.interfaces import ImageStore

__all__ = [
    "PRUNABLE_STATUSES",
    "DeadLink",
    "DeadLinkOptions",
    "DeadLinkReport",
    "check_local_file",
    "check_store",
    "parse_duration",
    "parse_max_prune",
]

log = logging.getLogger(__name__)

OK: Final = "ok"
MISSING_FILE: Final = "missing_file"
UNREADABLE_FILE: Final = "unreadable_file"
NOT_AN_IMAGE: Final = "not_an_image"

STATUS_MEANINGS: Final = {
    OK: "alive (an image)",
    "http_<code>": "the server answered this 4xx/5xx status",
    "soft_404": "the server answered 2xx with a web page instead of the image",
    "not_image": "the server answered 2xx with something that is not an image",
    "refused_scheme": "not an http(s) URL (file:, data:, a bare path...)",
    "refused_private": "points at a loopback/private/link-local address (see --allow-private)",
    "too_many_redirects": "more redirects than allowed",
    "timeout": "no answer in time",
    "connection_error": "could not connect",
    "dns_error": "the host name did not resolve",
    "invalid_url": "not a valid URL",
    MISSING_FILE: "a local file that does not exist",
    UNREADABLE_FILE: "a local file that cannot be read",
    NOT_AN_IMAGE: "a local file that is not an image",
}
PRUNABLE_STATUSES: Final = frozenset(
    {"http_404", "http_410", "soft_404", "not_image", MISSING_FILE, NOT_AN_IMAGE}
)
# Which rows are local files is the store's to say (ImageStore.link_groups(local=True)):
# absolute paths of override files and AI pictures kept on disk. Backend-relative paths
# ("/image/...", "/api/image-no-auth/...", served through BACKEND_URL) are not files here: they go
# to the link checker, which reports them without ever pruning them.
_SEP: Final = "\x1f"  # joins a URL's row ids into the one key the link checker hands back
_LOCAL_READ_BYTES: Final = 64 * 1024


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d``, ``2w`` (a bare number is days) -> timedelta; UsageError else."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text or "", re.I)
    if not match:
        raise UsageError(f"--stale expects a duration such as 12h, 7d or 2w, got {text!r}.")
    value = float(match.group(1))
    unit = (match.group(2) or "d").lower()
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}[unit]
    return timedelta(seconds=value * seconds)


def parse_max_prune(text: str) -> tuple[int | None, float | None]:
    """``250`` -> (250, None); ``10%`` -> (None, 0.10). UsageError for anything else."""
    text = (text or "").strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", text)
    if match:
        percent = float(match.group(1))
        if percent > 100:
            raise UsageError(f"--max-prune cannot exceed 100%, got {text!r}.")
        return None, percent / 100
    if text.isdigit():
        return int(text), None
    raise UsageError(
        f"--max-prune expects a row count such as 500 or a share such as 10%, got {text!r}."
    )


@dataclass(frozen=True)
class DeadLinkOptions:
    concurrency: int = 50
    per_host: int = 8
    stale: timedelta | None = None  # None: check every row
    prune: bool = False
    max_prune: str = "10%"
    allow_private: bool = False
    allow_hosts: tuple[str, ...] = ()
    timeout: float = 10.0
    max_redirects: int = 5
    commit_every: int = 500

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.per_host < 1:
            raise UsageError("--concurrency and --per-host must be at least 1.")
        if not math.isfinite(self.timeout) or self.timeout <= 0:
            raise UsageError("--timeout must be a positive number of seconds.")
        if self.commit_every < 1:
            raise UsageError("commit_every must be at least 1.")
        parse_max_prune(self.max_prune)

    def prune_limit(self, rows_checked: int) -> int:
        count, share = parse_max_prune(self.max_prune)
        if count is not None:
            return count
        assert share is not None
        return math.floor(share * rows_checked + 1e-9)


@dataclass
class DeadLink:
    url: str
    status: str
    detail: str
    http_status: int | None
    final_url: str | None
    row_ids: list[str]
    prunable: bool
    pruned: bool = False
    pinned_row_ids: list[str] = field(default_factory=list)  # kept by --prune whatever happens

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "detail": self.detail,
            "http_status": self.http_status,
            "final_url": self.final_url,
            "row_ids": self.row_ids,
            "prunable": self.prunable,
            "pruned": self.pruned,
            "pinned_rows": self.pinned_row_ids,
        }


@dataclass
class DeadLinkReport:
    options: DeadLinkOptions
    urls_total: int = 0  # distinct URLs due for a check
    urls_checked: int = 0
    rows_checked: int = 0
    rows_skipped_fresh: int = 0
    alive_urls: int = 0
    alive_rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # per URL
    dead: list[DeadLink] = field(default_factory=list)
    pruned_rows: int = 0
    pinned_kept: int = 0  # confirmed-dead pinned rows --prune kept (a person decides)
    prune_refused: str | None = None
    cache_entries_evicted: int = 0
    elapsed_ms: int = 0

    @property
    def dead_urls(self) -> int:
        return len(self.dead)

    @property
    def dead_rows(self) -> int:
        return sum(len(d.row_ids) for d in self.dead)

    def to_json(self) -> dict[str, Any]:
        return {
            "urls_checked": self.urls_checked,
            "rows_checked": self.rows_checked,
            "rows_skipped_fresh": self.rows_skipped_fresh,
            "alive_urls": self.alive_urls,
            "alive_rows": self.alive_rows,
            "dead_urls": self.dead_urls,
            "dead_rows": self.dead_rows,
            "statuses": dict(sorted(self.statuses.items())),
            "prune": {
                "requested": self.options.prune,
                "max_prune": self.options.max_prune,
                "pruned_rows": self.pruned_rows,
                "pinned_kept": self.pinned_kept,
                "refused": self.prune_refused,
                "cache_entries_evicted": self.cache_entries_evicted,
            },
            "dead_links": [d.to_json() for d in self.dead],
            "elapsed_ms": self.elapsed_ms,
        }


# --------------------------------------------------------------------------------------------
# Local files


def check_local_file(path: str) -> tuple[str, str]:
    """(status, detail) for a local image file: exists, readable, an image Pillow can open."""
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    from coverctl.images import sniff_mime

    file = Path(path)
    try:
        if not file.is_file():
            what = "is not a regular file" if file.exists() else "does not exist"
            return MISSING_FILE, f"Local file {path} {what}."
        with file.open("rb") as handle:
            head = handle.read(_LOCAL_READ_BYTES)
    except OSError as exc:
        return UNREADABLE_FILE, f"Local file {path} cannot be read ({exc.strerror or exc})."
    mime = sniff_mime(head)
    if mime is None:
        return NOT_AN_IMAGE, f"Local file {path} is not an image."
    try:
        with Image.open(BytesIO(head)) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError, ValueError):
        return NOT_AN_IMAGE, f"Local file {path} is not a readable image ({mime})."
    if width < 1 or height < 1:
        return NOT_AN_IMAGE, f"Local file {path} has no pixels."
    return OK, f"Local image file is readable ({mime})."


# --------------------------------------------------------------------------------------------
# The run


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@dataclass
class _Item:
    url: str
    row_ids: list[str]


class _Writer:
    """Writes link results to their rows, ``commit_every`` results per transaction."""

    def __init__(self, store: ImageStore, every: int) -> None:
        self._store = store
        self._every = every
        self._pending: list[tuple[str, str, str]] = []
        self._results = 0

    def add(self, checked_at: str, status: str, row_ids: list[str]) -> None:
        self._pending.extend((checked_at, status, row_id) for row_id in row_ids)
        self._results += 1
        if self._results >= self._every:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        self._store.mark_checked(self._pending)
        self._pending.clear()
        self._results = 0


def _checked_before(options: DeadLinkOptions, now: datetime) -> str | None:
    """With --stale, rows checked before this instant are due again; None: every row is due."""
    return None if options.stale is None else _iso(now - options.stale)


async def _local_results(
    items: Iterator[tuple[str, str]], concurrency: int
) -> AsyncIterator[tuple[str, str, str, str]]:
    """(url, ids, status, detail) for local files, checked in worker threads, a few at a time."""
    running: set[asyncio.Task[tuple[str, str, str, str]]] = set()

    async def one(url: str, ids: str) -> tuple[str, str, str, str]:
        status, detail = await asyncio.to_thread(check_local_file, url)
        return url, ids, status, detail

    limit = min(concurrency, 8)
    try:
        for url, ids in items:
            running.add(asyncio.create_task(one(url, ids)))
            if len(running) >= limit:
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield task.result()
        while running:
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                yield task.result()
    finally:
        for task in running:
            task.cancel()


async def check_store(
    store: ImageStore,
    options: DeadLinkOptions | None = None,
    *,
    cache: Any = None,
    on_progress: Callable[[int, int], None] | None = None,
    client: Any = None,
    resolve: Any = None,
    now: Callable[[], datetime] = _utc_now,
) -> DeadLinkReport:
    """Check the store's URLs (those due, with ``options.stale``), record, report, maybe prune.

    ``cache`` (a :class:`coverctl.store.cache.CacheBackend`) is where resolutions of pruned URLs are
    evicted. ``on_progress(done, total)`` is called after each URL. ``client`` and ``resolve``
    are passed to ``check_links`` (tests).
    """
    from coverctl.net.linkcheck import check_links

    options = options or DeadLinkOptions()
    report = DeadLinkReport(options)
    started = time.perf_counter()
    due = _checked_before(options, now())
    local_urls, local_rows = store.link_check_counts(local=True, checked_before=due)
    remote_urls, remote_rows = store.link_check_counts(local=False, checked_before=due)
    report.urls_total = local_urls + remote_urls
    report.rows_skipped_fresh = store.count() - local_rows - remote_rows
    log.info(
        "dead-links: %d URLs on %d rows to check (%d rows checked recently are skipped)",
        report.urls_total,
        local_rows + remote_rows,
        report.rows_skipped_fresh,
    )
    writer = _Writer(store, options.commit_every)

    def record(
        url: str,
        ids: str,
        status: str,
        detail: str,
        http: int | None,
        final: str | None,
    ) -> None:
        row_ids = ids.split(_SEP)
        writer.add(_iso(now()), status, row_ids)
        report.urls_checked += 1
        report.rows_checked += len(row_ids)
        report.statuses[status] += 1
        if status == OK:
            report.alive_urls += 1
            report.alive_rows += len(row_ids)
        else:
            report.dead.append(
                DeadLink(url, status, detail, http, final, row_ids, status in PRUNABLE_STATUSES)
            )
        if on_progress is not None:
            on_progress(report.urls_checked, report.urls_total)

    try:
        async for url, ids, status, detail in _local_results(
            (
                (url, _SEP.join(ids))
                for url, ids in store.link_groups(local=True, checked_before=due)
            ),
            options.concurrency,
        ):
            record(url, ids, status, detail, None, None)
        async for result in check_links(
            # (key, url): the ids are the key the checker hands back with the result
            (
                (_SEP.join(ids), url)
                for url, ids in store.link_groups(local=False, checked_before=due)
            ),
            concurrency=options.concurrency,
            per_host=options.per_host,
            allow_private=options.allow_private,
            allow_hosts=options.allow_hosts,
            timeout=options.timeout,
            max_redirects=options.max_redirects,
            client=client,
            resolve=resolve,
        ):
            record(
                result.url,
                result.key,
                result.status,
                result.detail,
                result.http_status,
                result.final_url,
            )
    finally:
        writer.flush()  # also when interrupted: what was checked stays checked

    if options.prune:
        _prune(store, report, cache)
    report.dead.sort(key=lambda d: (not d.prunable, d.status, d.url))
    report.elapsed_ms = round((time.perf_counter() - started) * 1000)
    return report


def _prune(store: ImageStore, report: DeadLinkReport, cache: Any) -> None:
    doomed = [d for d in report.dead if d.prunable]
    pinned = store.pinned_row_ids([row_id for d in doomed for row_id in d.row_ids])
    for dead in doomed:
        dead.pinned_row_ids = [row_id for row_id in dead.row_ids if row_id in pinned]
    report.pinned_kept = len(pinned)
    if pinned:
        log.warning(
            "dead-links: %d pinned rows point at dead pictures and are kept; pin another "
            "picture or unpin them (coverctl pin / unpin)",
            len(pinned),
        )
    rows = sum(len(d.row_ids) for d in doomed) - len(pinned)
    if not rows:
        return
    limit = report.options.prune_limit(report.rows_checked)
    if rows > limit:
        report.prune_refused = (
            f"{rows} confirmed-dead rows exceed --max-prune {report.options.max_prune} "
            f"(at most {limit} of the {report.rows_checked} rows checked); nothing was pruned. "
            "If they are really gone, rerun with a higher --max-prune."
        )
        log.warning("dead-links: %s", report.prune_refused)
        return
    deleted = store.delete_if_url(
        [(row_id, dead.url) for dead in doomed for row_id in dead.row_ids if row_id not in pinned]
    )
    for dead in doomed:
        dead.pruned = deleted.get(dead.url, 0) > 0
        report.pruned_rows += deleted.get(dead.url, 0)
    urls = {d.url for d in doomed if d.pruned}
    if cache is not None and urls:
        report.cache_entries_evicted = cache.evict_values(
            "resolution", lambda value: isinstance(value, dict) and value.get("image_url") in urls
        )
    log.info(
        "dead-links: pruned %d rows; evicted %d cached resolutions",
        report.pruned_rows,
        report.cache_entries_evicted,
    )
