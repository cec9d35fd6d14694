#!/usr/bin/env python
"""How much of a provider's limit 1, 2 and 4 worker processes use when Redis paces them together.

    python scripts/bench_fleet.py                 # about half a minute
    python scripts/bench_fleet.py --requests 400  # longer runs, steadier figures

A fake TMDB (tests/fakes, served on 127.0.0.1) accepts `--limit` requests in any second and
answers the rest 429 + Retry-After; each answer takes `--latency`. Each worker is a real process
(tests/fleet_worker.py) sending TMDB searches through coverctl's HttpClient, all paced by one
local redis-server at the fleet rate `--rate` (the TMDB default, 40/s). The requests are split
evenly between the workers. For comparison, the same 4 workers each pacing itself alone (no
Redis), as they would without COVERCTL_REDIS_URL.

Printed per run: requests/s the provider accepted (as a share of its limit), the most arrivals
in any one second (never above the limit is the goal), 429s, and the accepted rate relative to
one worker.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.base import serve  # noqa: E402
from tests.fakes.ratelimited import SyntheticTmdb, most_in_any_window  # noqa: E402
from tests.services import find_redis_server, running_redis  # noqa: E402


def run(workers: int, args: argparse.Namespace, redis_url: str, alone: bool) -> dict[str, Any]:
    fake = SyntheticTmdb(titles=10, cast_size=1)
    fake.limit(args.limit, per=1.0)
    fake.latency = args.latency
    with serve(fake) as base:
        start_at = time.monotonic() + 2.0
        procs = [
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "tests.fleet_worker", "--base", base),
                    *("--requests", str(args.requests // workers), "--rate", str(args.rate)),
                    *("--start-at", repr(start_at), "--concurrency", "8"),
                    *(("--alone",) if alone else ("--redis", redis_url)),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(workers)
        ]
        reports = [json.loads(p.communicate(timeout=600)[0]) for p in procs]
    rejected = len(fake.rejections)
    span = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    ok = sum(1 for r in reports for s in r["statuses"] if s == 200)
    return {
        "workers": workers,
        "alone": alone,
        "accepted_per_s": ok / span,
        "share": ok / span / args.limit,
        "most_in_a_second": most_in_any_window(fake.request_times),  # 429s included
        "rejected": rejected,
        "span_s": span,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=240, help="requests per run, in total")
    parser.add_argument("--limit", type=int, default=40, help="the provider's requests/s")
    parser.add_argument("--rate", type=float, default=40.0, help="the fleet's pacing, requests/s")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    args = parser.parse_args()
    if find_redis_server() is None:
        sys.exit("bench_fleet: redis-server is not installed; run `bash scripts/services.sh`.")

    with running_redis() as server:
        results = [run(n, args, server.url, alone=False) for n in (1, 2, 4)]
        results.append(run(4, args, server.url, alone=True))
    single = results[0]["accepted_per_s"]
    print(
        f"provider limit {args.limit}/s, fleet rate {args.rate:g}/s, latency "
        f"{args.latency * 1000:.0f} ms, {args.requests} requests per run"
    )
    print(
        f"{'workers':>18} {'accepted/s':>11} {'of limit':>9} {'max in 1 s':>11} "
        f"{'429s':>5} {'vs 1':>6}"
    )
    for r in results:
        label = f"{r['workers']}" + (" (alone, no Redis)" if r["alone"] else "")
        print(
            f"{label:>18} {r['accepted_per_s']:>11.1f} {r['share']:>9.0%} "
            f"{r['most_in_a_second']:>11} {r['rejected']:>5} {r['accepted_per_s'] / single:>6.2f}"
        )


if __name__ == "__main__":
    main()
