"""Command locks in Redis: `audit --fix` or `dead-links` on two cron hosts never overlap.

The lock is the key `coverctl:lock:{command}`, taken with `SET NX PX` and holding a JSON
description of its holder (pid, host, start time, command; a random token makes it ours). A
thread renews its expiry every `FleetTiming.LOCK_RENEW` seconds while the command runs, so a
holder that dies without releasing it (`kill -9`, a host lost) blocks others for at most
`FleetTiming.LOCK_TTL` seconds. Releasing deletes the key only while it is still ours.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, Final

from coverctl.constants import FleetTiming
from coverctl.fleet.connection import PREFIX, describe, redis_errors, sync_client
from coverctl.locking import RunInProgress, describe_owner

__all__ = ["lock_key", "redis_command_lock"]

# KEYS[1] the lock, ARGV[1] our token, ARGV[2] ms to renew for (absent: release).
_RENEW: Final = """
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
local ok, owner = pcall(cjson.decode, held)
if not ok or type(owner) ~= 'table' or owner['token'] ~= ARGV[1] then return 0 end
if ARGV[2] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('DEL', KEYS[1])
"""


def lock_key(name: str) -> str:
    return f"{PREFIX}:lock:{name}"


@contextmanager
def redis_command_lock(
    url: str,
    name: str,
    *,
    ttl: float = FleetTiming.LOCK_TTL,
    renew_every: float = FleetTiming.LOCK_RENEW,
) -> Iterator[str]:
    """Hold the lock of command `name` for the fleet; yields its key.

    Another run holding it: raises RunInProgress at once (never waits), with the holder's
    description in `.owner`.
    """
    client = sync_client(url)
    key = lock_key(name)
    token = secrets.token_hex(8)
    owner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": f"coverctl {name}",
        "token": token,
    }
    ttl_ms = max(1, round(ttl * 1000))
    renew = client.register_script(_RENEW)
    try:
        with redis_errors(url, starting=True):
            taken = client.set(key, json.dumps(owner), nx=True, px=ttl_ms)
            holder = None if taken else client.get(key)
        if not taken:
            held_by = _owner(holder)
            raise RunInProgress(
                f"another `coverctl {name}` run is in progress{describe_owner(held_by)}; it holds "
                f"the lock {key} in Redis at {describe(url)}. This run did nothing; it exits so "
                "that two runs never write at once.",
                held_by,
            )
        stop = threading.Event()
        keeper = threading.Thread(
            target=_keep, args=(renew, key, token, ttl_ms, renew_every, stop), daemon=True
        )
        keeper.start()
        try:
            yield key
        finally:
            stop.set()
            keeper.join()
            from redis.exceptions import RedisError

            with suppress(RedisError, OSError):  # unreleased, it lapses after its TTL
                renew(keys=[key], args=[token])
    finally:
        client.close()


def _keep(
    renew: Any, key: str, token: str, ttl_ms: int, every: float, stop: threading.Event
) -> None:
    from redis.exceptions import RedisError

    while not stop.wait(every):
        # Redis away for a moment: try again at the next turn; away for good, the lock lapses
        # and the command's own use of Redis (its cache) stops it.
        with suppress(RedisError, OSError):
            renew(keys=[key], args=[token, ttl_ms])


def _owner(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    data.pop("token", None)
    return data
