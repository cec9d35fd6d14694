"""Where coverctl keeps things: the image store (with batch progress), and the cache.

`open_store(settings)` is the one place a store is opened: the embedded SQLite file under
COVERCTL_HOME by default, or the PostgreSQL database COVERCTL_DATABASE_URL names (shared by every
worker on every host); both behind `interfaces.ImageStore`. `open_cache(settings)` is the one
place a cache is made: the disk cache under COVERCTL_HOME, or the Redis cache shared by every
worker when COVERCTL_REDIS_URL is set. Engines are imported lazily: `coverctl --help` loads none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coverctl.config import Settings
    from coverctl.store.cache import CacheBackend
    from coverctl.store.interfaces import ImageStore

__all__ = ["DATABASE_URL_VAR", "is_engine_error", "open_cache", "open_store"]

DATABASE_URL_VAR = "COVERCTL_DATABASE_URL"


def open_store(settings: Settings) -> ImageStore:
    """Open (creating and migrating as needed) the store `settings` point at.

    Raises StoreError (exit 4) when it cannot be opened: a damaged or unwritable file, or a
    PostgreSQL server that cannot be reached or refuses the login (the message names
    COVERCTL_DATABASE_URL, never its password).
    """
    if settings.database_url:
        from coverctl.store.postgres import PostgresStore

        return PostgresStore.open(settings.database_url.reveal())
    from coverctl.store.db import SqliteStore

    return SqliteStore(settings.db_path)


def open_cache(settings: Settings, *, refresh: bool = False) -> CacheBackend:
    """The configured cache (see store/cache.py for `refresh`). Close it with `.close()`.

    Raises RedisUnavailable (exit 4, naming COVERCTL_REDIS_URL) when Redis does not answer.
    """
    if settings.redis_url is not None:
        from coverctl.store.redis_cache import RedisCache

        return RedisCache(settings.redis_url.reveal(), refresh=refresh)
    from coverctl.store.cache import Cache

    return Cache(settings.cache_dir, refresh=refresh)


def is_engine_error(exc: BaseException) -> bool:
    """Whether `exc` is the embedded database engine's own error (a damaged or locked SQLite
    file) that escaped a store method: the CLI then says so in one sentence instead of
    "unexpected error". Only the store knows which engines it uses."""
    return type(exc).__module__ == "sqlite3"
