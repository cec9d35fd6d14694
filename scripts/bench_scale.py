#!/usr/bin/env python
"""How `coverctl batch --shard K/N` scales: 1, 2 and 4 workers on this machine, one provider.

    python scripts/bench_scale.py               # about two minutes
    python scripts/bench_scale.py --titles 60   # shorter

Every worker is a real `coverctl batch IN --shard K/N` process with its own COVERCTL_HOME, all
sharing one PostgreSQL store (COVERCTL_DATABASE_URL, a throw-away cluster) and one Redis
(COVERCTL_REDIS_URL: cache, the provider's rate shared by the fleet, Retry-After pauses), as
they would on N hosts. The provider is a fake TMDB on 127.0.0.1 (tests/fakes: the real reply
shapes) accepting `--limit` requests/s (a token bucket with bursts of `--burst`, 429 + Retry-After
beyond), each answer taking `--latency`; its pictures come from a fake image host.

Two workloads over the same input (titles x characters, so rows of a title share its calls):
- API-bound (default picture checks: TMDB pictures are trusted, none is downloaded);
- with --verify: every picture is downloaded and checked (decoded, measured: CPU-bound). The
  image host's own pace is raised (`--image-rate`, default 1000/s; coverctl's default is 20/s a
  host, for the whole fleet with Redis) so that the checks' CPU, not politeness, is measured.

Printed side by side per run: the provider's accepted requests/s as a share of its limit (over
the span of its API requests), the most it saw in any second, 429s, rows/s (all rows over the
slowest worker's batch time, start-up excluded) and rows/s relative to one worker. Without
redis-server (`bash scripts/services.sh`) the workers pace themselves alone at limit/N.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.fakes.base import serve  # noqa: E402
from tests.fakes.images import FakeImageHost, sharp_photo  # noqa: E402
from tests.fakes.ratelimited import (  # noqa: E402
    SyntheticTmdb,
    character_name,
    film_title,
    most_in_any_window,
)
from tests.fakes.tmdb import VALID_KEY  # noqa: E402
from tests.services import (  # noqa: E402
    find_postgres_bin,
    find_redis_server,
    running_postgres,
    running_redis,
)

WORKERS = (1, 2, 4)


def write_input(path: Path, titles: int, characters: int) -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["character", "title", "media_type"])
        for k in range(characters):
            for film in range(titles):
                writer.writerow([character_name(film, k), film_title(film), "movie"])
    return titles * characters


def fresh_database(admin_dsn: str, name: str) -> str:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return admin_dsn.rsplit("/", 1)[0] + f"/{name}"


def flush_redis(url: str | None) -> None:
    if url:
        import redis

        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()


def run(
    workers: int,
    verify: bool,
    args: argparse.Namespace,
    work: Path,
    admin_dsn: str,
    redis_url: str | None,
) -> dict[str, Any]:
    label = f"{workers}{'-verify' if verify else ''}"
    source = work / "in.csv"
    rows = write_input(source, args.titles, args.characters)
    dsn = fresh_database(admin_dsn, f"bench_{label.replace('-', '_')}")
    flush_redis(redis_url)
    fake = SyntheticTmdb(titles=args.titles, cast_size=args.characters)
    fake.limit_rate(args.limit, args.burst, whole_seconds=True)
    fake.response_delay = args.latency
    pictures = FakeImageHost("images")
    pictures.default = (sharp_photo(600, 900), "image/jpeg")
    pictures.latency = args.latency
    # Paced together through Redis at the provider's rate; alone, each at its share of it.
    rate = args.limit if redis_url else args.limit / workers
    with serve(fake, pictures, prefixes=("/tmdb", "/img")) as base:
        env = {
            **os.environ,
            **({"COVERCTL_DATABASE_URL": dsn} if args.store == "postgres" else {}),
            "TMDB_API_KEY": VALID_KEY,
            "TMDB_API_URL": f"{base}/tmdb/3",
            "TMDB_IMAGE_BASE_URL": f"{base}/img",
            "COVERCTL_WEB_SEARCH": "0",
            "PYTHONPATH": str(ROOT),
            **({"COVERCTL_REDIS_URL": redis_url} if redis_url else {}),
        }
        procs = []
        for k in range(1, workers + 1):
            out = work / f"out-{label}-{k}.jsonl"
            command = [
                *(sys.executable, "-m", "coverctl", "batch", str(source), "--out", str(out)),
                *("--shard", f"{k}/{workers}", "--json", "--quiet"),
                *("--rate", f"tmdb={rate:g},image_fetch={args.image_rate:g}"),
                *(("--verify",) if verify else ()),
            ]
            home = work / f"home-{label}-{k}"
            procs.append(
                subprocess.Popen(
                    command,
                    env={**env, "COVERCTL_HOME": str(home)},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        summaries = []
        deadline = time.monotonic() + args.timeout
        for k, proc in enumerate(procs, start=1):
            try:
                out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for other in procs:
                    other.kill()
                raise SystemExit(
                    f"bench_scale: worker {k}/{workers} ({label}) was still running after "
                    f"{args.timeout:g} s; stopped every worker (a hang, not a slow run)."
                ) from None
            if proc.returncode not in (0, 3):
                raise SystemExit(f"bench_scale: a worker failed ({proc.returncode}): {err[-2000:]}")
            summaries.append(json.loads(out.strip().splitlines()[-1]))
    accepted = [t for t in fake.request_times if t not in {at for at, _ in fake.rejections}]
    api_span = accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0
    elapsed = max(s["elapsed_s"] for s in summaries)
    done = sum(s["rows"] for s in summaries)
    assert done == rows, f"{done} rows written for {rows} input rows"
    return {
        "workers": workers,
        "verify": verify,
        "api_per_s": (len(accepted) - 1) / api_span if api_span else 0.0,
        "most_in_a_second": most_in_any_window(accepted, 1.0),
        "rejected": len(fake.rejections),
        "downloads": len(pictures.requests),
        "rows_per_s": rows / elapsed,
        "elapsed_s": elapsed,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--titles", type=int, default=120, help="distinct titles")
    parser.add_argument("--characters", type=int, default=5, help="characters per title")
    parser.add_argument("--limit", type=float, default=40.0, help="provider requests/s")
    parser.add_argument("--burst", type=int, default=10, help="provider burst allowance")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    parser.add_argument("--image-rate", type=float, default=1000.0, help="downloads/s a host")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a run may take")
    parser.add_argument(
        "--store",
        choices=("postgres", "sqlite"),
        default="postgres",
        help="sqlite: each worker its own SQLite file (for comparison; no resume elsewhere)",
    )
    args = parser.parse_args()
    if find_postgres_bin() is None:
        sys.exit("bench_scale: PostgreSQL is not installed; run `bash scripts/services.sh`.")
    use_redis = find_redis_server() is not None
    work = Path(tempfile.mkdtemp(prefix="coverctl-scale-"))
    results: list[dict[str, Any]] = []
    with running_postgres() as postgres:
        admin = postgres.dsn_for("postgres")
        if use_redis:
            with running_redis() as redis_server:
                for verify in (False, True):
                    for n in WORKERS:
                        results.append(run(n, verify, args, work, admin, redis_server.url))
        else:
            for verify in (False, True):
                for n in WORKERS:
                    results.append(run(n, verify, args, work, admin, None))

    print(
        f"provider: {args.limit:g} requests/s (bursts of {args.burst}), "
        f"{args.latency * 1000:.0f} ms an answer (pictures too, up to {args.image_rate:g}/s); "
        f"{results[0]['rows']} rows "
        f"({args.titles} titles x {args.characters} characters); {os.cpu_count()} CPUs; "
        + (
            f"workers share {'PostgreSQL' if args.store == 'postgres' else 'nothing but'} and Redis"
            if use_redis
            else "no redis-server: each worker paced alone at limit/N"
        )
    )
    header = (
        f"{'workload':>10} {'workers':>7} {'API req/s':>9} {'of limit':>8} {'max 1 s':>7} "
        f"{'429s':>5} {'downloads':>9} {'rows/s':>7} {'vs 1':>5}"
    )
    print(header)
    for verify in (False, True):
        runs = [r for r in results if r["verify"] == verify]
        single = runs[0]["rows_per_s"]
        for r in runs:
            print(
                f"{'--verify' if verify else 'API-bound':>10} {r['workers']:>7} "
                f"{r['api_per_s']:>9.1f} {r['api_per_s'] / args.limit:>8.0%} "
                f"{r['most_in_a_second']:>7} {r['rejected']:>5} {r['downloads']:>9} "
                f"{r['rows_per_s']:>7.1f} {r['rows_per_s'] / single:>5.2f}"
            )


if __name__ == "__main__":
    main()
