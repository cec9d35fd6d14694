"""A TMDB fake with a generated catalogue and a server-side rate limit that answers 429.

`SyntheticTmdb(titles=200, cast_size=10)` serves movies "Film 00000".. with `cast_size` billed
characters each, in the real reply shapes (it is a FakeTmdb). `.limit(40, per=1.0)` makes it
enforce "at most 40 requests in any 1 s" (`.limit_rate(40, burst=4)`: a token bucket): a request
over the limit gets TMDB's 429 body with a Retry-After saying when there is room again;
`rejections` logs (time, retry_after) of each. Thread-safe, so it works in-process and behind
`serve()`.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from typing import Any

import httpx

from tests.fakes.base import json_response
from tests.fakes.tmdb import RATE_LIMIT_BODY, FakeTmdb, cast_member

FIRST = [
    "Ada",
    "Bruno",
    "Clara",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Luca",
    "Mira",
    "Nils",
    "Olga",
    "Pavel",
    "Quinn",
    "Rosa",
    "Stefan",
    "Tilda",
    "Umar",
    "Vera",
    "Wanda",
    "Xaver",
    "Yara",
    "Zeno",
]
LAST = [
    "Abbott",
    "Brandt",
    "Castell",
    "Dorsey",
    "Eckert",
    "Fennimore",
    "Garland",
    "Holloway",
    "Ingram",
    "Jarvis",
    "Kessler",
    "Lindqvist",
    "Marlowe",
    "Northcott",
    "Okafor",
    "Pemberton",
    "Quill",
    "Rasmussen",
    "Sutherland",
    "Thackeray",
    "Underwood",
    "Valdez",
    "Whitlock",
    "Yardley",
]


def character_name(film: int, k: int) -> str:
    """The k-th billed character of film `film`: two words, unique within the film."""
    index = (film * 7 + k) % (len(FIRST) * len(LAST))
    return f"{FIRST[index % len(FIRST)]} {LAST[index // len(FIRST)]}"


def film_title(film: int) -> str:
    return f"Film {film:05d}"


class SlidingWindowLimit:
    """At most `requests` accepted in any `per`-second window (rejected ones do not count)."""

    def __init__(self, requests: int, per: float = 1.0, *, whole_seconds: bool = False) -> None:
        self.requests = requests
        self.per = per
        self.whole_seconds = whole_seconds  # Retry-After as real servers send it: "1"
        self._accepted: deque[float] = deque()
        self._lock = threading.Lock()

    def check(self, now: float) -> float | None:
        """None when the request is accepted, else the seconds to wait."""
        with self._lock:
            while self._accepted and self._accepted[0] <= now - self.per:
                self._accepted.popleft()
            if len(self._accepted) < self.requests:
                self._accepted.append(now)
                return None
            wait = self._accepted[0] + self.per - now
        return float(max(1, math.ceil(wait))) if self.whole_seconds else round(wait + 0.001, 3)


class TokenBucketLimit:
    """`rate` requests per second on average, `burst` at once (rejected ones do not count)."""

    def __init__(self, rate: float, burst: int = 1, *, whole_seconds: bool = False) -> None:
        self.rate = rate
        self.burst = burst
        self.whole_seconds = whole_seconds
        self._tokens = float(burst)
        self._last: float | None = None
        self._lock = threading.Lock()

    def check(self, now: float) -> float | None:
        with self._lock:
            if self._last is not None:
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            wait = (1 - self._tokens) / self.rate
        return float(max(1, math.ceil(wait))) if self.whole_seconds else round(wait + 0.001, 3)


class SyntheticTmdb(FakeTmdb):
    name = "TMDB (synthetic)"

    def __init__(self, *, titles: int = 100, cast_size: int = 10) -> None:
        super().__init__()
        self.movies = {}
        self._by_title: dict[str, int] = {}
        for film in range(titles):
            movie_id = 100_000 + film
            self.movies[movie_id] = {
                "title": film_title(film),
                "original_title": film_title(film),
                "release_date": f"{1950 + film % 70}-01-01",
                "popularity": 10.0,
                "cast": [
                    cast_member(
                        1_000_000 + film * 1000 + k,
                        f"Actor {film}-{k}",
                        character_name(film, k),
                        k,
                        f"/p{film}_{k}.jpg",
                    )
                    for k in range(cast_size)
                ],
            }
            self._by_title[film_title(film).lower()] = movie_id
        self._limit: SlidingWindowLimit | TokenBucketLimit | None = None
        self.rejections: list[tuple[float, float]] = []
        # Seconds each answer takes, spent after the request was logged and checked against the
        # limit (unlike `latency`, which `serve()` spends before), so `request_times` are the
        # arrival times the limit sees.
        self.response_delay = 0.0

    def limit(self, requests: int, per: float = 1.0, *, whole_seconds: bool = False) -> None:
        """At most `requests` in any `per` seconds (a sliding window)."""
        self._limit = SlidingWindowLimit(requests, per, whole_seconds=whole_seconds)

    def limit_rate(self, rate: float, burst: int = 1, *, whole_seconds: bool = False) -> None:
        """`rate` per second with bursts of `burst` (a token bucket)."""
        self._limit = TokenBucketLimit(rate, burst, whole_seconds=whole_seconds)

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = self._handle(request)
        if self.response_delay:
            time.sleep(self.response_delay)
        return response

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if self._limit is not None:
            now = time.monotonic()
            wait = self._limit.check(now)
            if wait is not None:
                with self._lock:
                    self.requests.append(request)
                    self.request_times.append(now)
                    self.rejections.append((now, wait))
                return json_response(429, RATE_LIMIT_BODY, {"Retry-After": f"{wait:g}"})
        return super().handle(request)

    def _search_movie(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        # A dict lookup instead of the base class's scan: catalogues here are large.
        if (denied := self._guard(request)) is not None:
            return denied
        movie_id = self._by_title.get(request.url.params.get("query", "").lower())
        results: list[dict[str, Any]] = []
        if movie_id is not None:
            movie = self.movies[movie_id]
            results.append(
                {
                    "id": movie_id,
                    "title": movie["title"],
                    "original_title": movie["original_title"],
                    "release_date": movie["release_date"],
                    "popularity": movie["popularity"],
                    "poster_path": f"/poster{movie_id}.jpg",
                }
            )
        return json_response(
            200, {"page": 1, "results": results, "total_pages": 1, "total_results": len(results)}
        )


def most_in_any_window(times: list[float], window: float = 1.0) -> int:
    """The most arrivals in any `window` seconds (what a sliding-window limit would count)."""
    times = sorted(times)
    most, start = 0, 0
    for end, arrival in enumerate(times):
        while arrival - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def latency_transport(
    fake: Any,
    delay: float = 0.0,
    *,
    faults: Any = None,
) -> httpx.MockTransport:
    """An in-process transport to `fake` that answers after `delay` seconds (without blocking
    the event loop). The fake logs each request when it arrives, before the delay.

    `faults(request)` may return a Response, or an exception to raise (httpx.ConnectError,
    httpx.ReadTimeout...), instead of asking the fake; such requests are logged by the fake too.
    `transport.delivered` logs (arrival, delivery, response) of every answer.
    """
    import asyncio

    delivered: list[tuple[float, float, httpx.Response]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        arrival = time.monotonic()
        outcome = faults(request) if faults is not None else None
        if outcome is None:
            response = fake.handle(request)
            arrival = fake.request_times[-1]  # one thread: the time the fake logged for it
        else:
            with fake._lock:
                fake.requests.append(request)
                fake.request_times.append(arrival)
            if isinstance(outcome, Exception):
                await asyncio.sleep(delay)
                raise outcome
            response = outcome
        if delay:
            await asyncio.sleep(delay)
        delivered.append((arrival, time.monotonic(), response))
        return response

    transport = httpx.MockTransport(handler)
    transport.delivered = delivered  # type: ignore[attr-defined]
    return transport
