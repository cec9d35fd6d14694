"""One worker process of a fleet sharing a Redis: `python -m tests.fleet_worker ...`.

Sends `--requests` TMDB searches to `--base` (a served fake) through coverctl's `HttpClient`,
paced by the fleet's shared limiter at `--rate` requests/s, from `--start-at` (a time.monotonic()
value: CLOCK_MONOTONIC is one clock for every process of a Linux host, so the workers start
together and their times compare with the fake's). Prints one JSON object: the statuses, when it
started and finished, and when each of its Retry-After pauses had reached Redis (`announced`).

Used by tests/test_fleet_processes.py and scripts/bench_fleet.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any


async def work(args: argparse.Namespace) -> dict[str, Any]:
    from coverctl.fleet import Fleet
    from coverctl.fleet.limiter import SharedLimiter
    from coverctl.net.http import HttpClient, RetryPolicy
    from tests.fakes.tmdb import VALID_KEY

    announced: list[float] = []
    announce = SharedLimiter.pause

    async def recording_pause(self: SharedLimiter, seconds: float) -> None:
        await announce(self, seconds)
        announced.append(time.monotonic())  # from now on every worker can see the pause

    SharedLimiter.pause = recording_pause  # type: ignore[method-assign]
    policy = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.1, rate_limit_attempts=50)
    fleet = None if args.alone else Fleet(args.redis)
    client = HttpClient(rates={"tmdb": args.rate}, policy=policy, fleet=fleet)
    slots = asyncio.Semaphore(args.concurrency)
    statuses: list[int] = []

    async def one(i: int) -> None:
        async with slots:
            response = await client.request(
                "tmdb",
                "GET",
                f"{args.base}/3/search/movie",
                params={"query": f"Film {i:05d}", "api_key": VALID_KEY},
            )
            statuses.append(response.status_code)

    await asyncio.sleep(max(0.0, args.start_at - time.monotonic()))
    started = time.monotonic()
    try:
        await asyncio.gather(*(one(i) for i in range(args.requests)))
        finished = time.monotonic()
        stats = client.provider_stats().get("tmdb", {})
    finally:
        await client.aclose()
    return {
        "statuses": statuses,
        "started": started,
        "finished": finished,
        "announced": announced,
        "rate_limited": stats.get("rate_limited", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default="")
    parser.add_argument("--base", required=True)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--alone", action="store_true", help="pace this process alone (no Redis)")
    args = parser.parse_args()
    json.dump(asyncio.run(work(args)), sys.stdout)


if __name__ == "__main__":
    main()
