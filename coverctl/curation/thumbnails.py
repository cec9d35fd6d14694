"""Small previews of pictures for people to look at (`audit --html`, `coverctl review`).

Each picture is fetched once through the guarded download (`net.pictures.download_image`; with
``untrusted=True`` a stored URL may not lead to this machine or a private network, on any redirect
hop, as for `dead-links`), checked and measured by `images.inspect_image`, downscaled by
`images.make_thumbnail` (about 160 px, WebP) and kept in the ``thumbnail`` cache tier by URL, so a
report or a review page regenerated tomorrow fetches nothing again. Local files (local overrides,
pinned files, BACKEND_URL addresses of files in the static directory) are read from disk.

A picture without a preview says why, in a word a person can act on (``PROBLEMS``): ``dead``
(the server said it is gone), ``not an image``, ``too small``, ``refused`` (a private address),
``unreachable`` (could not ask: never cached), ``missing file``, ``broken`` (corrupt). A failed
fetch is remembered for a day only (`constants.THUMBNAIL_FAILURE_TTL`): dead links heal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from coverctl.constants import IMAGE_NO_AUTH_PATH, THUMBNAIL_FAILURE_TTL, THUMBNAIL_PX
from coverctl.errors import ImageRejected, ProviderError

if TYPE_CHECKING:
    from coverctl.config import Settings
    from coverctl.images import Use
    from coverctl.sources.base import SourceContext

DEAD: Final = "dead"
NOT_AN_IMAGE: Final = "not an image"
TOO_SMALL: Final = "too small"
TOO_BIG: Final = "too big"
REFUSED: Final = "refused"
UNREACHABLE: Final = "unreachable"
MISSING_FILE: Final = "missing file"
BROKEN: Final = "broken"
PROBLEMS: Final = (
    DEAD,
    NOT_AN_IMAGE,
    TOO_SMALL,
    TOO_BIG,
    REFUSED,
    UNREACHABLE,
    MISSING_FILE,
    BROKEN,
)
TIER: Final = "thumbnail"
CONCURRENCY: Final = 8  # previews fetched at once (the image_fetch rate paces them too)


@dataclass(frozen=True)
class Thumbnail:
    """A preview of the picture at `url`, or why there is none."""

    url: str
    data: bytes | None = None  # the preview (WebP or JPEG), at most THUMBNAIL_PX a side
    mime: str | None = None
    width: int | None = None  # of the picture itself
    height: int | None = None
    image_hash: str | None = None  # perceptual hash of the picture
    problem: str | None = None  # one of PROBLEMS when there is no preview
    detail: str | None = None  # the sentence behind the problem
    fetched_at: float = 0.0

    @property
    def size(self) -> str | None:
        return f"{self.width}×{self.height}" if self.width and self.height else None

    def problem_for(self, use: Use) -> tuple[str, str] | None:
        """(problem, detail) for a picture meant for `use`: its own problem, or ``too small``
        when it is below that use's minimum size (it still has a preview then)."""
        from coverctl.images import MIN_DIMENSIONS

        if self.problem:
            return self.problem, self.detail or self.problem
        min_w, min_h = MIN_DIMENSIONS[use]
        if self.width is None or self.height is None:
            return None
        if self.width < min_w or self.height < min_h:
            return TOO_SMALL, (
                f"The picture is {self.width}×{self.height} pixels, below the {min_w}×{min_h} "
                f"minimum for a {use.value} picture."
            )
        return None

    def to_cache(self) -> dict[str, Any]:
        return asdict(self)


def _failure(url: str, problem: str, detail: str) -> Thumbnail:
    return Thumbnail(url, problem=problem, detail=detail, fetched_at=time.time())


def _download_problem(message: str) -> str:
    """The problem word for an ImageRejected raised while downloading."""
    if "answered HTTP" in message or "redirects more than" in message:
        return DEAD
    if "MB limit" in message:
        return TOO_BIG
    return REFUSED  # the address (or a redirect hop) is not allowed, or not http(s)


def _picture_problem(data: bytes, message: str) -> str:
    """The problem word for an ImageRejected raised while checking downloaded bytes."""
    from coverctl.images import ALLOWED_FORMATS, sniff_mime

    mime = sniff_mime(data)
    if mime is None or mime.removeprefix("image/").upper() not in ALLOWED_FORMATS:
        return NOT_AN_IMAGE
    if "below the" in message:
        return TOO_SMALL
    if "MB" in message and "limit" in message:
        return TOO_BIG
    return BROKEN


def render(url: str, data: bytes) -> Thumbnail:
    """Check `data` and make its preview (CPU-bound: run it in a worker thread)."""
    from coverctl.images import Use, inspect_image, make_thumbnail

    try:
        info = inspect_image(data, Use.ANY)
        preview, mime = make_thumbnail(data, THUMBNAIL_PX)
    except ImageRejected as exc:
        return _failure(url, _picture_problem(data, exc.message), exc.message)
    return Thumbnail(
        url,
        data=preview,
        mime=mime,
        width=info.width,
        height=info.height,
        image_hash=info.phash,
        fetched_at=time.time(),
    )


def local_file(url: str, settings: Settings) -> Path | None:
    """The file on this machine `url` stands for, if any: an absolute path, or a BACKEND_URL
    address of a file in the static directory (`/api/image-no-auth/...`)."""
    if url.startswith("/") and not url.startswith(("/image/", IMAGE_NO_AUTH_PATH)):
        return Path(url)
    prefix = f"{settings.backend_url}{IMAGE_NO_AUTH_PATH}" if settings.backend_url else None
    if prefix and url.startswith(prefix):
        relative = Path(url[len(prefix) :])
        if not relative.is_absolute() and ".." not in relative.parts:
            return settings.static_dir / relative
    return None


def _read_file(path: Path) -> bytes:
    from coverctl.images import MAX_IMAGE_BYTES

    with path.open("rb") as fh:
        return fh.read(MAX_IMAGE_BYTES + 1)


async def thumbnail(
    ctx: SourceContext, url: str, *, untrusted: bool = True, allow_private: bool = False
) -> Thumbnail:
    """The preview of the picture at `url`: from the cache, or fetched, checked and cached now.

    Never raises for a bad picture: the Thumbnail says what is wrong. `untrusted` (the default:
    a stored URL, a web result) lets the download reach public addresses only; False (a picture a
    provider listed) also the configured provider and service hosts; `allow_private` lifts the
    address rules (the user's `--allow-private`, or a URL the curator typed). The connection is
    pinned to the vetted address whatever the rules (net/guard.py).
    """
    path = local_file(url, ctx.settings)
    if path is not None:
        try:
            data = await asyncio.to_thread(_read_file, path)
        except OSError as exc:
            return _failure(url, MISSING_FILE, f"Cannot read {path}: {exc.strerror or exc}.")
        return await asyncio.to_thread(render, url, data)
    if not url.startswith(("http://", "https://")):
        return _failure(url, REFUSED, "The picture's address is neither a file nor http(s).")

    from coverctl.store.cache import cache_key

    key = cache_key(TIER, url)
    cached = ctx.cache.get(TIER, key)
    if isinstance(cached, dict):
        known = Thumbnail(**cached)
        if known.problem is None or time.time() - known.fetched_at < THUMBNAIL_FAILURE_TTL:
            return known

    from coverctl.net.pictures import download_image

    try:
        data = await download_image(ctx, url, untrusted=untrusted, allow_private=allow_private)
    except ImageRejected as exc:
        made = _failure(url, _download_problem(exc.message), exc.message)
    except ProviderError as exc:
        # Not a verdict on the picture (a timeout, an outage): not remembered.
        return _failure(url, UNREACHABLE, exc.message)
    else:
        made = await asyncio.to_thread(render, url, data)
    ctx.cache.set(TIER, key, made.to_cache(), tag=TIER)
    return made


async def thumbnails(
    ctx: SourceContext, urls: Iterable[str], *, untrusted: bool = True, allow_private: bool = False
) -> dict[str, Thumbnail]:
    """Previews of several pictures, each URL once, a few at a time."""
    gate = asyncio.Semaphore(CONCURRENCY)
    wanted = list(dict.fromkeys(u for u in urls if u))

    async def one(url: str) -> Thumbnail:
        async with gate:
            return await thumbnail(ctx, url, untrusted=untrusted, allow_private=allow_private)

    found = await asyncio.gather(*(one(url) for url in wanted))
    return dict(zip(wanted, found, strict=True))


def fetch_thumbnails(
    urls: Iterable[str],
    settings: Settings,
    *,
    untrusted: bool = True,
    allow_private: bool = False,
    transport: Any = None,
) -> dict[str, Thumbnail]:
    """`thumbnails` for synchronous callers (the audit report): opens and closes its own client,
    cache and store."""
    from coverctl.resolver import close_resolver, open_resolver

    async def run() -> dict[str, Thumbnail]:
        resolver = open_resolver(settings, transport=transport, policy=PREVIEW_RETRIES)
        try:
            return await thumbnails(
                resolver.context, urls, untrusted=untrusted, allow_private=allow_private
            )
        finally:
            await close_resolver(resolver)

    return asyncio.run(run())


def _preview_policy() -> Any:
    from coverctl.net.http import RetryPolicy

    # A preview is decoration: one quick retry, then the card says "unreachable".
    return RetryPolicy(attempts=2, wait_initial=0.2, wait_max=1.0, wait_jitter=0.1)


PREVIEW_RETRIES: Final = _preview_policy()
