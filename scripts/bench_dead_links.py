"""Benchmark ``coverctl.net.linkcheck.check_links`` against a one-at-a-time checker.

Starts the local test image server (tests/fakes/image_server.py) with a fixed latency per
request, checks ``--n`` image URLs on it with ``check_links``, then checks a sample of the same
URLs one at a time with ``httpx.Client`` HEAD requests, and prints links/s for both and the
ratio. Everything stays on 127.0.0.1.

By default the server runs in a child process so that it does not share the client's GIL;
``--in-process`` runs it in a thread of this process instead.

    python scripts/bench_dead_links.py            # N=10,000, 50 ms latency
    python scripts/bench_dead_links.py --n 2000 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import multiprocessing
import sys
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from coverctl.net.linkcheck import check_links  # noqa: E402
from tests.fakes.image_server import ImageServer  # noqa: E402


def _serve(conn: Connection, latency: float, backend: str) -> None:
    """Child process: run the server until told to stop, then report its counters."""
    with ImageServer(latency=latency, backend=backend) as server:
        conn.send(server.port)
        conn.recv()
        conn.send({"requests": len(server.requests), "max_in_flight": server.max_in_flight})


class _Server:
    """The image server, in a child process or in this one, behind one small interface."""

    def __init__(self, latency: float, backend: str, in_process: bool) -> None:
        self._local: ImageServer | None = None
        self._conn: Connection | None = None
        self._proc: Any = None
        if in_process:
            self._local = ImageServer(latency=latency, backend=backend).start()
            self.port = self._local.port
        else:
            parent, child = multiprocessing.Pipe()
            self._proc = multiprocessing.Process(
                target=_serve, args=(child, latency, backend), daemon=True
            )
            self._proc.start()
            self._conn = parent
            self.port = parent.recv()

    def stop(self) -> dict[str, int]:
        if self._local is not None:
            stats = {
                "requests": len(self._local.requests),
                "max_in_flight": self._local.max_in_flight,
            }
            self._local.stop()
            return stats
        assert self._conn is not None
        self._conn.send("stop")
        reported: dict[str, int] = self._conn.recv()
        self._proc.join(10)
        return reported


def _urls(port: int, n: int) -> Iterator[tuple[str, str]]:
    for i in range(n):
        yield str(i), f"http://127.0.0.1:{port}/img/{i}.jpg"


async def _concurrent(
    port: int, args: argparse.Namespace
) -> tuple[float, collections.Counter[str]]:
    statuses: collections.Counter[str] = collections.Counter()
    started = time.perf_counter()
    async for result in check_links(
        _urls(port, args.n),
        concurrency=args.concurrency,
        per_host=args.per_host,
        allow_hosts=[f"127.0.0.1:{port}"],
        timeout=args.timeout,
    ):
        statuses[result.status] += 1
    return time.perf_counter() - started, statuses


def _baseline(port: int, args: argparse.Namespace) -> tuple[float, collections.Counter[str]]:
    """One URL at a time: a HEAD with a keep-alive httpx.Client, judged like check_links."""
    statuses: collections.Counter[str] = collections.Counter()
    with httpx.Client(timeout=args.timeout, follow_redirects=True) as client:
        started = time.perf_counter()
        for _, url in _urls(port, args.baseline_sample):
            response = client.head(url)
            ctype = response.headers.get("content-type", "")
            ok = response.is_success and ctype.startswith("image/")
            statuses["ok" if ok else f"http_{response.status_code}"] += 1
        return time.perf_counter() - started, statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="URLs for check_links")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--per-host",
        type=int,
        default=100,
        help="per-host limit (all URLs share one host, so keep it >= --concurrency)",
    )
    parser.add_argument("--latency", type=float, default=0.05, help="server seconds/request")
    parser.add_argument("--baseline-sample", type=int, default=200, help="URLs checked serially")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--server", choices=("asyncio", "threaded"), default="asyncio")
    parser.add_argument("--in-process", action="store_true", help="server thread, not process")
    args = parser.parse_args(argv)

    where = "in-process thread" if args.in_process else "child process"
    print(
        f"settings: n={args.n} concurrency={args.concurrency} per_host={args.per_host} "
        f"latency={args.latency * 1000:g} ms timeout={args.timeout:g} s "
        f"baseline_sample={args.baseline_sample} server={args.server} ({where})"
    )
    server = _Server(args.latency, args.server, args.in_process)
    try:
        fast_s, fast_statuses = asyncio.run(_concurrent(server.port, args))
        base_s, base_statuses = _baseline(server.port, args)
    finally:
        stats = server.stop()

    fast_rate = args.n / fast_s
    base_rate = args.baseline_sample / base_s
    floor = args.latency and args.concurrency / args.latency
    print(
        f"check_links : {args.n} links in {fast_s:.2f} s = {fast_rate:,.0f} links/s "
        f"{dict(fast_statuses)}"
    )
    print(
        f"one-at-a-time: {args.baseline_sample} links in {base_s:.2f} s = {base_rate:,.1f} links/s "
        f"{dict(base_statuses)}; extrapolated to {args.n}: {args.n / base_rate:,.0f} s"
    )
    print(f"speed-up: {fast_rate / base_rate:.1f}x")
    if floor:
        print(f"latency-bound ceiling at this concurrency: {floor:,.0f} links/s")
    print(f"server: {stats['requests']} requests, at most {stats['max_in_flight']} at once")
    all_ok = fast_statuses["ok"] == args.n and base_statuses["ok"] == args.baseline_sample
    if not all_ok:
        print("warning: not every link was reported alive", file=sys.stderr)
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
