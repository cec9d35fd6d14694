#!/usr/bin/env python
"""Benchmark `coverctl batch` against a local fake TMDB that enforces a rate limit.

    python scripts/bench_batch.py                      # scenarios A and B, about a minute
    python scripts/bench_batch.py --memory-rows 100000 # plus the flat-memory run

The fake is a real HTTP server on 127.0.0.1 (tests/fakes: the real TMDB reply shapes) with a
fixed latency per request and a token-bucket limit answering 429 + Retry-After (whole seconds,
as real servers send it) beyond it. coverctl runs as a real subprocess (`python -m coverctl
batch ... --json`) with its limiter set to the server's limit; the design's schedule (5 rows at a
time, then sleep 1 s, no dedupe, a search and a credits call per character) runs in-process on
the same server.

Scenario A: many characters per title, as real batches are. Scenario B: one character per title,
every title distinct: caching removes nothing, the rate limit is the bottleneck, and the achieved
request rate is compared with the limit. Scenario C: TV rows answered by a fake TVDB whose
character artwork is checked by default (one download per picture, to the artwork host; a tenth of
the artworks are dead, so the actor's TVDB photo is downloaded too), against the same rows with
`--no-verify` in the same run. Every scenario reports API calls and picture downloads apart.
Memory: a large input, mostly answered from caches, with the subprocess's RSS sampled as it goes
and its peak from wait4().
"""

from __future__ import annotations

import argparse
import asyncio
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

import httpx  # noqa: E402

from tests.fakes.base import serve  # noqa: E402
from tests.fakes.images import FakeImageHost, sharp_photo  # noqa: E402
from tests.fakes.ratelimited import SyntheticTmdb, character_name, film_title  # noqa: E402
from tests.fakes.tmdb import VALID_KEY  # noqa: E402
from tests.fakes.tvdb import VALID_API_KEY, FakeTvdb, character  # noqa: E402


def write_input(path: Path, titles: int, chars: int, repeats: int = 1) -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["character", "title", "media_type", "ticket"])
        count = 0
        for _ in range(repeats):
            for film in range(titles):
                for k in range(chars):
                    count += 1
                    writer.writerow([character_name(film, k), film_title(film), "movie", count])
    return count


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run_coverctl(
    url: str,
    source: Path,
    home: Path,
    rows: int,
    *,
    rate: float,
    concurrency: int,
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run `coverctl batch` as a subprocess: its summary, wall time, RSS samples and peak RSS
    (from wait4, which reports that child's own maximum). `env` replaces the TMDB settings."""
    out = source.with_suffix(".out.jsonl")
    providers = env or {"TMDB_API_URL": f"{url}/3", "TMDB_API_KEY": VALID_KEY}
    env = {
        **os.environ,
        "COVERCTL_HOME": str(home),
        "COVERCTL_STATIC_DIR": str(home / "static"),
        **providers,
        "COVERCTL_WEB_SEARCH": "0",
        "PYTHONPATH": str(ROOT),
    }
    provider = "tvdb" if "TVDB_API_KEY" in providers else "tmdb"
    args = [sys.executable, "-m", "coverctl", "batch", str(source), "--out", str(out), "--json"]
    args += ["--rate", f"{provider}={rate:g}", "--concurrency", str(concurrency), "--quiet"]
    args += list(extra)
    log = source.with_suffix(".log")
    started = time.perf_counter()
    with log.open("wb") as captured:
        pid = subprocess.Popen(args, env=env, stdout=captured, stderr=subprocess.STDOUT).pid
        samples: list[tuple[float, int]] = []
        marks = [0.1, 0.25, 0.5, 0.75, 0.9]
        while True:
            finished, status, usage = os.wait4(pid, os.WNOHANG)
            if finished:
                break
            time.sleep(0.2)
            if marks and out.exists():
                done = _lines(out) / rows
                while marks and done >= marks[0]:
                    kb = rss_kb(pid)
                    if kb:
                        samples.append((marks[0], kb))
                    marks.pop(0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    text = log.read_text(encoding="utf-8", errors="replace")
    if code not in (0, 3):
        raise SystemExit(f"coverctl failed ({code}): {text[-2000:]}")
    summary = json.loads(text.strip().splitlines()[-1])
    return {"summary": summary, "wall": wall, "samples": samples, "peak_kb": usage.ru_maxrss}


def calls_and_downloads(summary: dict[str, Any]) -> str:
    """API calls and picture downloads of a run, apart (from its --json summary)."""
    api = sum(summary["provider_calls"].values())
    return f"{api} API calls, {summary.get('picture_downloads', 0)} picture downloads"


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


async def design_schedule(url: str, rows: list[tuple[str, str]]) -> dict[str, Any]:
    """The design notes' schedule: 5 characters at a time, then sleep 1 s; each character costs
    a search and a details-with-credits request; nothing is shared or cached."""
    statuses: dict[int, int] = {}
    params = {"api_key": VALID_KEY}

    async def one(client: httpx.AsyncClient, title: str) -> None:
        search = await client.get(f"{url}/3/search/movie", params={**params, "query": title})
        statuses[search.status_code] = statuses.get(search.status_code, 0) + 1
        results = search.json().get("results") or [] if search.status_code == 200 else []
        if results:
            details = await client.get(
                f"{url}/3/movie/{results[0]['id']}",
                params={**params, "append_to_response": "credits"},
            )
            statuses[details.status_code] = statuses.get(details.status_code, 0) + 1

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as client:
        for index in range(0, len(rows), 5):
            await asyncio.gather(*(one(client, title) for _, title in rows[index : index + 5]))
            await asyncio.sleep(1)  # after every group: the schedule's steady state
    elapsed = time.perf_counter() - started
    return {"rows": len(rows), "elapsed": elapsed, "statuses": statuses}


def request_rate(fake: SyntheticTmdb, since: int) -> tuple[int, float]:
    times = fake.request_times[since:]
    if len(times) < 2:
        return len(times), 0.0
    return len(times), (len(times) - 1) / (times[-1] - times[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--limit", type=float, default=40.0, help="server limit, requests/s")
    parser.add_argument("--burst", type=int, default=10, help="server burst allowance")
    parser.add_argument("--titles", type=int, default=200, help="scenario A titles")
    parser.add_argument("--chars", type=int, default=10, help="scenario A characters per title")
    parser.add_argument("--distinct", type=int, default=300, help="scenario B rows (titles)")
    parser.add_argument("--design-rows", type=int, default=40, help="rows the design runs")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--tv-series", type=int, default=20, help="scenario C series (0: skip)")
    parser.add_argument("--tv-chars", type=int, default=10, help="scenario C characters each")
    parser.add_argument("--memory-rows", type=int, default=0, help="e.g. 100000")
    parser.add_argument("--memory-only", action="store_true", help="skip scenarios A and B")
    options = parser.parse_args()
    if options.memory_only:
        memory(Path(tempfile.mkdtemp(prefix="coverctl-bench-")), options)
        return

    work = Path(tempfile.mkdtemp(prefix="coverctl-bench-"))
    limit = options.limit
    print(
        f"fake TMDB on 127.0.0.1: {options.latency * 1000:.0f} ms per request, limit "
        f"{limit:g} req/s (token bucket, burst {options.burst}; 429 + Retry-After beyond); "
        f"coverctl --rate tmdb={limit:g} --concurrency {options.concurrency}"
    )

    titles, chars = options.titles, options.chars
    fake = SyntheticTmdb(titles=max(titles, options.distinct), cast_size=max(chars, 1))
    fake.response_delay = options.latency
    fake.limit_rate(limit, options.burst, whole_seconds=True)
    with serve(fake) as url:
        # Scenario A: many characters per title.
        source = work / "a.csv"
        rows_a = write_input(source, titles, chars)
        since = len(fake.requests)
        a = run_coverctl(
            url, source, work / "home-a", rows_a, rate=limit, concurrency=options.concurrency
        )
        sa = a["summary"]
        calls_a, rate_a = request_rate(fake, since)
        coverctl_a = sa["session_rows"] / sa["elapsed_s"]
        print(f"\nA: {rows_a} rows, {titles} titles x {chars} characters")
        print(
            f"  coverctl: {rows_a} rows in {sa['elapsed_s']:.1f} s = {coverctl_a:.1f} rows/s "
            f"(wall {a['wall']:.1f} s with start-up: {rows_a / a['wall']:.1f} rows/s); "
            f"{calls_a} requests at {rate_a:.1f} req/s, {len(fake.rejections)} x 429; "
            f"{calls_and_downloads(sa)}"
        )

        # The design's schedule, on the same kind of rows and the same server.
        sample = [
            (character_name(f, k), film_title(f)) for f in range(titles) for k in range(chars)
        ][: options.design_rows]
        since = len(fake.requests)
        rejected = len(fake.rejections)
        design = asyncio.run(design_schedule(url, sample))
        design_rate = design["rows"] / design["elapsed"]
        print(
            f"  design schedule: {design['rows']} rows in {design['elapsed']:.1f} s = "
            f"{design_rate:.2f} rows/s; {len(fake.requests) - since} requests, "
            f"{len(fake.rejections) - rejected} x 429"
        )
        print(f"  ratio coverctl / design: {coverctl_a / design_rate:.1f}x")

        # Scenario B: every title distinct, one character each: the limit is the bottleneck.
        source = work / "b.csv"
        rows_b = write_input(source, options.distinct, 1)
        since = len(fake.requests)
        rejected = len(fake.rejections)
        b = run_coverctl(
            url, source, work / "home-b", rows_b, rate=limit, concurrency=options.concurrency
        )
        sb = b["summary"]
        calls_b, rate_b = request_rate(fake, since)
        coverctl_b = sb["session_rows"] / sb["elapsed_s"]
        print(f"\nB: {rows_b} rows, every title distinct (caching saves nothing)")
        print(
            f"  coverctl: {rows_b} rows in {sb['elapsed_s']:.1f} s = {coverctl_b:.1f} rows/s; "
            f"{calls_b} requests at {rate_b:.1f} req/s = {rate_b / limit:.1%} of the limit, "
            f"{len(fake.rejections) - rejected} x 429; {calls_and_downloads(sb)}"
        )
        print(f"  ratio coverctl / design: {coverctl_b / design_rate:.1f}x")

    if options.tv_series:
        tv_scenario(work, options)

    if options.memory_rows:
        memory(work, options)


DEAD_ART_EVERY = 10  # one character artwork in ten is dead (404): the actor's photo is checked


def synthetic_tvdb(series: int, chars: int) -> tuple[FakeTvdb, FakeImageHost, list[list[str]]]:
    """A TVDB fake with `series` series of `chars` characters (relative artwork paths), their
    artwork host, and one input row per character."""
    fake = FakeTvdb()
    art = FakeImageHost("artworks")
    rows = []
    catalogue = {}
    for s in range(series):
        series_id = 500_000 + s
        cast = []
        for k in range(chars):
            person = 700_000 + s * 1000 + k
            picture, photo = f"banners/char/{person}.jpg", f"banners/person/{person}.jpg"
            if (s * chars + k) % DEAD_ART_EVERY:
                art.add(picture, sharp_photo(300, 450, seed=person % 50))
            art.add(photo, sharp_photo(300, 450, seed=person % 50 + 50))
            name = character_name(s, k)
            cast.append(
                character(
                    k + 1,
                    name,
                    f"Actor {s}-{k}",
                    person,
                    image=f"/{picture}",
                    person_img=f"/{photo}",
                    sort=k + 1,
                )
            )
            rows.append([name, f"Series {s:05d}", "tv", str(len(rows) + 1)])
        title = f"Series {s:05d}"
        catalogue[series_id] = {
            "name": title,
            "slug": title.lower().replace(" ", "-"),
            "year": "2010",
            "aliases": [],
            "translations": {"eng": title},
            "characters": cast,
        }
    fake.series = catalogue
    return fake, art, rows


def tv_scenario(work: Path, options: argparse.Namespace) -> None:
    """Scenario C: TVDB rows with the default picture checks, and the same with --no-verify."""
    fake, art, rows = synthetic_tvdb(options.tv_series, options.tv_chars)
    fake.latency = art.latency = options.latency
    source = work / "c.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["character", "title", "media_type", "ticket"])
        writer.writerows(rows)
    print(
        f"\nC: {len(rows)} TV rows, {options.tv_series} TVDB series x {options.tv_chars} "
        f"characters, 1 artwork in {DEAD_ART_EVERY} dead"
    )
    with serve(fake, art, prefixes=("/tvdb", "/art")) as url:
        env = {
            "TVDB_API_URL": f"{url}/tvdb/v4",
            "TVDB_ARTWORK_URL": f"{url}/art",
            "TVDB_API_KEY": VALID_API_KEY,
        }
        results = {}
        for label, extra in (("--no-verify", ("--no-verify",)), ("default checks", ())):
            since = len(art.requests)
            run = run_coverctl(
                url,
                source,
                work / f"home-c{len(results)}",
                len(rows),
                rate=20,
                concurrency=options.concurrency,
                env=env,
                extra=extra,
            )
            summary = run["summary"]
            speed = summary["session_rows"] / summary["elapsed_s"]
            results[label] = speed
            print(
                f"  {label}: {summary['session_rows']} rows in {summary['elapsed_s']:.1f} s = "
                f"{speed:.1f} rows/s; {calls_and_downloads(summary)} "
                f"(the artwork host saw {len(art.requests) - since})"
            )
    ratio = results["default checks"] / results["--no-verify"]
    print(f"  ratio default checks / --no-verify: {ratio:.2f}x")


def memory(work: Path, options: argparse.Namespace) -> None:
    """A large input in flat memory: 500 titles x 20 characters = 10,000 distinct questions,
    asked again and again down the file (later passes come from caches)."""
    titles, chars = 500, 20
    repeats = max(1, options.memory_rows // (titles * chars))
    source = work / "m.csv"
    rows = write_input(source, titles, chars, repeats)
    fake = SyntheticTmdb(titles=titles, cast_size=chars)
    fake.response_delay = 0.005
    with serve(fake) as url:
        result = run_coverctl(url, source, work / "home-m", rows, rate=1000, concurrency=64)
    summary = result["summary"]
    samples = ", ".join(f"{int(f * 100)}%: {kb / 1024:.0f} MB" for f, kb in result["samples"])
    print(f"\nmemory: {rows} rows ({titles} titles x {chars} characters, {repeats} passes)")
    print(
        f"  {summary['session_rows']} rows in {summary['elapsed_s']:.1f} s = "
        f"{summary['rows_per_s']:.0f} rows/s; {calls_and_downloads(summary)}; "
        f"cache hit rate {summary['cache_hit_rate']:.1%}"
    )
    print(f"  RSS as rows were written: {samples}")
    print(f"  peak RSS: {result['peak_kb'] / 1024:.0f} MB")


if __name__ == "__main__":
    main()
