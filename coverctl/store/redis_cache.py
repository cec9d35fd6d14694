"""The cache tiers in Redis (COVERCTL_REDIS_URL): one cache for every worker on every host.

Same tiers, lifetimes, keys and tags as the disk cache (store/cache.py), same methods. Each entry
is a small hash `coverctl:v1:{tier}:{key}` holding the value as JSON (`v`, never a pickle: any
worker may read it; bytes, such as a thumbnail's, as `{"$bytes": base64}`), the Redis server's
time it was written (`t`, µs) and its tag (`g`), with the tier's lifetime as its expiry. Beside
the entries:
- `coverctl:v1:_index:{tier}`: a sorted set of the tier's entries by expiry time, for counting
  (`cache stats`) and for finding what `clear --expired` forgets;
- `coverctl:v1:_tag:{tier}:{tag}`: the same per source or provider, for `cache clear --source`;
- `coverctl:v1:_stats:{tier}`: hit and miss counters, counted by the read itself.
Writing, reading and deleting an entry are Lua scripts, so the entry and its index never
disagree, and each is one round trip.

`refresh=True` ignores entries written (by anyone) before this cache was opened, by the server's
clock: a fleet running `batch --refresh` fetches each answer once, not once per worker.

Synchronous, like the disk cache it stands in for: its callers (the resolver, the sources, the
cache and dead-links commands) read and write it in place, and a round trip to a nearby Redis
costs about what a diskcache read costs. What waits for long (pacing, single-flight) is in
coverctl.fleet, on the asyncio client.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from coverctl.fleet.connection import describe, redis_errors, sync_client
from coverctl.store.cache import KEY_VERSION, TIER_LIFETIME, TIERS, TierStats, _TierLifetime

__all__ = ["RedisCache"]

_CHUNK: Final = 500  # keys per round trip when a whole tier is walked
_BYTES: Final = "$bytes"  # {"$bytes": base64}: bytes in a JSON value
_NAMESPACE: Final = f"coverctl:{KEY_VERSION}"

# KEYS: entry, index, tag set (or "" for none). ARGV: json, tag, lifetime ms (0: forever),
# the prefix of the tier's tag sets. Index scores are expiry times in ms (server clock).
_SET: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local written = string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2]))
local old = redis.call('HGET', KEYS[1], 'g')
if old and old ~= '' and old ~= ARGV[2] then redis.call('ZREM', ARGV[4] .. old, KEYS[1]) end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 't', written, 'g', ARGV[2])
local expires = '+inf'
local life = tonumber(ARGV[3])
if life > 0 then
  redis.call('PEXPIRE', KEYS[1], life)
  expires = now + life
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], expires, KEYS[1])
if KEYS[3] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  redis.call('ZADD', KEYS[3], expires, KEYS[1])
end
return now
"""

# KEYS: entry, stats. ARGV: entries written at or before this time (µs) are stale (0: none).
# Counts a hit or a miss.
_GET: Final = """
local found = redis.call('HMGET', KEYS[1], 'v', 't')
if found[1] and tonumber(found[2]) > tonumber(ARGV[1]) then
  redis.call('HINCRBY', KEYS[2], 'hits', 1)
  return found[1]
end
redis.call('HINCRBY', KEYS[2], 'misses', 1)
return false
"""

# KEYS: entry, index. ARGV: the prefix of the tier's tag sets. Returns 1 when it existed.
_DELETE: Final = """
local tag = redis.call('HGET', KEYS[1], 'g')
if tag and tag ~= '' then redis.call('ZREM', ARGV[1] .. tag, KEYS[1]) end
redis.call('ZREM', KEYS[2], KEYS[1])
return redis.call('DEL', KEYS[1])
"""


def _server_us(client: Any) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000 + int(micros)


def _server_ms(client: Any) -> int:
    return _server_us(client) // 1000


class RedisCache:
    """All cache tiers in one Redis database; see the module docstring."""

    def __init__(self, url: str, *, refresh: bool = False) -> None:
        self.url = url
        self.refresh = refresh
        self.location = describe(url)
        self._client = sync_client(url)
        with redis_errors(url, starting=True):
            # Fail at once, naming the variable, rather than at the first row of a batch.
            self._since = _server_us(self._client) if refresh else 0
            self._client.ping()
        self._set = self._client.register_script(_SET)
        self._get = self._client.register_script(_GET)
        self._delete = self._client.register_script(_DELETE)

    # --- key names ------------------------------------------------------------------------------

    @staticmethod
    def entry_key(tier: str, key: str) -> str:
        return f"{_NAMESPACE}:{tier}:{key}"

    @staticmethod
    def _index(tier: str) -> str:
        return f"{_NAMESPACE}:_index:{tier}"

    @staticmethod
    def _tag_prefix(tier: str) -> str:
        return f"{_NAMESPACE}:_tag:{tier}:"

    @staticmethod
    def _stats(tier: str) -> str:
        return f"{_NAMESPACE}:_stats:{tier}"

    @staticmethod
    def _check(tier: str) -> None:
        if tier not in TIERS:
            raise KeyError(f"unknown cache tier {tier!r}")

    # --- the Cache interface --------------------------------------------------------------------

    def get(self, tier: str, key: str) -> Any | None:
        self._check(tier)
        with redis_errors(self.url):
            text = self._get(
                keys=[self.entry_key(tier, key), self._stats(tier)], args=[self._since]
            )
        return None if text is None else _decode(text)

    def set(
        self,
        tier: str,
        key: str,
        value: Any,
        *,
        tag: str | None = None,
        expire: float | _TierLifetime | None = TIER_LIFETIME,
    ) -> None:
        """Keep `value` (JSON-serialisable) under `key` for the tier's lifetime, or `expire`
        seconds (None: until cleared)."""
        self._check(tier)
        lifetime = TIERS[tier] if isinstance(expire, _TierLifetime) else expire
        if lifetime is not None and lifetime <= 0:
            self.delete(tier, key)  # already expired: as if written and gone
            return
        text = _encode(value)
        prefix = self._tag_prefix(tier)
        with redis_errors(self.url):
            self._set(
                keys=[self.entry_key(tier, key), self._index(tier), prefix + tag if tag else ""],
                args=[text, tag or "", round(lifetime * 1000) if lifetime else 0, prefix],
            )

    def delete(self, tier: str, key: str) -> None:
        self._check(tier)
        with redis_errors(self.url):
            self._delete(
                keys=[self.entry_key(tier, key), self._index(tier)], args=[self._tag_prefix(tier)]
            )

    def clear(
        self,
        *,
        tiers: Iterable[str] | None = None,
        expired_only: bool = False,
        tag: str | None = None,
    ) -> int:
        """Remove entries; returns how many. With `tag`, only entries of that source/provider.

        `expired_only`: Redis has already dropped expired entries itself; this forgets them in
        the indexes and counts them."""
        removed = 0
        with redis_errors(self.url):
            for tier in tiers or TIERS:
                self._check(tier)
                if expired_only:
                    removed += self._forget_expired(tier)
                elif tag is not None:
                    removed += self._clear_tag(tier, tag)
                else:
                    removed += self._clear_tier(tier)
        return removed

    def stats(self) -> list[TierStats]:
        result = []
        with redis_errors(self.url):
            now = _server_ms(self._client)
            for tier in TIERS:
                live = list(self._members(tier, minimum=now + 1))
                size = 0
                for chunk in _chunks(live):
                    pipe = self._client.pipeline(transaction=False)
                    for entry in chunk:
                        pipe.hstrlen(entry, "v")
                    size += sum(int(n) for n in pipe.execute())
                counts = self._client.hmget(self._stats(tier), "hits", "misses")
                result.append(
                    TierStats(
                        tier=tier,
                        entries=len(live),
                        bytes=size,
                        hits=int(counts[0] or 0),
                        misses=int(counts[1] or 0),
                    )
                )
        return result

    def evict_values(self, tier: str, predicate: Callable[[Any], bool]) -> int:
        """Remove the entries of `tier` whose value satisfies `predicate`; returns how many.

        Reads every entry of the tier (maintenance: `dead-links --prune`), without counting
        the reads as hits or misses."""
        self._check(tier)
        removed = 0
        with redis_errors(self.url):
            now = _server_ms(self._client)
            for chunk in _chunks(list(self._members(tier, minimum=now + 1))):
                values = self._client.pipeline(transaction=False)
                for entry in chunk:
                    values.hget(entry, "v")
                for entry, text in zip(chunk, values.execute(), strict=True):
                    if text is not None and predicate(_decode(text)):
                        removed += int(
                            self._delete(
                                keys=[entry, self._index(tier)], args=[self._tag_prefix(tier)]
                            )
                        )
        return removed

    def close(self) -> None:
        from redis.exceptions import RedisError

        with contextlib.suppress(RedisError, OSError):  # already gone: nothing left to close
            self._client.close()

    # --- helpers --------------------------------------------------------------------------------

    def _members(self, tier: str, *, minimum: int | str = "-inf") -> Iterator[str]:
        """The entry keys in the tier's index expiring at or after `minimum` (ms)."""
        start = 0
        while True:
            chunk = self._client.zrangebyscore(
                self._index(tier), minimum, "+inf", start=start, num=_CHUNK
            )
            yield from chunk
            if len(chunk) < _CHUNK:
                return
            start += _CHUNK

    def _forget_expired(self, tier: str) -> int:
        now = _server_ms(self._client)
        removed = int(self._client.zremrangebyscore(self._index(tier), "-inf", now))
        for tag_set in self._client.scan_iter(match=self._tag_prefix(tier) + "*", count=_CHUNK):
            self._client.zremrangebyscore(tag_set, "-inf", now)
        return removed

    def _clear_tag(self, tier: str, tag: str) -> int:
        tag_set = self._tag_prefix(tier) + tag
        removed = 0
        members = self._client.zrange(tag_set, 0, -1)
        for chunk in _chunks(members):
            pipe = self._client.pipeline(transaction=False)
            for entry in chunk:
                pipe.delete(entry)
            pipe.zrem(self._index(tier), *chunk)
            removed += sum(int(n) for n in pipe.execute()[:-1])
        self._client.delete(tag_set)
        return removed

    def _clear_tier(self, tier: str) -> int:
        """Every entry of the tier (found by its key prefix, indexed or not), its indexes and
        its hit/miss counts."""
        removed = 0
        pattern = _glob_escape(self.entry_key(tier, "")) + "*"
        batch: list[str] = []
        for entry in self._client.scan_iter(match=pattern, count=_CHUNK):
            batch.append(entry)
            if len(batch) >= _CHUNK:
                removed += int(self._client.delete(*batch))
                batch = []
        if batch:
            removed += int(self._client.delete(*batch))
        meta = [self._index(tier), self._stats(tier)]
        meta += list(self._client.scan_iter(match=self._tag_prefix(tier) + "*", count=_CHUNK))
        self._client.delete(*meta)
        return removed


def _encode(value: Any) -> str:
    """JSON text of `value`; TypeError for anything but JSON types and bytes."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_bytes_to_json
    )


def _bytes_to_json(value: Any) -> dict[str, str]:
    if isinstance(value, bytes | bytearray):
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    raise TypeError(f"a {type(value).__name__} cannot be cached: use JSON types (or bytes)")


def _json_to_bytes(value: dict[str, Any]) -> Any:
    if len(value) == 1 and isinstance(value.get(_BYTES), str):
        return base64.b64decode(value[_BYTES])
    return value


def _decode(text: str) -> Any:
    return json.loads(text, object_hook=_json_to_bytes)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _glob_escape(text: str) -> str:
    return "".join(f"\\{ch}" if ch in "*?[]\\" else ch for ch in text)
