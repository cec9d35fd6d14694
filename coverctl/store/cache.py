"""The on-disk cache (diskcache), one directory per tier with the design's lifetimes.

Tiers:
- ``resolution``: finished resolutions, 14 days;
- ``response``: provider responses (search results, credits), 24 hours;
- ``search``: web image search results, kept until cleared;
- ``negative``: "nothing found" answers, 24 hours, so a batch does not ask again for the same miss;
- ``thumbnail``: small previews of pictures by URL (audit --html, review), 30 days.

Keys are built from normalised parts and hashed, so they never contain a secret or a raw URL.
Each entry is tagged with its source or provider so `cache clear --source S` can evict it (the
tags that go together are the provider specs': sources/registry.cache_tags_for).

`CacheBackend` is what every cache offers; `coverctl.store.open_cache` picks this one, or the
Redis one (store/redis_cache.py) when `COVERCTL_REDIS_URL` is set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from coverctl.constants import CacheTTL

if TYPE_CHECKING:
    import diskcache

KEY_VERSION = "v1"
TIERS: dict[str, int | None] = {
    "resolution": CacheTTL.RESOLUTION,
    "response": CacheTTL.PROVIDER_RESPONSE,
    "search": CacheTTL.WEB_SEARCH,
    "negative": CacheTTL.NEGATIVE,
    "thumbnail": CacheTTL.THUMBNAIL,
}


class _TierLifetime:
    """The type of TIER_LIFETIME, the default of `Cache.set(expire=...)`."""


TIER_LIFETIME = _TierLifetime()


def cache_key(namespace: str, *parts: object) -> str:
    """A stable, hashed key: `v1:<namespace>:<sha256 of the parts>`."""
    payload = json.dumps([str(p) if p is not None else None for p in parts], ensure_ascii=False)
    digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
    return f"{KEY_VERSION}:{namespace}:{digest}"


@dataclass(frozen=True)
class TierStats:
    tier: str
    entries: int
    bytes: int
    hits: int
    misses: int

    @property
    def hit_rate(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None


class CacheBackend(Protocol):
    """The cache every part of coverctl uses: tiers (TIERS), lifetimes, tags, statistics.

    Values must be JSON-shaped (dicts, lists, strings, numbers; bytes too): the Redis cache
    stores JSON.
    """

    refresh: bool
    location: str  # where it is, for people: a directory, or a Redis URL without its password

    def get(self, tier: str, key: str) -> Any | None: ...

    def set(
        self,
        tier: str,
        key: str,
        value: Any,
        *,
        tag: str | None = None,
        expire: float | _TierLifetime | None = TIER_LIFETIME,
    ) -> None: ...

    def delete(self, tier: str, key: str) -> None: ...

    def clear(
        self,
        *,
        tiers: Iterable[str] | None = None,
        expired_only: bool = False,
        tag: str | None = None,
    ) -> int: ...

    def stats(self) -> list[TierStats]: ...

    def evict_values(self, tier: str, predicate: Callable[[Any], bool]) -> int: ...

    def close(self) -> None: ...


class Cache:
    """All cache tiers under one directory.

    `refresh=True` makes every read of an entry written before this instance a miss; what this
    instance wrote itself is read back, so a `batch --refresh` fetches each title once, not once
    per row.
    """

    def __init__(self, directory: Path, *, refresh: bool = False) -> None:
        self.directory = directory
        self.refresh = refresh
        self.location = str(directory)
        # Provider answers and the TVDB session token live here: readable by the owner only.
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._tiers: dict[str, diskcache.Cache] = {}
        self._fresh: set[int] = set()  # hashes of (tier, key) written here, when refreshing

    def tier(self, name: str) -> diskcache.Cache:
        if name not in TIERS:
            raise KeyError(f"unknown cache tier {name!r}")
        cache = self._tiers.get(name)
        if cache is None:
            import diskcache  # on first use: commands that never read the cache skip it

            cache = diskcache.Cache(
                str(self.directory / name), tag_index=True, statistics=True, size_limit=2**32
            )
            self._tiers[name] = cache
        return cache

    def get(self, tier: str, key: str) -> Any | None:
        if self.refresh and hash((tier, key)) not in self._fresh:
            return None
        return self.tier(tier).get(key, default=None, retry=True)

    def set(
        self,
        tier: str,
        key: str,
        value: Any,
        *,
        tag: str | None = None,
        expire: float | _TierLifetime | None = TIER_LIFETIME,
    ) -> None:
        """Keep `value` under `key` for the tier's lifetime, or `expire` seconds (None: forever)
        when the value knows better (a session token that expires sooner)."""
        lifetime = TIERS[tier] if isinstance(expire, _TierLifetime) else expire
        self.tier(tier).set(key, value, expire=lifetime, tag=tag, retry=True)
        if self.refresh:
            self._fresh.add(hash((tier, key)))

    def delete(self, tier: str, key: str) -> None:
        self.tier(tier).delete(key, retry=True)

    def clear(
        self,
        *,
        tiers: Iterable[str] | None = None,
        expired_only: bool = False,
        tag: str | None = None,
    ) -> int:
        """Remove entries; returns how many. With `tag`, only entries of that source/provider."""
        removed = 0
        for name in tiers or TIERS:
            cache = self.tier(name)
            if expired_only:
                removed += cache.expire(retry=True)
            elif tag is not None:
                removed += cache.evict(tag, retry=True)
            else:
                removed += cache.clear(retry=True)
                cache.stats(enable=True, reset=True)
        return removed

    def stats(self) -> list[TierStats]:
        result = []
        for name in TIERS:
            cache = self.tier(name)
            hits, misses = cache.stats()
            result.append(
                TierStats(
                    tier=name, entries=len(cache), bytes=cache.volume(), hits=hits, misses=misses
                )
            )
        return result

    def evict_values(self, tier: str, predicate: Callable[[Any], bool]) -> int:
        """Remove the entries of ``tier`` whose value satisfies ``predicate``; returns how many.

        For maintenance (``dead-links --prune`` evicts resolutions of pruned URLs, whose hashed
        keys cannot be rebuilt from a stored row): it reads every entry of the tier. The reads
        are not counted as hits or misses, so ``cache stats`` keeps describing real lookups.
        """
        cache = self.tier(tier)
        counting = cache.statistics
        cache.reset("statistics", 0, update=False)  # this instance only, not the setting on disk
        removed = 0
        try:
            for key in list(cache.iterkeys()):
                value = cache.get(key, default=None, retry=True)
                if value is not None and predicate(value) and cache.delete(key, retry=True):
                    removed += 1
        finally:
            cache.reset("statistics", counting, update=False)
        return removed

    def close(self) -> None:
        for cache in self._tiers.values():
            cache.close()
        self._tiers.clear()
