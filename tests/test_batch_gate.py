"""The per-provider gate under batch concurrency: Retry-After windows, limiter queues, breaker."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from coverctl.batch import BatchOptions, run_batch
from coverctl.config import Settings
from coverctl.errors import ProviderUnavailable
from coverctl.net.http import HttpClient, RetryPolicy
from tests.fakes.ratelimited import SyntheticTmdb, character_name, film_title, latency_transport

PATIENT = RetryPolicy(
    attempts=3, wait_initial=0.001, wait_max=0.01, wait_jitter=0.001, rate_limit_attempts=50
)


def write_rows(path: Path, films: int, chars: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["character", "title", "media_type"])
        for film in range(films):
            for k in range(chars):
                writer.writerow([character_name(film, k), film_title(film), "movie"])
    return path


def arrivals_inside(times: list[float], start: float, end: float) -> list[float]:
    return [t for t in times if start < t < end]


def test_no_request_arrives_inside_a_retry_after_window(
    tmp_path: Path, provider_settings: Settings
) -> None:
    # The server takes 4 requests per 0.2 s (20/s); the client is told it may send 400/s,
    # so it runs into 429s and must honour every Retry-After, for all 16 tasks at once.
    fake = SyntheticTmdb(titles=12, cast_size=2)
    fake.limit(4, per=0.2)
    summary = run_batch(
        write_rows(tmp_path / "in.csv", 12, 2),
        provider_settings,
        BatchOptions(out=tmp_path / "out.csv", fmt="csv", concurrency=16, rates={"tmdb": 400}),
        transport=latency_transport(fake),
        policy=PATIENT,
    )
    assert summary.statuses["resolved"] == 24
    assert len(fake.rejections) >= 2
    for rejected_at, wait in fake.rejections:
        assert arrivals_inside(fake.request_times, rejected_at, rejected_at + wait) == []
    stats = summary.providers["tmdb"]
    assert stats["rate_limited"] == len(fake.rejections) and stats["failures"] == 0


def test_with_latency_only_requests_already_in_flight_arrive_inside_a_window(
    tmp_path: Path, provider_settings: Settings
) -> None:
    fake = SyntheticTmdb(titles=12, cast_size=2)
    fake.limit(10, per=0.25)
    transport = latency_transport(fake, 0.03)
    run_batch(
        write_rows(tmp_path / "in.csv", 12, 2),
        provider_settings,
        BatchOptions(out=tmp_path / "out.jsonl", concurrency=16, rates={"tmdb": 400}),
        transport=transport,
        policy=PATIENT,
    )
    limited = [(a, d) for a, d, r in transport.delivered if r.status_code == 429]  # type: ignore[attr-defined]
    assert limited
    for arrival, delivered in limited:
        wait = next(w for t, w in fake.rejections if t == arrival)
        # Between the 429 leaving the server and reaching us, requests already sent may land;
        # none sent after we heard it may arrive before the window closes.
        assert arrivals_inside(fake.request_times, delivered, arrival + wait) == []


def test_a_request_waiting_in_the_limiter_waits_out_a_pause_that_began_meanwhile() -> None:
    times: list[float] = []
    limited: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        if len(times) == 1:
            await asyncio.sleep(0.05)  # the 429 comes back while the others queue in the limiter
            limited.append(time.monotonic())
            return httpx.Response(429, headers={"Retry-After": "0.4"})
        return httpx.Response(200, json={})

    async def scenario() -> None:
        http = HttpClient(rates={"p": 10.0}, transport=httpx.MockTransport(handler), policy=PATIENT)
        # 10/s: request 2 leaves the limiter at ~0.1 s, inside the pause that began at 0.05 s.
        requests = (http.request("p", "GET", f"https://p.example/{i}") for i in range(4))
        await asyncio.gather(*requests)
        await http.aclose()

    asyncio.run(scenario())
    assert len(times) == 5  # 4 requests + the retry of the limited one
    assert all(t >= limited[0] + 0.4 for t in times[1:])


def test_rate_limits_do_not_count_towards_the_breaker() -> None:
    answers = iter([429] * 6 + [200] * 10)

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        return httpx.Response(status, headers={"Retry-After": "0.01"}, json={})

    async def scenario() -> HttpClient:
        policy = RetryPolicy(
            attempts=2,
            wait_initial=0.001,
            wait_jitter=0,
            breaker_threshold=2,
            rate_limit_attempts=10,
        )
        http = HttpClient(
            rates={"p": 1000.0}, transport=httpx.MockTransport(handler), policy=policy
        )
        response = await http.request("p", "GET", "https://p.example/")
        assert response.status_code == 200
        await http.aclose()
        return http

    http = asyncio.run(scenario())
    stats = http.gate("p").stats
    assert stats.rate_limited == 6 and stats.failures == 0 and not http.gate("p").circuit_open


def test_rate_limited_request_gives_up_after_its_429_budget() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "0"})

    async def scenario() -> None:
        policy = RetryPolicy(attempts=5, rate_limit_attempts=3)
        http = HttpClient(
            rates={"p": 1000.0}, transport=httpx.MockTransport(handler), policy=policy
        )
        with pytest.raises(ProviderUnavailable, match="rate limited"):
            await http.request("p", "GET", "https://p.example/")
        assert http.gate("p").stats.requests == 3
        await http.aclose()

    asyncio.run(scenario())


def test_half_open_breaker_lets_one_probe_through_then_closes() -> None:
    state: dict[str, Any] = {"healthy": False, "seen": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        state["seen"] += 1
        if not state["healthy"]:
            return httpx.Response(503)
        return httpx.Response(200, json={})

    async def scenario() -> None:
        policy = RetryPolicy(
            attempts=1, wait_initial=0.001, breaker_threshold=2, breaker_cooldown=0.2
        )
        http = HttpClient(
            rates={"p": 1000.0}, transport=httpx.MockTransport(handler), policy=policy
        )
        gate = http.gate("p")
        for _ in range(2):
            with pytest.raises(ProviderUnavailable, match="HTTP 503"):
                await http.request("p", "GET", "https://p.example/")
        assert gate.circuit_open and gate.stats.breaker_opened == 1
        with pytest.raises(ProviderUnavailable, match="skipped for"):
            await http.request("p", "GET", "https://p.example/")
        assert state["seen"] == 2

        await asyncio.sleep(0.25)
        state["healthy"] = True

        async def slow_probe(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(0.05)
            return handler(request)

        http._client._transport = httpx.MockTransport(slow_probe)  # type: ignore[attr-defined]
        outcomes = await asyncio.gather(
            *(http.request("p", "GET", "https://p.example/") for _ in range(5)),
            return_exceptions=True,
        )
        ok = [o for o in outcomes if isinstance(o, httpx.Response)]
        refused = [o for o in outcomes if isinstance(o, ProviderUnavailable)]
        assert len(ok) == 1 and len(refused) == 4  # one probe; the others did not pile in
        assert "recovered" in str(refused[0])
        assert not gate.circuit_open
        assert (await http.request("p", "GET", "https://p.example/")).status_code == 200
        await http.aclose()

    asyncio.run(scenario())


def test_a_failed_probe_opens_the_circuit_again() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    async def scenario() -> None:
        policy = RetryPolicy(attempts=1, breaker_threshold=3, breaker_cooldown=0.1)
        http = HttpClient(
            rates={"p": 1000.0}, transport=httpx.MockTransport(handler), policy=policy
        )
        gate = http.gate("p")
        for _ in range(3):
            with pytest.raises(ProviderUnavailable):
                await http.request("p", "GET", "https://p.example/")
        await asyncio.sleep(0.12)
        with pytest.raises(ProviderUnavailable, match="HTTP 503"):
            await http.request("p", "GET", "https://p.example/")  # the probe
        assert gate.circuit_open and gate.stats.breaker_opened == 2
        assert gate.stats.requests == 4
        await http.aclose()

    asyncio.run(scenario())
