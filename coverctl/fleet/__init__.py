"""What every worker on every host shares through Redis, when `COVERCTL_REDIS_URL` is set.

- `limiter.SharedLimiter`: each provider's request rate for the whole fleet (GCRA in one Lua
  script, timed by the Redis server's clock) and the Retry-After pause one 429 imposes on all;
- `flight.single_flight`: one fetch of a provider answer (a title's search, its credits) for the
  whole fleet, the others wait for it in the shared cache;
- `locks.redis_command_lock`: `audit --fix` and `dead-links` on two cron hosts never overlap.

The cache tiers themselves are `coverctl.store.redis_cache.RedisCache`. Without the variable none
of this is imported: the in-process limiter, the disk cache and file locks are used as before.
Redis is imported lazily (`coverctl --help` stays fast; the `redis` extra is optional).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from coverctl.config import Settings
    from coverctl.fleet.limiter import SharedLimiter

__all__ = ["Fleet", "open_fleet"]

T = TypeVar("T")


class Fleet:
    """One worker's handle on the shared coordination state (an asyncio Redis client).

    Create it where an event loop will use it (HttpClient closes it with `aclose`).
    """

    def __init__(self, url: str) -> None:
        from coverctl.fleet.connection import async_client

        self.url = url
        self.client: Any = async_client(url)
        self._limiters: dict[str, SharedLimiter] = {}

    def limiter(self, provider: str, rate: float, burst: int) -> SharedLimiter:
        """The shared pacing of `provider` at `rate` requests/s for the whole fleet."""
        from coverctl.fleet.limiter import SharedLimiter

        limiter = self._limiters.get(provider)
        if limiter is None:
            limiter = SharedLimiter(self.client, self.url, provider, rate, burst)
            self._limiters[provider] = limiter
        return limiter

    async def single_flight(
        self,
        key: str,
        fetch: Callable[[], Awaitable[T]],
        published: Callable[[], T | None],
    ) -> T:
        """`fetch()` by one worker of the fleet; the others get `published()` once it is done."""
        from coverctl.fleet.flight import single_flight

        return await single_flight(self.client, self.url, key, fetch, published)

    async def aclose(self) -> None:
        from coverctl.fleet.connection import close_quietly

        await close_quietly(self.client)


def open_fleet(settings: Settings) -> Fleet | None:
    """The fleet handle when `COVERCTL_REDIS_URL` is set, else None (one process alone)."""
    if settings.redis_url is None:
        return None
    return Fleet(settings.redis_url.reveal())
