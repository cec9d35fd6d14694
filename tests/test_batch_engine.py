"""The batch engine's scheduling against a stub resolver: bounds, order, dedupe, stop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest

from coverctl.batch import BatchEngine
from coverctl.batch.inputs import InputRow
from coverctl.errors import ConfigError
from coverctl.models import Candidate, Query, Resolution
from coverctl.resolver import ResolveOptions
from coverctl.validation import validate_query


class StubSettings:
    def secrets(self) -> list[str]:
        return ["sekret"]


class StubResolver:
    """Resolves after a delay chosen per query; records concurrency."""

    def __init__(self, delay: Any = 0.0) -> None:
        self.settings = StubSettings()
        self.delay = delay
        self.active = 0
        self.max_active = 0
        self.calls: list[Query] = []

    async def resolve(self, query: Query, options: ResolveOptions) -> Resolution:
        query = validate_query(query)
        self.calls.append(query)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            delay = self.delay(query) if callable(self.delay) else self.delay
            await asyncio.sleep(delay)
            if query.character_name == "Explode":
                raise RuntimeError("boom with sekret inside")
            if query.character_name == "Rejected":
                raise ConfigError("the key was rejected")
        finally:
            self.active -= 1
        candidate = Candidate(f"https://img/{query.character_name}.jpg", "tmdb", 50)
        return Resolution(query, "resolved", candidate)


def rows(n: int, name: Any = lambda i: f"C{i}") -> Iterator[InputRow]:
    for i in range(1, n + 1):
        yield InputRow(i, Query(name(i), "Title"), extra={"i": i})


def run_engine(
    resolver: StubResolver, source: Any, **kwargs: Any
) -> tuple[list[dict[str, Any]], list[list[tuple[int, Any]]], BatchEngine]:
    emitted: list[dict[str, Any]] = []
    batches: list[list[tuple[int, Any]]] = []

    def emit(batch: list[tuple[int, Any]]) -> None:
        batches.append(batch)
        for _, results in batch:
            emitted.extend(results)

    kwargs.setdefault("concurrency", 4)
    kwargs.setdefault("window", 16)
    engine = BatchEngine(resolver, ResolveOptions(), emit, **kwargs)  # type: ignore[arg-type]
    asyncio.run(engine.run(source))
    return emitted, batches, engine


def test_concurrency_is_bounded_and_used() -> None:
    resolver = StubResolver(delay=0.01)
    emitted, _, _ = run_engine(resolver, rows(60), concurrency=5)
    assert len(emitted) == 60
    assert resolver.max_active == 5


def test_rows_are_read_only_a_window_ahead_of_the_output() -> None:
    resolver = StubResolver(delay=lambda q: 0.05 if q.character_name == "C1" else 0.0)
    read = {"n": 0}
    written = {"n": 0}
    ahead: list[int] = []

    def counting() -> Iterator[InputRow]:
        for row in rows(500):
            read["n"] += 1
            ahead.append(read["n"] - written["n"])
            yield row

    def emit(batch: list[tuple[int, Any]]) -> None:
        written["n"] += len(batch)

    engine = BatchEngine(
        resolver,  # type: ignore[arg-type]
        ResolveOptions(),
        emit,
        concurrency=4,
        window=32,
    )
    asyncio.run(engine.run(counting()))
    assert written["n"] == 500
    # Row 1 is slow: reading stalls once 32 rows wait behind it, instead of reading all 500.
    assert max(ahead) <= 32


def test_output_is_in_input_order_when_rows_finish_out_of_order() -> None:
    rng = random.Random(7)
    delays = {f"C{i}": rng.uniform(0, 0.02) for i in range(1, 101)}
    resolver = StubResolver(delay=lambda q: delays[q.character_name])
    emitted, _, _ = run_engine(resolver, rows(100), concurrency=10, window=40)
    assert [r["row"] for r in emitted] == list(range(1, 101))
    assert [r["i"] for r in emitted] == list(range(1, 101))  # extras travel with their row


def test_unordered_output_is_in_completion_order() -> None:
    resolver = StubResolver(delay=lambda q: 0.05 if q.character_name == "C1" else 0.0)
    emitted, _, _ = run_engine(resolver, rows(20), concurrency=20, window=20, ordered=False)
    order = [r["row"] for r in emitted]
    assert sorted(order) == list(range(1, 21))
    assert order[-1] == 1  # the slow first row did not hold the others back


def test_same_question_in_many_rows_is_resolved_once() -> None:
    resolver = StubResolver(delay=0.02)
    names = {i: "Joker" if i % 2 else f"C{i}" for i in range(1, 21)}
    emitted, _, engine = run_engine(resolver, rows(20, names.__getitem__), concurrency=20)
    jokers = [r for r in emitted if r["character_name"] == "Joker"]
    assert len(jokers) == 10 and sorted(r["row"] for r in jokers) == list(range(1, 21, 2))
    assert sum(1 for q in resolver.calls if q.character_name == "Joker") == 1
    assert engine.deduplicated == 9
    assert sum(1 for r in jokers if r["cache_hit"]) == 9  # the followers asked no provider


def test_shared_answer_echoes_each_rows_own_spelling() -> None:
    resolver = StubResolver(delay=0.01)
    names = {1: "Bruce Wayne", 2: "bruce  WAYNE", 3: "Bruce Wayne"}
    emitted, _, engine = run_engine(resolver, rows(3, names.__getitem__), concurrency=3)
    assert [r["character_name"] for r in emitted] == ["Bruce Wayne", "bruce WAYNE", "Bruce Wayne"]
    assert engine.deduplicated == 2


def test_dedupe_key_is_the_normalised_question() -> None:
    resolver = StubResolver(delay=0.02)
    variants = {1: "The Joker", 2: "the  joker", 3: "THE JOKER!"}
    run_engine(resolver, rows(3, variants.__getitem__), concurrency=3)
    assert len(resolver.calls) == 1


def test_a_pasted_credit_string_is_another_question_than_its_words() -> None:
    # "Edgar / The Bug" is matched as that credit (two aliases); "Edgar the Bug" as one name. A
    # shared answer between them would serve one row the other's verdict.
    resolver = StubResolver(delay=0.02)
    variants = {
        1: "Edgar the Bug",
        2: "Edgar / The Bug",
        3: "The Joker (voice)",
        4: "The Joker voice",
    }
    run_engine(resolver, rows(4, variants.__getitem__), concurrency=4)
    assert sorted(q.character_name for q in resolver.calls) == sorted(variants.values())


def test_unexpected_error_in_one_row_is_that_rows_error_and_is_scrubbed() -> None:
    resolver = StubResolver()
    names = {1: "A", 2: "Explode", 3: "B"}
    emitted, _, _ = run_engine(resolver, rows(3, names.__getitem__))
    assert [r["status"] for r in emitted] == ["resolved", "error", "resolved"]
    assert "RuntimeError" in emitted[1]["error"] and "sekret" not in emitted[1]["error"]


def test_a_fatal_error_stops_the_batch_after_emitting_finished_rows() -> None:
    resolver = StubResolver(delay=lambda q: 0.05 if q.character_name == "Rejected" else 0.0)
    names = {1: "A", 2: "B", 3: "Rejected", 4: "C"}
    emitted: list[dict[str, Any]] = []

    def emit(batch: list[tuple[int, Any]]) -> None:
        emitted.extend(r for _, results in batch for r in results)

    engine = BatchEngine(
        resolver,  # type: ignore[arg-type]
        ResolveOptions(),
        emit,
        concurrency=4,
        window=8,
    )
    with pytest.raises(ConfigError):
        asyncio.run(engine.run(rows(4, names.__getitem__)))
    assert [r["row"] for r in emitted] == [1, 2]  # row 4 finished but comes after row 3


def test_bad_rows_are_emitted_in_place_without_resolving() -> None:
    resolver = StubResolver()
    source = [
        InputRow(1, Query("A", "T")),
        InputRow(2, None, error="Row 2: The title is empty.", raw={"character_name": "B"}),
        InputRow(3, Query("C", "T")),
    ]
    emitted, _, _ = run_engine(resolver, source)
    assert [(r["row"], r["status"]) for r in emitted] == [
        (1, "resolved"),
        (2, "error"),
        (3, "resolved"),
    ]
    assert emitted[1]["character_name"] == "B" and len(resolver.calls) == 2


def test_stop_cancels_rows_in_flight_and_emits_only_finished_ones() -> None:
    resolver = StubResolver(delay=lambda q: 10.0 if q.character_name == "C5" else 0.0)
    emitted: list[dict[str, Any]] = []

    def emit(batch: list[tuple[int, Any]]) -> None:
        emitted.extend(r for _, results in batch for r in results)

    async def scenario() -> bool:
        engine = BatchEngine(
            resolver,  # type: ignore[arg-type]
            ResolveOptions(),
            emit,
            concurrency=4,
            window=8,
        )
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, engine.stop)
        return await engine.run(rows(1000))

    finished = asyncio.run(asyncio.wait_for(scenario(), 5))
    assert finished is False
    assert [r["row"] for r in emitted] == [1, 2, 3, 4]  # in order, none after the stuck row 5


def test_skip_leaves_out_rows_done_earlier() -> None:
    resolver = StubResolver()
    done = {2, 3, 7}
    out: list[int] = []

    def emit(batch: list[tuple[int, Any]]) -> None:
        out.extend(row for row, _ in batch)

    engine = BatchEngine(
        resolver,  # type: ignore[arg-type]
        ResolveOptions(),
        emit,
        concurrency=2,
        window=4,
    )
    asyncio.run(engine.run(rows(10), skip=done.__contains__))
    assert out == [1, 4, 5, 6, 8, 9, 10]
    assert len(resolver.calls) == 7
