"""Benchmark the maintenance commands on a generated store, each figure beside a baseline.

- ``audit``: ``run_audit`` on ``--rows`` generated rows (default 100,000: a realistic mix of
  sources, shared actor photos, a placeholder shared by many characters, dead and unchecked
  rows), beside a bare ``SELECT *`` of the same rows (the floor for any streaming scan), and the
  whole ``coverctl audit --json`` command in a subprocess (start-up included).
- ``dead-links``: ``check_store`` on ``--urls`` rows (default 10,000) whose URLs live on the local
  test image server with ``--latency`` per request (default 50 ms), recording every result in the
  store, beside ``check_links`` alone on the same URLs (no store): the difference is the cost of
  the store reads and batched writes.

Everything is local (a temporary COVERCTL_HOME, the server on 127.0.0.1). No timing is asserted.

    python scripts/bench_maintenance.py               # 100k-row audit, 10k-URL dead-links
    python scripts/bench_maintenance.py --rows 20000 --urls 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from coverctl.store.db import TABLE, SqliteStore  # noqa: E402

SOURCES = (
    ("tmdb", 50, "https://image.tmdb.org/t/p/w500/{n}.jpg"),
    ("tvdb", 70, "https://artworks.thetvdb.com/banners/person/{n}.jpg"),
    ("hardcover", 60, "https://assets.hardcover.app/covers/{n}.jpg"),
    ("web_search", 30, "https://images.example.com/{n}.jpg"),
    ("ai_generated", 80, "https://backend.example.com/api/image-no-auth/anonymous_{n}.jpg"),
)


def generate_store(path: Path, rows: int, seed: int = 7) -> None:
    """``rows`` rows: 70% tmdb (a third of them sharing one actor photo per 3 roles), the rest
    spread over the other sources; 1% share a placeholder picture; 1% recorded under a wrong
    source; 60% checked (3% of those dead); quality from the design's scores."""
    rng = random.Random(seed)
    store = SqliteStore(path)
    now = "2025-01-20T03:00:00+00:00"
    batch = []
    for n in range(rows):
        pick = rng.random()
        source, quality, pattern = SOURCES[0] if pick < 0.7 else rng.choice(SOURCES[1:])
        url = pattern.format(n=n)
        person = f"Actor {n}"
        if source == "tmdb" and n % 9 < 3:  # one actor, three roles, one profile photo
            url = pattern.format(n=n - n % 9)
            person = f"Actor {n - n % 9}"
        if rng.random() < 0.01:
            url = "https://images.example.com/placeholder.png"
            source, quality = "web_search", 30
        if rng.random() < 0.01:
            source = "character_specific"  # a provider URL recorded as a local override
            quality = 100
        checked = rng.random() < 0.6
        status = ("http_404" if rng.random() < 0.03 else "ok") if checked else None
        batch.append(
            (
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                f"Character {n}",
                f"Title {n // 20}",
                f"character {n}",
                f"title {n // 20}",
                url,
                source,
                quality,
                person,
                "movie",
                2000 + n % 25,
                now,
                now,
                f"{rng.getrandbits(64):016x}",
                now if checked else None,
                status,
            )
        )
        if len(batch) == 10_000:
            _insert(store, batch)
            batch.clear()
    _insert(store, batch)
    store.close()


def _insert(store: SqliteStore, batch: list[tuple[object, ...]]) -> None:
    with store.db.conn:
        store.db.conn.executemany(
            f"INSERT INTO {TABLE} (id, character_name, movie_title, character_key, title_key, "
            "image_url, source, quality_score, person_name, media_type, year, created_at, "
            "updated_at, image_hash, last_checked, last_status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            batch,
        )


def bench_audit(home: Path, rows: int) -> None:
    from coverctl.maintenance.audit import AuditOptions, run_audit

    db = home / "coverctl.db"
    started = time.perf_counter()
    generate_store(db, rows)
    print(f"generated {rows:,} rows in {time.perf_counter() - started:.1f} s")
    store = SqliteStore(db)
    try:
        started = time.perf_counter()
        scanned = sum(1 for _ in store.db.execute(f"SELECT * FROM {TABLE}"))
        floor_s = time.perf_counter() - started
        started = time.perf_counter()
        result = run_audit(store, AuditOptions())
        audit_s = time.perf_counter() - started
    finally:
        store.close()
    print(f"baseline SELECT * of {scanned:,} rows          {floor_s:6.2f} s")
    print(
        f"run_audit on {result.rows_scanned:,} rows              {audit_s:6.2f} s  "
        f"({result.rows_with_problems:,} flagged: {result.problem_counts()})"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COVERCTL_HOME": str(home)}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "coverctl", "audit", "--json", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    command_s = time.perf_counter() - started
    data = json.loads(proc.stdout)
    print(
        f"coverctl audit --json (whole command)   {command_s:6.2f} s  exit {proc.returncode}, "
        f"{data['rows_scanned']:,} rows"
    )


def bench_dead_links(home: Path, n: int, latency: float, concurrency: int) -> None:
    from bench_dead_links import _Server  # the linkcheck benchmark's server in a child process

    from coverctl.maintenance.deadlinks import DeadLinkOptions, check_store
    from coverctl.net.linkcheck import check_links

    server = _Server(latency, "asyncio", in_process=False)
    base = f"http://127.0.0.1:{server.port}"
    try:
        db = home / "links.db"
        store = SqliteStore(db)
        rows = [
            (
                str(uuid.uuid4()),
                f"Character {i}",
                "Title",
                f"character {i}",
                "title",
                f"{base}/img/{i}.jpg",
                "tmdb",
                50,
                None,
                None,
                None,
                "2025-01-01T00:00:00+00:00",
                "2025-01-01T00:00:00+00:00",
                None,
                None,
                None,
            )
            for i in range(n)
        ]
        _insert(store, rows)
        allow = (f"127.0.0.1:{server.port}",)

        async def bare() -> int:
            alive = 0
            async for result in check_links(
                ((str(i), url) for i, url in enumerate(r[5] for r in rows)),
                concurrency=concurrency,
                per_host=concurrency,
                allow_hosts=allow,
            ):
                alive += result.alive
            return alive

        started = time.perf_counter()
        alive = asyncio.run(bare())
        bare_s = time.perf_counter() - started
        options = DeadLinkOptions(concurrency=concurrency, per_host=concurrency, allow_hosts=allow)
        started = time.perf_counter()
        report = asyncio.run(check_store(store, options))
        store_s = time.perf_counter() - started
        written = sum(1 for row in store.audit_scan() if row.last_status == "ok")
        store.close()
    finally:
        server.stop()
    print(
        f"baseline check_links, {n:,} URLs ({latency * 1000:g} ms each)  {bare_s:6.2f} s  "
        f"{n / bare_s:,.0f} links/s, {alive:,} alive"
    )
    print(
        f"check_store (store reads + batched writes) {store_s:6.2f} s  "
        f"{n / store_s:,.0f} links/s, {report.alive_urls:,} alive, {written:,} rows recorded"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows for the audit benchmark")
    parser.add_argument("--urls", type=int, default=10_000, help="URLs for dead-links")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="coverctl-bench-") as tmp:
        home = Path(tmp)
        if args.rows:
            bench_audit(home, args.rows)
        if args.urls:
            bench_dead_links(home, args.urls, args.latency, args.concurrency)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
