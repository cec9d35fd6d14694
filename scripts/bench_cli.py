"""Benchmark: `coverctl --help` start-up and an in-process cache-hit resolution.

(`import typer` alone is also timed: it is most of the start-up and not ours to shrink.)

Each figure is printed beside a baseline measured in the same run:
- `coverctl --help` wall time vs `python -c pass` (goal: under 150 ms);
- a cache-hit `Resolver.resolve` vs a bare diskcache `get` of the same entry (goal: under 1 ms).

Run from a checkout: `python scripts/bench_cli.py [--runs 15] [--lookups 2000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wall_ms(command: list[str], runs: int, env: dict[str, str]) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def bench_help(runs: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    baseline = wall_ms([sys.executable, "-c", "pass"], runs, env)
    typer_ms = wall_ms([sys.executable, "-c", "import typer"], runs, env)
    help_ms = wall_ms([sys.executable, "-m", "coverctl", "--help"], runs, env)
    print(f"python -c pass        {baseline:8.1f} ms (median of {runs})")
    print(f"python -c 'import typer' {typer_ms:5.1f} ms (the CLI framework alone)")
    print(f"coverctl --help       {help_ms:8.1f} ms (median of {runs})  goal < 150 ms")
    print(f"  beyond importing Typer {help_ms - typer_ms:6.1f} ms")
    own = help_ms - baseline
    print(f"  ratio to baseline   {help_ms / baseline:8.2f}x   coverctl's own share {own:.1f} ms")


def bench_cache_hit(lookups: int) -> None:
    from coverctl.config import Settings
    from coverctl.models import Candidate, Match, Query
    from coverctl.resolver import ResolveOptions, close_resolver, open_resolver, provider_steps

    with tempfile.TemporaryDirectory() as home:
        static = Path(home) / "static"
        (static / "characters").mkdir(parents=True)
        settings = Settings.from_env(
            {"COVERCTL_HOME": home, "COVERCTL_STATIC_DIR": str(static), "TMDB_API_KEY": "bench"}
        )
        query = Query("Bruce Wayne", "The Dark Knight", 2008, "movie")

        async def run() -> tuple[float, float]:
            resolver = open_resolver(settings)
            steps = [s for s in provider_steps("movie", generate=False) if resolver.source(s)]
            steps = [s for s in steps if not resolver.source(s).unavailable_reason(settings)]  # type: ignore[union-attr]
            key = resolver._resolution_key(query, steps)
            resolver.cache.set(
                "resolution",
                key,
                {
                    "image_url": "https://image.tmdb.org/t/p/w500/a.jpg",
                    "source": "tmdb",
                    "quality_score": 50,
                    "matched": Match("Christian Bale", "Bruce Wayne / Batman", "3894").as_dict(),
                    "media_type": "movie",
                    "year": 2008,
                    "title": "The Dark Knight",
                },
            )
            first = await resolver.resolve(query, ResolveOptions())
            assert first.cache_hit and isinstance(first.candidate, Candidate), first
            tier = resolver.cache.tier("resolution")
            started = time.perf_counter()
            for _ in range(lookups):
                tier.get(key)
            bare = (time.perf_counter() - started) / lookups * 1e6
            started = time.perf_counter()
            for _ in range(lookups):
                await resolver.resolve(query, ResolveOptions())
            full = (time.perf_counter() - started) / lookups * 1e6
            await close_resolver(resolver)
            return bare, full

        bare, full = asyncio.run(run())
    print(f"diskcache get         {bare:8.1f} us per lookup ({lookups} lookups)")
    print(f"cache-hit resolve     {full:8.1f} us per resolution  goal < 1000 us")
    print(f"  ratio to baseline   {full / bare:8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    bench_help(args.runs)
    bench_cache_hit(args.lookups)


if __name__ == "__main__":
    main()
