"""One fetch of a provider answer for the whole fleet: a lease in Redis, the others wait.

Rows of one title on four workers would otherwise search it four times and fetch its credits
four times. The first worker to miss the shared cache takes the lease `coverctl:flight:{key}`
(`SET NX PX`, renewed while its fetch runs) and fetches; the others see the lease, wait until it
is gone and read the answer from the shared cache. A lease whose holder died (`kill -9`) lapses
after `FleetTiming.FLIGHT_LEASE` seconds and a waiter takes over; a holder whose fetch failed
releases it at once, and the next waiter tries itself (a failure is not shared, as in-process).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from coverctl.constants import FleetTiming
from coverctl.fleet.connection import PREFIX, redis_errors

__all__ = ["single_flight"]

T = TypeVar("T")

# Renew (KEYS[1] = lease, ARGV[1] = our token, ARGV[2] = ms) or release (no ARGV[2]) a lease
# only while it is still ours: a lapsed lease taken over by another worker is left alone.
_RENEW: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('DEL', KEYS[1])
"""


async def single_flight(
    client: Any,
    url: str,
    key: str,
    fetch: Callable[[], Awaitable[T]],
    published: Callable[[], T | None],
) -> T:
    """`fetch()` by one worker of the fleet; the others get `published()` when it is done.

    `fetch` must store its answer where `published` reads it (the shared cache) before it
    returns. `published` is asked again after taking the lease too: another worker may have
    finished between this worker's cache miss and its lease.
    """
    lease_key = f"{PREFIX}:flight:{key}"
    lease_ms = round(FleetTiming.FLIGHT_LEASE * 1000)
    renew = client.register_script(_RENEW)
    while True:
        token = secrets.token_hex(8)
        with redis_errors(url):
            leased = await client.set(lease_key, token, nx=True, px=lease_ms)
        if leased:
            done = asyncio.Event()
            keeper = asyncio.create_task(_keep(renew, lease_key, token, lease_ms, url, done))
            try:
                value = published()
                return value if value is not None else await fetch()
            finally:
                # Stopped by an event, not cancel(): redis-py's asyncio client can swallow a
                # cancellation that lands during a command, and waiting for such a task would
                # never end. A renewal in flight finishes; the wait is bounded all the same.
                done.set()
                finished, _ = await asyncio.wait({keeper}, timeout=FleetTiming.FLIGHT_LEASE)
                if not finished:
                    keeper.cancel()  # give up on it; never wait for it again
                else:
                    # A renewal that failed (Redis lost) is not this fetch's outcome: the fetch
                    # itself needed Redis too and has already said so.
                    keeper.exception()
                await _release(renew, lease_key, token, url)
        await _wait_while_leased(client, lease_key, url)
        value = published()
        if value is not None:
            return value
        # The holder failed (or died): its lease is gone; take it and try.


async def _keep(
    renew: Any, lease_key: str, token: str, lease_ms: int, url: str, done: asyncio.Event
) -> None:
    """Renew the lease every third of its length until `done` is set."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=lease_ms / 3000)
            return
        with redis_errors(url):
            await renew(keys=[lease_key], args=[token, lease_ms])


async def _release(renew: Any, lease_key: str, token: str, url: str) -> None:
    # A failed release is not worth failing a finished fetch for: the lease lapses by itself.
    from redis.exceptions import RedisError

    with contextlib.suppress(RedisError, OSError):
        await renew(keys=[lease_key], args=[token])


async def _wait_while_leased(client: Any, lease_key: str, url: str) -> None:
    delay = FleetTiming.FLIGHT_POLL_MIN
    while True:
        with redis_errors(url):
            if not await client.exists(lease_key):
                return
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, FleetTiming.FLIGHT_POLL_MAX)
