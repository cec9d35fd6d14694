"""A provider's request rate and Retry-After pause, shared by every worker on every host.

GCRA (the generic cell rate algorithm) in one Lua script, so reading and moving the provider's
"theoretical arrival time" is atomic across the fleet, and timed by the Redis server's clock
(`TIME`), never a worker's (hosts' clocks differ; the server's is one). Each call *reserves* the
next free slot and is told how long to wait for it: workers sleep until their own slot instead of
polling, and requests leave evenly spaced, `1/rate` apart, with bursts of up to `burst`.

The same script first looks at the provider's pause (`coverctl:pause:{provider}`, set with a PX
expiry by whoever met a 429, for its Retry-After): while it runs, nobody reserves a slot. A slot
that had to be waited for is checked against the pause once more just before its request goes,
so no request sent after a worker heard a 429 arrives inside its window. A slot forfeited that
way is simply not used (the provider sees fewer requests, never more).

A worker the scheduler held back (four workers decoding pictures on two cores) wakes with its
slots gone by; its requests would leave together with the fleet's next ones and overrun the
provider's burst. A slot reached more than `LATE_SLOTS` intervals late is therefore traded for a
new one (at most `MAX_RESLOTS` times): a few slots go unused, no 429 pauses the fleet.

The configured rate (`COVERCTL_RATE_<P>`, `--rate`) is the fleet's total, not each worker's:
give every worker the same one. Redis failing makes `acquire` raise RedisUnavailable: pacing fails
closed, a request is never sent without its slot.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from coverctl.fleet.connection import PREFIX, redis_errors

__all__ = ["SharedLimiter"]

# KEYS[1] the provider's theoretical arrival time (µs, server clock), KEYS[2] its pause.
# ARGV[1] the emission interval (µs), ARGV[2] the burst tolerance (µs).
# Returns {0, µs to wait for the reserved slot} or {1, µs of pause left} (nothing reserved).
_ACQUIRE: Final = """
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return {1, paused * 1000} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local go = tat - tonumber(ARGV[2])
if go < now then go = now end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat),
           'PX', math.ceil((next_tat - now) / 1000) + 1000)
return {0, go - now}
"""

# KEYS[1] the provider's pause; ARGV[1] its length (ms). A longer pause already running wins.
_PAUSE: Final = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""

GO: Final = 0
PAUSED: Final = 1
# A reserved slot reached more than this many intervals late is given up for a new one (see
# SharedLimiter.acquire), at most MAX_RESLOTS times, so a starved worker still gets to send.
LATE_SLOTS: Final = 2
MAX_RESLOTS: Final = 3


class SharedLimiter:
    """The fleet-wide pacing of one provider (see the module docstring).

    `acquire()` returns 0.0 when the caller may send now (its slot is reserved), or the seconds
    of a shared pause still running (the caller waits it out and asks again).
    """

    def __init__(self, client: Any, url: str, provider: str, rate: float, burst: int) -> None:
        self.provider = provider
        self._url = url
        self._client = client
        self._interval_us = max(1, round(1_000_000 / rate))
        self._tolerance_us = (max(1, burst) - 1) * self._interval_us
        self.rate_key = f"{PREFIX}:rate:{provider}"
        self.pause_key = f"{PREFIX}:pause:{provider}"
        self._acquire = client.register_script(_ACQUIRE)
        self._pause = client.register_script(_PAUSE)

    async def acquire(self) -> float:
        loop = asyncio.get_running_loop()
        for attempt in range(MAX_RESLOTS + 1):
            with redis_errors(self._url):
                kind, wait_us = await self._acquire(
                    keys=[self.rate_key, self.pause_key],
                    args=[self._interval_us, self._tolerance_us],
                )
            if int(kind) == PAUSED:
                return int(wait_us) / 1_000_000
            if int(wait_us) <= 0:
                return 0.0
            due = loop.time() + int(wait_us) / 1_000_000
            await asyncio.sleep(int(wait_us) / 1_000_000)
            # A 429 may have paused the provider while this slot was waited for.
            with redis_errors(self._url):
                left_ms = await self._client.pttl(self.pause_key)
            if left_ms > 0:
                return int(left_ms) / 1000
            # A worker the scheduler held back wakes with several slots gone by; sent now, its
            # requests would leave together with the fleet's next ones and overrun the
            # provider's burst (each 429 then pauses every worker). A slot missed by more than
            # LATE_SLOTS intervals is forfeited and a new one reserved, a few times at most.
            late_us = (loop.time() - due) * 1_000_000
            if late_us <= LATE_SLOTS * self._interval_us or attempt == MAX_RESLOTS:
                return 0.0
        return 0.0

    async def pause(self, seconds: float) -> None:
        """Pause the provider for every worker for `seconds` (unless a longer pause runs)."""
        milliseconds = max(1, round(seconds * 1000))
        with redis_errors(self._url):
            await self._pause(keys=[self.pause_key], args=[milliseconds])

    async def paused_for(self) -> float:
        """Seconds the provider's shared pause still runs (0.0: none)."""
        with redis_errors(self._url):
            left_ms = await self._client.pttl(self.pause_key)
        return max(0, int(left_ms)) / 1000
