"""Where coverctl keeps things: the image store, batch progress, and the cache.

`open_cache(settings)` is the one place a cache is made: the disk cache under COVERCTL_HOME, or
the Redis cache shared by every worker when COVERCTL_REDIS_URL is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coverctl.config import Settings
    from coverctl.store.cache import CacheBackend

__all__ = ["open_cache"]


def open_cache(settings: Settings, *, refresh: bool = False) -> CacheBackend:
    """The configured cache (see store/cache.py for `refresh`). Close it with `.close()`.

    Raises RedisUnavailable (exit 4, naming COVERCTL_REDIS_URL) when Redis does not answer.
    """
    if settings.redis_url is not None:
        from coverctl.store.redis_cache import RedisCache

        return RedisCache(settings.redis_url.reveal(), refresh=refresh)
    from coverctl.store.cache import Cache

    return Cache(settings.cache_dir, refresh=refresh)
