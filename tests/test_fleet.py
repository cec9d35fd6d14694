"""COVERCTL_REDIS_URL with a real redis-server: the shared cache, pacing, pauses, single-flight,
command locks, and what happens when Redis is missing or lost part-way.

Several workers are several `HttpClient`s / resolvers with their own Redis connections here (one
process); tests/test_fleet_processes.py runs real processes against one fake provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from coverctl.batch import BatchOptions, run_batch
from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.errors import RedisUnavailable
from coverctl.fleet import Fleet
from coverctl.fleet.limiter import SharedLimiter
from coverctl.fleet.locks import redis_command_lock
from coverctl.locking import RunInProgress, command_lock
from coverctl.models import Query
from coverctl.net.http import HttpClient, RetryPolicy
from coverctl.resolver import ResolveOptions, close_resolver, open_resolver
from coverctl.store import open_cache
from tests.conftest import FAST_RETRIES, ResolverHarness
from tests.fakes.ratelimited import (
    SyntheticTmdb,
    character_name,
    film_title,
    latency_transport,
    most_in_any_window,
)
from tests.fakes.routing import HostRouter
from tests.fakes.tmdb import VALID_KEY, FakeTmdb
from tests.services import REDIS_PASSWORD, free_port, running_redis

pytestmark = pytest.mark.redis

DARK_KNIGHT = Query("Bruce Wayne", "The Dark Knight", 2008, "movie")
PATIENT = RetryPolicy(
    attempts=3, wait_initial=0.001, wait_max=0.01, wait_jitter=0.001, rate_limit_attempts=50
)


@pytest.fixture
def fleet_settings(
    make_settings: Callable[..., Settings], redis_url: str
) -> Callable[..., Settings]:
    """Settings of one "host": its own COVERCTL_HOME, the shared Redis."""

    def build(home: Path | None = None, **env: str) -> Settings:
        values = {"TMDB_API_KEY": VALID_KEY, "COVERCTL_WEB_SEARCH": "0", **env}
        values["COVERCTL_REDIS_URL"] = redis_url
        if home is not None:
            values["COVERCTL_HOME"] = str(home)
        return make_settings(**values)

    return build


def raw(url: str) -> Any:
    return redis.Redis.from_url(url, decode_responses=True)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def dead_url() -> str:
    return f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"  # nothing listens there


# --- the cache -----------------------------------------------------------------------------------


def test_entries_are_json_under_versioned_keys_with_their_tier_lifetime(
    fleet_settings: Callable[..., Settings], redis_url: str
) -> None:
    cache = open_cache(fleet_settings())
    cache.set("response", "v1:tmdb-response:ab12", {"cast": [{"id": 1, "name": "Zoë"}]}, tag="tmdb")
    cache.set("search", "v1:duckduckgo:cd34", ["https://img.example/1.jpg"], tag="duckduckgo")
    cache.set("response", "v1:tvdb-token:ef56", "jwt", expire=60, tag="tvdb")
    server = raw(redis_url)

    entry = "coverctl:v1:response:v1:tmdb-response:ab12"
    assert json.loads(server.hget(entry, "v")) == {"cast": [{"id": 1, "name": "Zoë"}]}
    assert server.hget(entry, "g") == "tmdb"
    assert 23 * 3600 * 1000 < server.pttl(entry) <= 24 * 3600 * 1000  # the response tier: 24 h
    assert server.pttl("coverctl:v1:search:v1:duckduckgo:cd34") == -1  # kept until cleared
    assert 0 < server.pttl("coverctl:v1:response:v1:tvdb-token:ef56") <= 60_000
    assert cache.get("response", "v1:tmdb-response:ab12") == {"cast": [{"id": 1, "name": "Zoë"}]}
    preview = {"url": "https://img.example/a.jpg", "data": b"RIFF\x00\xffWEBP", "width": 90}
    cache.set("thumbnail", "v1:thumbnail:9a", preview, tag="thumbnail")  # bytes, as base64
    assert cache.get("thumbnail", "v1:thumbnail:9a") == preview
    assert json.loads(server.hget("coverctl:v1:thumbnail:v1:thumbnail:9a", "v"))["data"] == {
        "$bytes": "UklGRgD/V0VCUA=="
    }
    with pytest.raises(TypeError):  # JSON or nothing: no pickles in a cache others read
        cache.set("response", "v1:x", {1, 2})
    cache.close()


def test_refresh_ignores_what_was_written_before_it_opened_but_not_what_came_after(
    fleet_settings: Callable[..., Settings],
) -> None:
    settings = fleet_settings()
    writer = open_cache(settings)
    writer.set("resolution", "old", {"image_url": "u-old"})
    refreshing = open_cache(settings, refresh=True)
    assert refreshing.get("resolution", "old") is None
    writer.set("resolution", "new", {"image_url": "u-new"})  # another worker, after it opened
    assert refreshing.get("resolution", "new") == {"image_url": "u-new"}
    refreshing.set("resolution", "old", {"image_url": "u-again"})
    assert refreshing.get("resolution", "old") == {"image_url": "u-again"}
    assert writer.get("resolution", "old") == {"image_url": "u-again"}
    writer.close()
    refreshing.close()


def test_evict_values_removes_matching_entries_and_forgets_them_in_stats(
    fleet_settings: Callable[..., Settings],
) -> None:
    cache = open_cache(fleet_settings())
    cache.set("resolution", "a", {"image_url": "https://dead.example/a.jpg"}, tag="tmdb")
    cache.set("resolution", "b", {"image_url": "https://alive.example/b.jpg"}, tag="tmdb")
    removed = cache.evict_values("resolution", lambda v: "dead.example" in v["image_url"])
    assert removed == 1
    assert cache.get("resolution", "a") is None and cache.get("resolution", "b") is not None
    resolution = {s.tier: s for s in cache.stats()}["resolution"]
    assert resolution.entries == 1
    assert (resolution.hits, resolution.misses) == (1, 1)  # evict_values' reads are not counted
    assert cache.clear(tag="tmdb") == 1
    cache.close()


def test_cache_stats_show_redis_without_its_password(
    fleet_settings: Callable[..., Settings],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
) -> None:
    monkeypatch.setenv("COVERCTL_REDIS_URL", redis_url)
    cache = open_cache(fleet_settings())
    cache.set("negative", "n", "not found", tag="negative")
    cache.close()
    code, out, err = cli(capsys, "cache", "stats", "--json")
    data = json.loads(out)
    assert code == 0 and data["backend"] == "redis" and data["total"]["entries"] == 1
    assert data["location"].startswith("redis://:***@127.0.0.1:")
    code, out, err = cli(capsys, "cache", "stats")
    assert code == 0 and REDIS_PASSWORD not in out + err


def test_a_resolution_on_one_host_is_a_cache_hit_on_another(
    fleet_settings: Callable[..., Settings], tmp_path: Path, tmdb: FakeTmdb
) -> None:
    router = HostRouter({"api.themoviedb.org": tmdb})
    first = ResolverHarness(fleet_settings(tmp_path / "host-a"), router).resolve(DARK_KNIGHT)
    assert first.status == "resolved" and not first.cache_hit
    sent = len(tmdb.requests)
    second = ResolverHarness(fleet_settings(tmp_path / "host-b"), router).resolve(DARK_KNIGHT)
    assert second.cache_hit and second.candidate is not None and first.candidate is not None
    assert second.candidate.image_url == first.candidate.image_url
    assert len(tmdb.requests) == sent  # no provider call from the second host
    assert not (tmp_path / "host-b" / "cache").exists()  # no disk cache with Redis


# --- pacing and pauses ---------------------------------------------------------------------------


def test_two_workers_share_one_rate(redis_url: str) -> None:
    # Each worker alone may send 18/s; together they must too (the provider's limit is 20/s).
    arrivals: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        arrivals.append(time.monotonic())
        return httpx.Response(200, json={})

    async def scenario() -> None:
        workers = [
            HttpClient(
                rates={"tmdb": 18.0},
                transport=httpx.MockTransport(handler),
                fleet=Fleet(redis_url),
            )
            for _ in range(2)
        ]
        await asyncio.gather(
            *(
                w.request("tmdb", "GET", f"https://api.example/{i}")
                for i in range(14)
                for w in workers
            )
        )
        for worker in workers:
            await worker.aclose()

    asyncio.run(scenario())
    assert len(arrivals) == 28
    assert most_in_any_window(arrivals, 1.0) <= 20  # 36/s if each paced itself alone


def test_a_429_seen_by_one_worker_pauses_the_other(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrivals: list[tuple[float, str]] = []
    limited: list[float] = []
    announced: list[float] = []
    announce = SharedLimiter.pause

    async def recording_pause(self: SharedLimiter, seconds: float) -> None:
        await announce(self, seconds)
        announced.append(time.monotonic())

    monkeypatch.setattr(SharedLimiter, "pause", recording_pause)

    async def handler(request: httpx.Request) -> httpx.Response:
        arrivals.append((time.monotonic(), request.url.host or ""))
        if request.url.host == "a.example" and not limited:
            limited.append(time.monotonic())
            return httpx.Response(429, headers={"Retry-After": "0.5"})
        return httpx.Response(200, json={})

    async def scenario() -> None:
        a, b = (
            HttpClient(
                rates={"p": 50.0},
                transport=httpx.MockTransport(handler),
                policy=PATIENT,
                fleet=Fleet(redis_url),
            )
            for _ in range(2)
        )
        first = asyncio.create_task(a.request("p", "GET", "https://a.example/0"))
        await asyncio.sleep(0.05)  # b starts after a's 429: it has to learn of it from Redis
        await asyncio.gather(
            first, *(b.request("p", "GET", f"https://b.example/{i}") for i in range(10))
        )
        await a.aclose()
        await b.aclose()

    asyncio.run(scenario())
    assert limited and announced
    window_end = limited[0] + 0.5
    assert [t for t, _ in arrivals if announced[0] < t < window_end] == []
    assert sum(1 for _, host in arrivals if host == "b.example") == 10  # b waited, then went


def test_pacing_fails_closed_when_redis_is_unreachable() -> None:
    sent: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    async def scenario() -> None:
        client = HttpClient(
            rates={"tmdb": 40.0}, transport=httpx.MockTransport(handler), fleet=Fleet(dead_url())
        )
        try:
            await client.request("tmdb", "GET", "https://api.example/x")
        finally:
            await client.aclose()

    with pytest.raises(RedisUnavailable) as caught:
        asyncio.run(scenario())
    assert sent == []  # never unpaced
    assert "COVERCTL_REDIS_URL" in caught.value.message
    assert REDIS_PASSWORD not in caught.value.message


# --- single-flight -------------------------------------------------------------------------------


def test_two_workers_asking_for_one_title_at_once_search_it_once(
    fleet_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    fake = SyntheticTmdb(titles=3, cast_size=2)
    query = Query(character_name(1, 0), film_title(1), None, "movie")

    async def scenario() -> list[Any]:
        # Two workers (own homes, clients and caches); the fake answers slowly, so they overlap.
        resolvers = [
            open_resolver(
                fleet_settings(tmp_path / f"host-{n}"),
                transport=latency_transport(fake, 0.2),
                policy=FAST_RETRIES,
            )
            for n in range(2)
        ]
        try:
            return list(
                await asyncio.gather(*(r.resolve(query, ResolveOptions()) for r in resolvers))
            )
        finally:
            for resolver in resolvers:
                await close_resolver(resolver)

    results = asyncio.run(scenario())
    assert [r.status for r in results] == ["resolved", "resolved"]
    assert fake.count(r"/search/movie") == 1
    assert fake.count(r"^/3/movie/\d+$") == 1


# --- faults at start, command locks, doctor ------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["resolve", "Bruce Wayne", "--title", "The Dark Knight"], ["cache", "stats"]],
)
def test_unreachable_redis_at_start_exits_4_naming_the_variable(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVERCTL_REDIS_URL", dead_url())
    monkeypatch.setenv("TMDB_API_KEY", VALID_KEY)
    code, out, err = cli(capsys, *args)
    assert code == 4
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Cannot reach Redis" in lines[0]
    assert "COVERCTL_REDIS_URL" in lines[0] and REDIS_PASSWORD not in err + out


def test_a_command_lock_held_on_another_host_makes_the_run_exit_4(
    fleet_settings: Callable[..., Settings],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
) -> None:
    monkeypatch.setenv("COVERCTL_REDIS_URL", redis_url)
    monkeypatch.setenv("COVERCTL_HOME", str(tmp_path / "host-b"))
    with command_lock(fleet_settings(tmp_path / "host-a"), "dead-links") as held:
        assert held == "coverctl:lock:dead-links"
        code, _, err = cli(capsys, "dead-links")
        assert code == 4
        assert "another `coverctl dead-links` run is in progress" in err
        assert "coverctl:lock:dead-links" in err and REDIS_PASSWORD not in err
    code, _, err = cli(capsys, "dead-links")
    assert code == 0, err  # released: the next run goes ahead
    assert raw(redis_url).exists("coverctl:lock:dead-links") == 0


LOCK_HOLDER = """
import sys, time
from coverctl.fleet.locks import redis_command_lock
with redis_command_lock(sys.argv[1], "audit", ttl=0.6, renew_every=0.1):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_lock_is_renewed_while_held_and_lapses_after_its_holder_is_killed(
    redis_url: str,
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, redis_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        time.sleep(1.2)  # twice its TTL: only renewal keeps it
        with pytest.raises(RunInProgress) as caught, redis_command_lock(redis_url, "audit"):
            pass
        assert caught.value.owner["pid"] == holder.pid
        holder.kill()  # kill -9: nothing is released
        holder.wait(timeout=10)
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis_command_lock(redis_url, "audit"):
                    break
            except RunInProgress:
                assert time.monotonic() < deadline, "the dead holder's lock never lapsed"
                time.sleep(0.1)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)


def test_doctor_checks_redis_and_config_show_hides_its_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("COVERCTL_REDIS_URL", redis_url)
    code, out, _ = cli(capsys, "doctor", "--json")
    checks = {c["component"]: c for c in json.loads(out)["checks"]}
    assert checks["redis"]["status"] == "ok" and "Redis 7" in checks["redis"]["detail"]
    assert checks["cache"]["status"] == "skipped"
    assert REDIS_PASSWORD not in out
    code, out, err = cli(capsys, "config", "show")
    assert code == 0 and "COVERCTL_REDIS_URL" in out and REDIS_PASSWORD not in out + err
    assert "redis://:***@127.0.0.1" in out

    monkeypatch.setenv("COVERCTL_REDIS_URL", dead_url())
    code, out, _ = cli(capsys, "doctor", "--json", "--timeout", "1")
    redis_check = {c["component"]: c for c in json.loads(out)["checks"]}["redis"]
    assert code == 4 and redis_check["status"] == "failed"
    assert "COVERCTL_REDIS_URL" in redis_check["fix"] and REDIS_PASSWORD not in out


# --- Redis lost in the middle of a batch ---------------------------------------------------------


def write_rows(path: Path, films: int, chars: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["character", "title", "media_type"])
        for film in range(films):
            for k in range(chars):
                writer.writerow([character_name(film, k), film_title(film), "movie"])
    return path


def output_rows(path: Path) -> list[int]:
    return [json.loads(line)["row"] for line in path.read_text().splitlines() if line.strip()]


def test_redis_lost_mid_batch_stops_cleanly_and_the_batch_resumes(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    fake = SyntheticTmdb(titles=20, cast_size=2)
    source = write_rows(tmp_path / "in.csv", 20, 2)
    out = tmp_path / "out.jsonl"
    options = BatchOptions(out=out, concurrency=4)
    with running_redis() as server:
        killed_at: list[int] = []

        def kill_redis_on_the_12th_request(request: httpx.Request) -> None:
            if len(fake.requests) == 12 and not killed_at:
                server.kill()
                killed_at.append(len(fake.requests))
            return None

        settings = make_settings(TMDB_API_KEY=VALID_KEY, COVERCTL_REDIS_URL=server.url)
        with pytest.raises(RedisUnavailable) as caught:
            run_batch(
                source,
                settings,
                options,
                transport=latency_transport(fake, faults=kill_redis_on_the_12th_request),
                policy=FAST_RETRIES,
            )
    message = caught.value.message
    assert caught.value.exit_code == 4
    assert "Lost Redis" in message and "COVERCTL_REDIS_URL" in message
    assert "Progress is saved" in message and "--resume" in message
    assert REDIS_PASSWORD not in message
    # Fails closed: only requests already past their gate went out after Redis was gone.
    assert len(fake.requests) - killed_at[0] <= options.concurrency
    done = output_rows(out)
    assert 0 < len(done) < 40 and done == sorted(set(done))  # in order, none twice
    assert all(json.loads(line)["status"] == "resolved" for line in out.read_text().splitlines())

    with running_redis() as server:  # Redis back (here: another one, with an empty cache)
        settings = make_settings(TMDB_API_KEY=VALID_KEY, COVERCTL_REDIS_URL=server.url)
        resumed = BatchOptions(out=out, concurrency=4, resume=True)
        summary = run_batch(source, settings, resumed, transport=latency_transport(fake))
    assert summary.statuses["resolved"] == 40
    assert sorted(output_rows(out)) == list(range(1, 41))  # every row exactly once


def test_without_the_redis_client_the_variable_is_named_with_the_extra_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVERCTL_REDIS_URL", dead_url())
    monkeypatch.setitem(sys.modules, "redis", None)  # as if the extra were not installed
    code, _, err = cli(capsys, "cache", "stats")
    assert code == 4
    assert "COVERCTL_REDIS_URL" in err and "pip install 'coverctl[redis]'" in err


class _StubbornRedis:
    """Just enough of redis-py's asyncio client for single_flight, with a renewal that swallows
    a cancellation arriving mid-command, as redis-py 8 was seen to do (1 in 3 in a repro)."""

    def __init__(self) -> None:
        self.renewals = 0

    def register_script(self, script: str) -> Callable[..., Any]:
        async def renew(keys: list[str], args: list[Any]) -> int:
            self.renewals += 1
            # A slow command: the fetch below ends while one is in flight. Its cancellation is
            # lost, as in the client.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.1)
            return 1

        return renew

    async def set(self, *args: Any, **kwargs: Any) -> bool:
        return True

    async def exists(self, key: str) -> int:
        return 0


def test_single_flight_ends_even_when_a_renewal_swallows_cancellation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from coverctl.constants import FleetTiming
    from coverctl.fleet.flight import single_flight

    monkeypatch.setattr(FleetTiming, "FLIGHT_LEASE", 0.09)  # a renewal every 30 ms
    client = _StubbornRedis()

    async def fetch() -> str:
        await asyncio.sleep(0.2)  # ends during the second renewal (30 ms waits, 100 ms renewals)
        return "answer"

    result: dict[str, str] = {}

    def run_once() -> None:
        result["value"] = asyncio.run(single_flight(client, "redis://x", "k", fetch, lambda: None))

    # In a thread of its own: a keeper that cannot be stopped hangs its event loop for good (no
    # asyncio timeout can end it), and the test must fail, not hang.
    worker = threading.Thread(target=run_once, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "single_flight never returned: its lease keeper did not stop"
    assert result["value"] == "answer"
    assert client.renewals >= 2  # the lease was renewed while the fetch ran


class _SlotRedis:
    """Hands out a slot 10 ms ahead on every reservation; no pause is ever running."""

    def __init__(self) -> None:
        self.reservations = 0

    def register_script(self, script: str) -> Callable[..., Any]:
        async def run(keys: list[str], args: list[Any]) -> Any:
            self.reservations += 1
            return [0, 10_000]  # GO, wait 10 ms

        return run

    async def pttl(self, key: str) -> int:
        return -2


@pytest.mark.parametrize(("held_back", "reservations"), [(0.0, 1), (0.2, 4)])
def test_a_slot_reached_late_is_traded_for_a_new_one_a_few_times_at_most(
    monkeypatch: pytest.MonkeyPatch, held_back: float, reservations: int
) -> None:
    # A worker the scheduler held back wakes 200 ms past a slot 25 ms wide: sending now would
    # go out together with the fleet's next requests. It reserves again (3 times at most, then
    # sends); a worker on time sends on its first slot.
    import coverctl.fleet.limiter as limiter_module

    real_sleep = asyncio.sleep

    async def held(seconds: float) -> None:
        await real_sleep(seconds + held_back)

    monkeypatch.setattr(limiter_module.asyncio, "sleep", held)
    client = _SlotRedis()
    limiter = SharedLimiter(client, "redis://x", "tmdb", rate=40.0, burst=1)
    assert asyncio.run(limiter.acquire()) == 0.0
    assert client.reservations == reservations
