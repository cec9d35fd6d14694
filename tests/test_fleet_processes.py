"""Several real worker processes sharing one Redis against one fake provider (slow: they spawn
processes). The fake enforces its limit with 429 + Retry-After and logs every arrival."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.base import json_response, serve
from tests.fakes.ratelimited import SyntheticTmdb, character_name, film_title, most_in_any_window
from tests.fakes.tmdb import RATE_LIMIT_BODY, VALID_KEY
from tests.services import REDIS_PASSWORD, REPO_ROOT

pytestmark = [pytest.mark.redis, pytest.mark.slow]

LIMIT = 40  # requests the fake accepts in any 1 s


class OneRetryAfter(SyntheticTmdb):
    """Answers its `at`-th request with a 429 asking for `wait` seconds, whatever the rate."""

    def __init__(self, at: int, wait: float) -> None:
        super().__init__(titles=200, cast_size=2)
        self.at, self.wait = at, wait
        self._seen = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self._seen += 1
            due = self._seen == self.at
            if due:
                now = time.monotonic()
                self.requests.append(request)
                self.request_times.append(now)
                self.rejections.append((now, self.wait))
        if due:
            return json_response(429, RATE_LIMIT_BODY, {"Retry-After": f"{self.wait:g}"})
        return super().handle(request)


def start_workers(count: int, redis_url: str, base: str, requests: int) -> list[dict]:  # type: ignore[type-arg]
    start_at = time.monotonic() + 2.0  # every worker is up by then, and they start together
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.fleet_worker"),
                *("--redis", redis_url, "--base", base, "--requests", str(requests)),
                *("--rate", "36", "--start-at", repr(start_at)),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert REDIS_PASSWORD not in out + err
        reports.append(json.loads(out))
    return reports


def test_four_processes_stay_under_the_limit_and_honour_one_retry_after(redis_url: str) -> None:
    fake = OneRetryAfter(at=30, wait=1.0)
    fake.limit(LIMIT, per=1.0)
    with serve(fake) as base:
        reports = start_workers(4, redis_url, base, requests=20)

    assert sorted(s for r in reports for s in r["statuses"]) == [200] * 80
    # Paced together at 36/s (a margin for arrival jitter on a loaded machine): never more than
    # the provider's 40 in any second (144/s if each paced apart).
    assert most_in_any_window(fake.request_times, 1.0) <= LIMIT
    assert len(fake.rejections) == 1  # the one forced 429; the limit itself never answered one
    rejected_at, wait = fake.rejections[0]
    heard = min(t for r in reports for t in r["announced"] if t >= rejected_at)
    # From the moment the 429's pause reached Redis, no worker's request arrived before it ended
    # (about 38 would have, one second at the fleet's rate).
    assert [t for t in fake.request_times if heard < t < rejected_at + wait] == []
    assert sum(1 for t in fake.request_times if t >= rejected_at + wait) > 0


def test_three_processes_resolving_one_title_search_it_once(redis_url: str, tmp_path: Path) -> None:
    fake = SyntheticTmdb(titles=5, cast_size=3)
    fake.latency = 1.0  # each answer takes a second: the three runs overlap
    with serve(fake) as base:
        procs = []
        for n in range(3):
            env = {
                **os.environ,
                "COVERCTL_HOME": str(tmp_path / f"host-{n}"),
                "COVERCTL_REDIS_URL": redis_url,
                "TMDB_API_KEY": VALID_KEY,
                "TMDB_API_URL": f"{base}/3",
                "COVERCTL_WEB_SEARCH": "0",
            }
            procs.append(
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "coverctl", "resolve", character_name(2, n)),
                        *("--title", film_title(2), "--media-type", "movie", "--json"),
                    ],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            results.append(json.loads(out))
    assert [r["status"] for r in results] == ["resolved"] * 3
    assert len({r["image_url"] for r in results}) == 3  # three characters of one film
    assert fake.count(r"/search/movie") == 1  # one search and one credits fetch for the fleet
    assert fake.count(r"^/3/movie/\d+$") == 1
