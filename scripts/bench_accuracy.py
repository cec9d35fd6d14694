#!/usr/bin/env python
"""Score the resolver on the accuracy corpus: correct / wrong / missed per category.

    .venv/bin/python scripts/bench_accuracy.py              # the table and the overall rate
    .venv/bin/python scripts/bench_accuracy.py --show wrong # also list each wrong answer
    .venv/bin/python scripts/bench_accuracy.py --show missed --category honorific
    .venv/bin/python scripts/bench_accuracy.py --json       # one JSON object, for scripts

The corpus (tests/data/accuracy/: whole casts as TMDB, TVDB and Hardcover list them, and the
queries people type) is served by the project's HTTP fakes in-process and resolved by the real
Resolver with default options (web search off; no network). See tests/accuracy.py for how an
answer is judged: a wrong answer is another person's picture, a picture where nothing should be
found, or a picture that does not load.

Exit status: 0 when nothing is wrong, 1 when any answer is wrong (known bugs included: see
tests/data/accuracy/known_wrong.txt), 2 for a bad option.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.accuracy import (  # noqa: E402
    CATEGORIES,
    SKIPPED_CATEGORIES,
    Run,
    known_wrong,
    load_corpus,
    run_corpus,
    tally,
)


def report(run: Run, elapsed: float) -> dict[str, Any]:
    judgements = run.judgements
    per, overall = tally(judgements)
    known = known_wrong()

    def listing(verdict: str) -> list[dict[str, Any]]:
        return [
            {
                "case": j.case.id,
                "expected": sorted(j.case.accepted) or None,
                "outcome": j.case.outcome,
                "answer": j.detail,
                "picture": j.answer,
                **({"known": j.case.id in known} if verdict == "wrong" else {}),
            }
            for j in judgements
            if j.verdict == verdict
        ]

    return {
        "categories": {name: counts.as_dict() for name, counts in per.items()},
        "skipped_categories": SKIPPED_CATEGORIES,
        "overall": overall.as_dict(),
        "elapsed_s": round(elapsed, 2),
        "wrong": listing("wrong"),
        "missed": listing("missed"),
        # Signs that the harness, not the resolver, went wrong (a fake asked something it does
        # not serve): the scores are then not to be trusted.
        "unexpected_requests": run.unexpected_requests,
        "unavailable_sources": run.unavailable,
    }


def print_table(data: dict[str, Any], show: str | None) -> None:
    print(f"{'category':<18} {'correct':>7} {'wrong':>6} {'missed':>6} {'total':>6}  rate")
    for name, counts in data["categories"].items():
        print(
            f"{name:<18} {counts['correct']:>7} {counts['wrong']:>6} {counts['missed']:>6} "
            f"{counts['total']:>6}  {counts['correct_rate']:6.1%}"
        )
    overall = data["overall"]
    print(
        f"{'overall':<18} {overall['correct']:>7} {overall['wrong']:>6} {overall['missed']:>6} "
        f"{overall['total']:>6}  {overall['correct_rate']:6.1%}"
    )
    for name, why in data["skipped_categories"].items():
        print(f"{name:<18} not measured: {why}")
    print(f"{overall['total']} cases in {data['elapsed_s']:.1f} s")
    if data["unexpected_requests"] or data["unavailable_sources"]:
        print(
            f"HARNESS PROBLEM: {len(data['unexpected_requests'])} requests no fake serves "
            f"(first: {data['unexpected_requests'][:1]}), {len(data['unavailable_sources'])} "
            "answers with a source unavailable: extend tests/fakes before trusting these scores"
        )
    if data["wrong"]:
        new = [w for w in data["wrong"] if not w["known"]]
        print(f"{len(data['wrong'])} wrong answers ({len(new)} not in known_wrong.txt)")
    for verdict in ("wrong", "missed"):
        if show in (verdict, "all"):
            print(f"\n{verdict}:")
            for item in data[verdict]:
                mark = "" if verdict != "wrong" or item["known"] else " [NEW]"
                print(f"  {item['case']}{mark}\n    expected {item['expected']}: {item['answer']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--show", choices=("wrong", "missed", "all"), help="list the cases with that verdict"
    )
    parser.add_argument(
        "--category",
        action="append",
        choices=CATEGORIES,
        help="only this category (repeatable)",
    )
    options = parser.parse_args()

    corpus = load_corpus()
    cases = [c for c in corpus.cases if not options.category or c.category in options.category]
    started = time.perf_counter()
    run = run_corpus(corpus, cases=cases)
    data = report(run, time.perf_counter() - started)
    if options.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        print_table(data, options.show)
    return 1 if data["wrong"] or data["unexpected_requests"] or data["unavailable_sources"] else 0


if __name__ == "__main__":
    sys.exit(main())
