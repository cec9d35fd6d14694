"""What every image source looks like, and what it is given to work with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

from coverctl.errors import ProviderResponseError
from coverctl.models import Candidate, Query

if TYPE_CHECKING:
    import httpx

    from coverctl.config import Settings
    from coverctl.net.http import HttpClient
    from coverctl.sources.tmdb import CastListing
    from coverctl.store.cache import CacheBackend
    from coverctl.store.interfaces import ImageStore

T = TypeVar("T")


@dataclass
class SourceContext:
    """Shared, long-lived things a source may use. One per process (or per batch)."""

    settings: Settings
    http: HttpClient
    cache: CacheBackend
    store: ImageStore


@dataclass
class SourceAnswer:
    """Candidates a source found (best first), or an empty list and the reason why not."""

    candidates: list[Candidate] = field(default_factory=list)
    reason: str = ""

    @classmethod
    def none(cls, reason: str) -> SourceAnswer:
        return cls([], reason)


class ImageSource(Protocol):
    """One step of the cascade. Sources never print; they return answers or raise our errors."""

    name: ClassVar[str]  # the step's name, e.g. "tmdb_movie" (shown by --explain)
    provider: ClassVar[str | None]  # the rate-limited provider it calls, or None for local steps

    def unavailable_reason(self, settings: Settings) -> str | None:
        """None when the source can run; else why not (e.g. which variable is missing: the
        resolver checks the spec's key variable first, so a new source need not)."""
        ...

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer: ...


# Optional abilities: a source has one by defining its method, and callers ask with isinstance.


@runtime_checkable
class CandidateLister(ImageSource, Protocol):
    """A source that can offer every picture it has for a query, not only its best answer
    (`coverctl candidates`, the review page's alternatives).

    The candidates pass the same identity guard as `find` (the matched person's other photos,
    never another person's); `find`'s answer comes first. An empty answer carries the reason.
    """

    async def candidates(self, query: Query, ctx: SourceContext) -> SourceAnswer: ...


@runtime_checkable
class CastLister(ImageSource, Protocol):
    """A source that can list a title's billed characters (`batch --cast N`: TMDB)."""

    async def top_cast(self, query: Query, ctx: SourceContext, n: int) -> CastListing: ...


@runtime_checkable
class GenerationCounter(Protocol):
    """A generation source's counts for the batch summary and metrics."""

    failures: int  # predictions that failed
    durations: list[float]  # seconds each stored picture took


@runtime_checkable
class Switchable(Protocol):
    """A source a user can turn off on purpose (COVERCTL_WEB_SEARCH=0): the resolver then skips
    it without the notice a missing key gets."""

    def turned_off(self, settings: Settings) -> bool: ...


async def cached_response(
    ctx: SourceContext,
    provider: str,
    key_parts: tuple[object, ...],
    fetch: Callable[[], Awaitable[T]],
) -> T:
    """A provider answer from the 24 h response cache, else fetched once (single-flight) and kept.

    Once per process, and with COVERCTL_REDIS_URL once for every worker of the fleet (the others
    read it from the shared cache). `key_parts` must not contain secrets; they are hashed into
    the key anyway.
    """
    from coverctl.store.cache import cache_key

    key = cache_key(f"{provider}-response", *key_parts)
    cached = ctx.cache.get("response", key)
    if cached is not None:
        return cached

    async def fetch_and_store() -> T:
        value = await fetch()
        ctx.cache.set("response", key, value, tag=provider)
        return value

    return await ctx.http.single_flight(
        key, fetch_and_store, published=lambda: ctx.cache.get("response", key)
    )


async def remembered_works(
    ctx: SourceContext,
    provider: str,
    key_parts: tuple[object, ...],
    choose: Callable[[], Awaitable[list[dict[str, Any]]]],
) -> list[dict[str, Any]]:
    """The works a title string resolved to (its normalised title, year and media in
    `key_parts`), remembered in the response tier like a provider answer; else `choose()` once.

    Choosing between works that share a title, or that are only a variant of it, may look
    several of them up; remembering the outcome lets every later character of that title go
    straight to the same works, for no request.
    """
    return await cached_response(ctx, provider, ("title-works", *key_parts), choose)


def json_body(response: httpx.Response, provider: str) -> Any:
    """The response's JSON, or ProviderResponseError when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        raise ProviderResponseError(
            provider, f"answered HTTP {response.status_code} with a body that is not JSON"
        ) from None


def expect_dict(value: Any, provider: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProviderResponseError(provider, f"{what} is not a JSON object")
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def year_of(date: Any) -> int | None:
    """2008 from "2008-07-16" (or 2008, or "2008"); None for empty or junk."""
    if isinstance(date, int) and not isinstance(date, bool):
        return date if 1800 < date < 3000 else None
    text = as_str(date)
    return int(text[:4]) if len(text) >= 4 and text[:4].isdigit() else None
