"""Downloading a candidate picture and checking it before it is accepted.

Used by the resolver's picture checks (by default the pictures of sources whose URLs are often
dead, ProviderSpec.picture_trust; every picture with `--verify`), by web image search (always: every
result is a stranger's picture) and by AI generation (the output is checked before it is stored).

- Downloads go through the shared client under a gate of their own per image host,
  ``image_fetch:<host>`` (rate ``image_fetch``, at most ``IMAGE_HOST_CONCURRENCY`` in flight), so
  they never wait on an API's pacing or Retry-After pause and a dead image host never opens an
  API's breaker; with a short timeout and a size cap (``images.MAX_IMAGE_BYTES``): the body is
  streamed and cut off past the cap, never buffered whole.
- Only http(s) URLs, and every download goes through the network guard (coverctl.net.guard, as
  `dead-links` does): the host may not be ``localhost`` or be, or resolve to, a loopback,
  private, link-local or reserved address, and the connection goes to the address that was
  vetted, never to a second DNS answer (no rebinding). A provider's picture and a service's
  asset may also come from the exact host and port of a configured provider or service URL
  (Settings.provider_urls: a local fake, an on-premise mirror); a web result may not.
  Redirects of an untrusted URL (a web search result) are followed one hop at a time (at most
  ``MAX_IMAGE_REDIRECTS``), each under its own host's gate; httpx follows those of a trusted
  one. Either way every hop goes through the guard again.
- The check itself (Pillow, numpy) is CPU-bound and runs in a worker thread.
- Verdicts are cached for 24 h in the response tier by URL and use: a rejected URL is not fetched
  again, an accepted one keeps its measurements. A transient failure (timeout, 5xx, open circuit)
  is never cached: it raises ProviderError and the caller treats the source as unavailable.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

import httpx

from coverctl.constants import Source
from coverctl.errors import AddressRefused, ImageRejected, ResponseTooLarge
from coverctl.net.guard import AllowRules, refusal_without_lookup
from coverctl.sources.base import SourceContext
from coverctl.urls import is_remote as is_remote  # re-exported: callers check URLs here

if TYPE_CHECKING:
    from coverctl.images import ImageInfo, Use

IMAGE_FETCH_PROVIDER: Final = "image_fetch"
MAX_IMAGE_REDIRECTS: Final = 3
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
IMAGE_FETCH_TIMEOUT: Final = 8.0  # seconds; an image host slower than this is not worth waiting
_VERDICT_NAMESPACE: Final = "image-check"


def image_host_of(gate: str) -> str | None:
    """The image host a gate name such as "image_fetch:artworks.thetvdb.com" paces picture
    downloads for; None for an API's gate ("tvdb")."""
    family, _, host = gate.partition(":")
    return host if family == IMAGE_FETCH_PROVIDER and host else None


def image_use(source: str) -> Use:
    """What a source's picture is for: a book cover is a poster, everything else a profile."""
    from coverctl.images import Use

    return Use.POSTER if source == Source.HARDCOVER else Use.PROFILE


def url_problem(url: str, *, untrusted: bool) -> str | None:
    """Why `url` may not be downloaded, or None. Pure: no name is resolved (the guard resolves
    and vets the rest when the request is sent)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "The image URL is not an http(s) URL."
    if not untrusted:
        return None
    refusal = refusal_without_lookup(parts.hostname)
    return None if refusal is None else refusal_sentence(refusal)


def refusal_sentence(refusal: AddressRefused) -> str:
    """The network guard's refusal, said of a picture."""
    if refusal.kind == AddressRefused.LOCAL_NAME:
        return "The image URL points to this machine (localhost)."
    if refusal.kind == AddressRefused.RESOLVED:
        host = refusal.host.rstrip(".")
        return f"The image host {host} resolves to a private or local network address."
    return "The image URL points to a private or local network address."


def guard_rules(ctx: SourceContext, *, untrusted: bool, allow_private: bool = False) -> AllowRules:
    """What the network guard lets a download reach beyond public addresses: nothing for an
    untrusted URL, the configured provider and service hosts for a provider's picture, any
    address when the user asked for it (`--allow-private`)."""
    if allow_private:
        return AllowRules(private=True)
    if untrusted:
        return AllowRules()
    return AllowRules.for_urls(ctx.settings.provider_urls())


def is_provider_picture_host(host: str) -> bool:
    """Whether `host` is one of the providers' own picture hosts (their specs' PictureHosts:
    image.tmdb.org, artworks.thetvdb.com...). A name starting with "." covers its subdomains."""
    from coverctl.sources.registry import specs
    from coverctl.sources.spec import HostRule, host_matches

    host = host.rstrip(".").lower()
    return any(
        host_matches(host, name)
        for spec in specs()
        if spec.hosts.rule is not HostRule.ANY
        for name in spec.hosts.names
    )


async def download_image(
    ctx: SourceContext,
    url: str,
    *,
    untrusted: bool = False,
    max_bytes: int | None = None,
    accept: str = "image/*",
    allow_private: bool = False,
) -> bytes:
    """The bytes at `url`. ImageRejected when the URL or its answer rules the picture out;
    ProviderError (unavailable) when the host could not be asked.

    `max_bytes` (default ``images.MAX_IMAGE_BYTES``) and `accept` let the image services fetch
    the other assets they produce (a generated video) through the same guard. `allow_private`
    lifts the address rules (the user's `--allow-private`); the connection is still pinned."""
    from coverctl.images import MAX_IMAGE_BYTES

    limit = MAX_IMAGE_BYTES if max_bytes is None else max_bytes
    rules = guard_rules(ctx, untrusted=untrusted, allow_private=allow_private)
    current = url
    for _hop in range(MAX_IMAGE_REDIRECTS + 1):
        problem = url_problem(current, untrusted=untrusted and not allow_private)
        if problem:
            raise ImageRejected(problem)
        try:
            # One gate per host: a dead web-result host must not open the breaker for
            # image.tmdb.org downloads.
            host = (urlsplit(current).hostname or "").lower()
            # A provider's own picture host (its CDN) is fetched like its API: through the
            # ordinary client, which honours the environment's proxy settings; every other host,
            # and every redirect hop that leaves those hosts, goes through the guard.
            own_cdn = not untrusted and not allow_private and is_provider_picture_host(host)
            response = await ctx.http.request(
                f"{IMAGE_FETCH_PROVIDER}:{host}",
                "GET",
                current,
                headers={"Accept": accept},
                timeout=IMAGE_FETCH_TIMEOUT,
                max_bytes=limit,
                follow_redirects=False,  # each hop comes back here to be judged
                guard=None if own_cdn else rules,
            )
        except AddressRefused as refused:
            raise ImageRejected(refusal_sentence(refused)) from None
        except ResponseTooLarge:
            raise ImageRejected(
                f"Image is over the {limit // 1024 // 1024} MB limit; the download was stopped."
            ) from None
        location = response.headers.get("location")
        if not (response.status_code in _REDIRECT_STATUSES and location):
            break
        current = str(httpx.URL(current).join(location))
    else:
        raise ImageRejected(f"The image URL redirects more than {MAX_IMAGE_REDIRECTS} times.")
    if response.status_code != 200:
        raise ImageRejected(f"The image URL answered HTTP {response.status_code}, not an image.")
    return response.content


async def inspect_bytes(data: bytes, use: Use) -> ImageInfo:
    """images.inspect_image in a worker thread (it decodes pixels: keep it off the event loop)."""
    from coverctl.images import inspect_image

    return await asyncio.to_thread(inspect_image, data, use)


async def fetch_and_inspect(
    ctx: SourceContext, url: str, use: Use, *, untrusted: bool = False
) -> tuple[bytes, ImageInfo]:
    """Download and check one picture (no verdict cache): its bytes and measurements."""
    data = await download_image(ctx, url, untrusted=untrusted)
    return data, await inspect_bytes(data, use)


async def check_image(
    ctx: SourceContext, url: str, use: Use, *, untrusted: bool = False
) -> ImageInfo:
    """The measurements of the picture at `url`, from the 24 h verdict cache or downloaded and
    checked now. Raises ImageRejected (cached too) or ProviderError (not cached). Concurrent
    checks of one URL share one download (rows of a batch often share a picture)."""
    from coverctl.images import ImageInfo
    from coverctl.store.cache import cache_key

    key = cache_key(_VERDICT_NAMESPACE, url, use.value, untrusted)
    verdict = ctx.cache.get("response", key)
    if isinstance(verdict, dict):
        if isinstance(verdict.get("rejected"), str):
            raise ImageRejected(verdict["rejected"])
        if isinstance(verdict.get("info"), dict):
            return ImageInfo(**verdict["info"])

    async def download_and_judge() -> ImageInfo:
        try:
            _, info = await fetch_and_inspect(ctx, url, use, untrusted=untrusted)
        except ImageRejected as exc:
            ctx.cache.set("response", key, {"rejected": exc.message}, tag=IMAGE_FETCH_PROVIDER)
            raise
        passed = {"info": dataclasses.asdict(info)}
        ctx.cache.set("response", key, passed, tag=IMAGE_FETCH_PROVIDER)
        return info

    return await ctx.http.single_flight(key, download_and_judge)
