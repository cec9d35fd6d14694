"""Redis clients for the fleet, their timeouts, the key names, and what a Redis failure becomes.

Every Redis error leaves coverctl as `RedisUnavailable` (exit 4, naming COVERCTL_REDIS_URL):
a ConfigError, so a batch treats it as fatal (its progress is saved and it says how to resume)
instead of writing an error row, and never goes on unpaced. Short blips are retried here first
(a few attempts within about half a second); a Redis that stays away stops the run.

Keys (one Redis database, not Redis Cluster):
- `coverctl:v1:{tier}:{key}`: cache entries (hashes), with `coverctl:v1:_index:{tier}`,
  `coverctl:v1:_tag:{tier}:{tag}` and `coverctl:v1:_stats:{tier}` (store/redis_cache.py);
- `coverctl:rate:{provider}` and `coverctl:pause:{provider}`: pacing and Retry-After pauses;
- `coverctl:flight:{key}`: who is fetching a provider answer for the fleet;
- `coverctl:lock:{command}`: command locks.
Every coordination key has a TTL; cache entries have their tier's lifetime.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import urlsplit

from coverctl.constants import FleetTiming
from coverctl.errors import ConfigError, RedisUnavailable
from coverctl.redact import redact_url

__all__ = [
    "PREFIX",
    "VARIABLE",
    "async_client",
    "close_quietly",
    "describe",
    "redis_errors",
    "sync_client",
]

VARIABLE: Final = "COVERCTL_REDIS_URL"
PREFIX: Final = "coverctl"
_REASON_LIMIT: Final = 120


def _options(timeout: float | None, retries: int, *, asyncio: bool = False) -> dict[str, Any]:
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError, TimeoutError

    if asyncio:
        from redis.asyncio.retry import Retry
    else:
        from redis.retry import Retry  # type: ignore[assignment]

    return {
        "socket_connect_timeout": min(
            timeout or FleetTiming.CONNECT_TIMEOUT, FleetTiming.CONNECT_TIMEOUT
        ),
        "socket_timeout": timeout or FleetTiming.COMMAND_TIMEOUT,
        # A blip (a restart behind a proxy, a dropped connection) is retried quickly; a Redis
        # that stays away fails the command within about a second.
        "retry": Retry(ExponentialBackoff(cap=0.4, base=0.05), retries),
        "retry_on_error": [ConnectionError, TimeoutError],
        "decode_responses": True,
        "client_name": "coverctl",
    }


def sync_client(url: str, *, timeout: float | None = None, retries: int = 3) -> Any:
    """A `redis.Redis` for `url` (the cache and the command locks: synchronous callers).

    `timeout` bounds each command (and connecting), `retries` the quick retries of a blip."""
    redis = _require_redis()
    with redis_errors(url, starting=True):
        return redis.Redis.from_url(url, **_options(timeout, retries))


def async_client(url: str) -> Any:
    """A `redis.asyncio.Redis` for `url` (pacing and single-flight: they wait in the loop)."""
    redis = _require_redis()
    with redis_errors(url, starting=True):
        return redis.asyncio.Redis.from_url(url, **_options(None, 3, asyncio=True))


def _require_redis() -> Any:
    try:
        import redis
        import redis.asyncio
    except ImportError:
        raise ConfigError(
            f"{VARIABLE} needs the Redis client: pip install 'coverctl[redis]' "
            f"(or unset {VARIABLE})."
        ) from None
    return redis


async def close_quietly(client: Any) -> None:
    """Close an asyncio client; a Redis already gone has nothing left to close."""
    from redis.exceptions import RedisError

    with contextlib.suppress(RedisError, OSError):
        await client.aclose()


def describe(url: str) -> str:
    """`url` for messages: the password hidden, the database shown."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "COVERCTL_REDIS_URL"
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return redact_url(url.split("?", 1)[0])


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 1] + "…"


@contextlib.contextmanager
def redis_errors(url: str, *, starting: bool = False) -> Iterator[None]:
    """Turn any Redis failure inside the block into RedisUnavailable (one sentence).

    `starting`: before any work was done (the message says how to fix the setting); otherwise
    the run lost Redis part-way (the caller adds how to resume, when it can)."""
    from redis.exceptions import AuthenticationError, RedisError, ResponseError

    try:
        yield
    except AuthenticationError:
        raise RedisUnavailable(
            f"Redis at {describe(url)} refused the credentials in {VARIABLE}; "
            "correct the user and password in the URL."
        ) from None
    except ResponseError as exc:
        raise RedisUnavailable(
            f"Redis at {describe(url)} ({VARIABLE}) refused a command ({_reason(exc)}); "
            "check the server's version (5 or later) and its memory limit."
        ) from None
    except ValueError as exc:  # redis-py reads the URL lazily: a bad port shows up here
        if not starting:
            raise
        raise RedisUnavailable(f"{VARIABLE} is not a valid Redis URL ({_reason(exc)}).") from None
    except (RedisError, OSError) as exc:
        if starting:
            raise RedisUnavailable(
                f"Cannot reach Redis at {describe(url)} ({_reason(exc)}): start it, or correct "
                f"or unset {VARIABLE}."
            ) from None
        raise RedisUnavailable(
            f"Lost Redis at {describe(url)} ({VARIABLE}) part-way ({_reason(exc)}); stopped, "
            "so that nothing runs unpaced or twice."
        ) from None


def server_version(client: Any) -> str:
    """The server's `redis_version` (for doctor)."""
    info = client.info("server")
    return str(info.get("redis_version", "?"))
