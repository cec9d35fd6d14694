"""The shared client: pacing, Retry-After shared by all tasks, retries, breaker, redaction."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from coverctl.errors import ProviderUnavailable
from coverctl.net.http import HttpClient, RetryPolicy, parse_retry_after
from coverctl.redact import redact_url, scrub

FAST = RetryPolicy(
    attempts=3,
    wait_initial=0.001,
    wait_max=0.01,
    wait_jitter=0.001,
    breaker_threshold=3,
    breaker_cooldown=60,
)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def client(handler, rates=None, policy=FAST) -> HttpClient:  # type: ignore[no-untyped-def]
    return HttpClient(
        rates=rates or {"p": 1000.0}, transport=httpx.MockTransport(handler), policy=policy
    )


def test_retry_after_pauses_every_task_of_that_provider() -> None:
    times: list[float] = []
    limited = {"done": False}

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        if not limited["done"]:
            limited["done"] = True
            return httpx.Response(429, headers={"Retry-After": "0.3"}, json={"status_code": 25})
        return httpx.Response(200, json={})

    async def scenario() -> None:
        http = client(handler)
        await asyncio.gather(
            *(http.request("p", "GET", f"https://p.example/{i}") for i in range(8))
        )
        await http.aclose()

    run(scenario())
    first = times[0]
    later = [t for t in times[1:] if t - first > 0.0]
    # Everything sent after the 429 arrived waited out the window.
    assert len(times) == 9
    assert all(t - first >= 0.29 for t in later[-8:])


def test_other_providers_are_not_paused_by_a_429() -> None:
    times: dict[str, float] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "a.example":
            return httpx.Response(429, headers={"Retry-After": "5"})
        times["b"] = time.monotonic()
        return httpx.Response(200)

    async def scenario() -> float:
        http = client(handler, policy=RetryPolicy(attempts=1, max_retry_after=10))
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable):
            await http.request("a", "GET", "https://a.example/")
        await http.request("b", "GET", "https://b.example/")
        await http.aclose()
        return started

    started = run(scenario())
    assert times["b"] - started < 1.0


def test_rate_limit_paces_requests() -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        return httpx.Response(200)

    async def scenario() -> None:
        http = client(handler, rates={"p": 20.0})
        await asyncio.gather(*(http.request("p", "GET", "https://p.example/") for _ in range(11)))
        await http.aclose()

    run(scenario())
    # 11 requests at 20/s need at least 10 intervals of 50 ms.
    assert times[-1] - times[0] >= 0.45


def test_server_errors_are_retried_then_reported_unavailable() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, text="down")

    async def scenario() -> None:
        http = client(handler)
        with pytest.raises(ProviderUnavailable, match="HTTP 503"):
            await http.request("p", "GET", "https://p.example/")
        await http.aclose()

    run(scenario())
    assert len(calls) == 3


def test_client_errors_are_returned_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(404, json={"status_code": 34})

    async def scenario() -> int:
        http = client(handler)
        response = await http.request("p", "GET", "https://p.example/")
        await http.aclose()
        return response.status_code

    assert run(scenario()) == 404
    assert len(calls) == 1


def test_timeouts_are_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200)

    async def scenario() -> int:
        http = client(handler)
        response = await http.request("p", "GET", "https://p.example/")
        await http.aclose()
        return response.status_code

    assert run(scenario()) == 200
    assert len(calls) == 3


def test_breaker_opens_after_repeated_failures_and_skips_calls() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("refused", request=request)

    async def scenario() -> None:
        http = client(handler)
        with pytest.raises(ProviderUnavailable):
            await http.request("p", "GET", "https://p.example/")
        sent = len(calls)
        with pytest.raises(ProviderUnavailable, match="skipped"):
            await http.request("p", "GET", "https://p.example/")
        assert len(calls) == sent
        assert http.gate("p").circuit_open
        await http.aclose()

    run(scenario())


def test_long_retry_after_makes_provider_unavailable_without_waiting() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "3600"})

    async def scenario() -> None:
        http = client(handler)
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable, match="3600"):
            await http.request("p", "GET", "https://p.example/")
        assert time.monotonic() - started < 1
        await http.aclose()

    run(scenario())


def test_single_flight_runs_the_factory_once() -> None:
    runs = []

    async def scenario() -> list[int]:
        http = client(lambda r: httpx.Response(200))

        async def factory() -> int:
            runs.append(1)
            await asyncio.sleep(0.05)
            return 7

        results = await asyncio.gather(*(http.single_flight("k", factory) for _ in range(10)))
        await http.aclose()
        return list(results)

    assert run(scenario()) == [7] * 10
    assert len(runs) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), ("0.5", 0.5), (None, 1.0), ("junk", 1.0), ("-3", 0.0)],
)
def test_retry_after_values(value: str | None, expected: float) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date() -> None:
    from email.utils import formatdate

    value = formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(value) <= 31


def test_urls_and_text_are_redacted() -> None:
    assert (
        redact_url("https://x/3/search?query=a&api_key=SECRET1&page=1")
        == "https://x/3/search?query=a&api_key=***&page=1"
    )
    assert "SECRET2" not in scrub(
        "failed with token SECRET2 at https://x/?apikey=SECRET3", ["SECRET2"]
    )
    assert "SECRET3" not in scrub("https://x/?apikey=SECRET3", [])


def test_long_retry_after_is_obeyed_by_every_later_request() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"Retry-After": "600"})

    async def scenario() -> None:
        http = client(handler)
        for _ in range(5):
            with pytest.raises(ProviderUnavailable, match="rate limited"):
                await http.request("p", "GET", "https://p.example/")
        await http.aclose()

    run(scenario())
    assert len(calls) == 1  # the first 429 said "not for 10 minutes": nobody asked again


def test_host_scoped_gates_have_their_own_breaker_and_the_family_rate() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "dead.example":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200)

    async def scenario() -> None:
        http = HttpClient(
            rates={"image_fetch": 7.0}, transport=httpx.MockTransport(handler), policy=FAST
        )
        with pytest.raises(ProviderUnavailable):
            await http.request("image_fetch:dead.example", "GET", "https://dead.example/a.jpg")
        assert http.gate("image_fetch:dead.example").circuit_open
        response = await http.request("image_fetch:ok.example", "GET", "https://ok.example/b.jpg")
        assert response.status_code == 200
        assert http.gate("image_fetch:ok.example").rate == 7.0
        await http.aclose()

    run(scenario())


def test_passwords_in_urls_are_redacted() -> None:
    assert redact_url("https://u:PASSWORDX@127.0.0.1:1/x") == "https://u:***@127.0.0.1:1/x"
    assert "pw" not in scrub("fix: check postgresql://coverctl:pw@db:5432/covers", [])
    assert (
        redact_url("https://image.tmdb.org/t/p/w500/a.jpg")
        == "https://image.tmdb.org/t/p/w500/a.jpg"
    )
