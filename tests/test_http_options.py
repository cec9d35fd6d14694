"""The shared client's per-request options: size cap, timeout, non-idempotent requests, statuses
handed back to the caller."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from coverctl.errors import ProviderUnavailable, ResponseTooLarge
from coverctl.net.http import HttpClient, RetryPolicy

FAST = RetryPolicy(attempts=3, wait_initial=0.001, wait_max=0.01, wait_jitter=0.001)
URL = "https://p.example/x"


def send(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> httpx.Response:
    async def scenario() -> httpx.Response:
        http = HttpClient(rates={"p": 1000.0}, transport=httpx.MockTransport(handler), policy=FAST)
        try:
            return await http.request("p", options.pop("method", "GET"), URL, **options)
        finally:
            await http.aclose()

    return asyncio.run(scenario())


class Counting:
    def __init__(self, *answers: httpx.Response | type[Exception]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, type):
            raise answer("injected", request=request)  # type: ignore[call-arg]
        return answer


def test_declared_body_over_the_cap_is_refused_before_reading() -> None:
    handler = Counting(httpx.Response(200, content=b"x" * 2048))
    with pytest.raises(ResponseTooLarge):
        send(handler, max_bytes=1024)


def test_streamed_body_over_the_cap_is_cut_off() -> None:
    sent = {"chunks": 0}

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(1000):
            sent["chunks"] += 1
            yield b"x" * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks())  # no Content-Length

    with pytest.raises(ResponseTooLarge) as caught:
        send(handler, max_bytes=10 * 1024)
    assert "p:" in str(caught.value)
    assert sent["chunks"] < 20  # stopped reading, not buffered whole


def test_capped_body_under_the_limit_is_returned_decoded() -> None:
    body = b"picture bytes " * 10
    handler = Counting(
        httpx.Response(200, content=gzip.compress(body), headers={"Content-Encoding": "gzip"})
    )
    response = send(handler, max_bytes=1024)
    assert response.content == body


def test_per_request_timeout_replaces_the_clients() -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200)

    send(handler, timeout=75.0)
    assert seen[0]["read"] == 75.0 and seen[0]["connect"] == 5.0


@pytest.mark.parametrize("fault", [httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_non_idempotent_request_is_not_retried_once_it_may_have_arrived(
    fault: type[Exception],
) -> None:
    handler = Counting(fault, httpx.Response(201))
    with pytest.raises(ProviderUnavailable) as caught:
        send(handler, method="POST", idempotent=False)
    assert handler.calls == 1
    assert "not retried" in str(caught.value)


def test_non_idempotent_request_is_not_retried_after_a_server_error() -> None:
    handler = Counting(httpx.Response(503), httpx.Response(201))
    with pytest.raises(ProviderUnavailable):
        send(handler, method="POST", idempotent=False)
    assert handler.calls == 1


@pytest.mark.parametrize(
    "first",
    [httpx.ConnectError, httpx.Response(429, headers={"Retry-After": "0"})],
    ids=["refused", "429"],
)
def test_non_idempotent_request_is_retried_when_it_never_arrived(first: Any) -> None:
    handler = Counting(first, httpx.Response(201))
    assert send(handler, method="POST", idempotent=False).status_code == 201
    assert handler.calls == 2


def test_idempotent_request_is_still_retried_after_a_timeout() -> None:
    handler = Counting(httpx.ReadTimeout, httpx.Response(200))
    assert send(handler).status_code == 200
    assert handler.calls == 2


def test_statuses_handed_back_are_neither_retried_nor_paused() -> None:
    handler = Counting(httpx.Response(429), httpx.Response(200))
    assert send(handler, return_statuses={429}).status_code == 429
    assert handler.calls == 1
