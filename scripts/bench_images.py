"""Benchmark coverctl.images.inspect_image against a plain Pillow decode of the same pictures.

    python scripts/bench_images.py [--n 1000] [--seed 0]

Builds N varied real JPEG and PNG pictures in memory (400-1200 px, mixed qualities, some blurred,
some progressive), then times in one run: (a) the baseline, ``Image.open(BytesIO(b)).load()``
over all of them; (b) ``inspect_image`` (validation, sharpness, quality score, perceptual hash)
over all of them. The two passes alternate for --rounds rounds and each keeps its best time.
Prints images/s for each, the ratio of the two times and the peak RSS.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageFilter

from coverctl.images import inspect_image
from tests.imagegen import encode, picture


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def make_corpus(n: int, seed: int) -> list[bytes]:
    """N pictures cut from a few large canvases: generating each from scratch would dominate."""
    rng = random.Random(seed)
    canvases = [picture(1400, 1400, "scene", seed=s) for s in range(6)]
    corpus: list[bytes] = []
    for _ in range(n):
        w, h = rng.randint(400, 1200), rng.randint(400, 1200)
        canvas = rng.choice(canvases)
        x, y = rng.randint(0, 1400 - w), rng.randint(0, 1400 - h)
        img = canvas.crop((x, y, x + w, y + h))
        if rng.random() < 0.2:
            img = img.filter(ImageFilter.BoxBlur(rng.choice((1, 2, 4))))
        if rng.random() < 0.7:
            corpus.append(
                encode(img, "JPEG", quality=rng.randint(60, 95), progressive=rng.random() < 0.2)
            )
        else:
            corpus.append(encode(img, "PNG", compress_level=1))
    return corpus


def baseline(data: bytes) -> None:
    with Image.open(BytesIO(data)) as img:
        img.load()


def run(fn: Callable[[bytes], object], corpus: list[bytes]) -> float:
    start = time.perf_counter()
    for data in corpus:
        fn(data)
    return time.perf_counter() - start


def report(label: str, seconds: float, n: int) -> None:
    print(f"{label:<26} {seconds:7.2f} s  {n / seconds:8.1f} images/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of pictures (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="passes of each; best is kept")
    args = parser.parse_args()

    start = time.perf_counter()
    corpus = make_corpus(args.n, args.seed)
    jpegs = sum(d.startswith(b"\xff\xd8") for d in corpus)
    megabytes = sum(map(len, corpus)) / 1e6
    print(
        f"corpus: {len(corpus)} pictures ({jpegs} JPEG, {len(corpus) - jpegs} PNG, "
        f"{megabytes:.0f} MB) built in {time.perf_counter() - start:.1f} s"
    )
    corpus_rss = peak_rss_mb()
    # Warm-up: the first inspect_image imports scipy (for the phash DCT), ~0.3 s once per process.
    inspect_image(corpus[0])

    # Alternate the two passes and keep each one's best time: other load on the machine then
    # inflates neither side of the ratio more than the other.
    base_times, full_times = [], []
    for _ in range(args.rounds):
        base_times.append(run(baseline, corpus))
        full_times.append(run(inspect_image, corpus))
    base, full = min(base_times), min(full_times)
    print(f"best of {args.rounds} rounds over {len(corpus)} pictures:")
    report("baseline open().load()", base, len(corpus))
    report("inspect_image", full, len(corpus))
    print(f"ratio inspect/baseline: {full / base:.2f}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (corpus alone: {corpus_rss:.0f} MB)")


if __name__ == "__main__":
    main()
