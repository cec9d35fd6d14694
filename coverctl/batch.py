"""`coverctl batch`: resolve every row of a CSV/JSONL file through the same resolver core.

Rows are read lazily and each result is written (and flushed) as soon as it is known.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coverctl.config import Settings
from coverctl.errors import UsageError
from coverctl.inputs import InputRow, read_rows
from coverctl.models import Resolution
from coverctl.output import ResultWriter
from coverctl.resolver import ResolveOptions, Resolver, close_resolver, open_resolver


@dataclass
class BatchOptions:
    out: Path | None = None
    fmt: str = "jsonl"
    input_format: str | None = None
    refresh: bool = False
    network: bool = True
    generate: bool = False


@dataclass
class BatchSummary:
    rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    provider_calls: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0
    elapsed_s: float = 0.0
    notices: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.rows == self.statuses.get("resolved", 0)

    def add(self, result: dict[str, Any]) -> None:
        self.rows += 1
        self.statuses[result["status"]] += 1
        if result.get("source"):
            self.sources[result["source"]] += 1
        if result.get("cache_hit"):
            self.cache_hits += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "statuses": dict(self.statuses),
            "sources": dict(self.sources),
            "provider_calls": dict(self.provider_calls),
            "cache_hits": self.cache_hits,
            "cache_hit_rate": round(self.cache_hits / self.rows, 4) if self.rows else None,
            "elapsed_s": round(self.elapsed_s, 3),
            "notices": list(self.notices),
        }


def error_result(row: InputRow) -> dict[str, Any]:
    """The output row for an input row that could not be read."""
    raw = row.raw
    result: dict[str, Any] = {
        "row": row.row,
        "character_name": _as_text(raw.get("character_name")),
        "title": _as_text(raw.get("title")),
        "year": None,
        "media_type": None,
        "status": "error",
        "image_url": None,
        "source": None,
        "quality_score": None,
        "matched": None,
        "cache_hit": False,
        "elapsed_ms": 0,
        "error": row.error,
        "unavailable_sources": [],
    }
    for key, value in row.extra.items():
        result.setdefault(key, value)
    return result


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text[:300]


async def resolve_row(resolver: Resolver, row: InputRow, options: ResolveOptions) -> dict[str, Any]:
    """One input row -> one output dict (never raises for a bad row)."""
    if row.query is None:
        return error_result(row)
    try:
        resolution: Resolution = await resolver.resolve(row.query, options)
    except UsageError as exc:
        row.error = f"Row {row.row}: {exc.message}"
        return error_result(row)
    resolution.row = row.row
    return resolution.to_json(extra=row.extra)


async def run_rows(
    rows: Iterable[InputRow],
    resolver: Resolver,
    writer: ResultWriter,
    options: ResolveOptions,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> BatchSummary:
    summary = BatchSummary()
    started = time.perf_counter()
    for row in rows:
        result = await resolve_row(resolver, row, options)
        writer.write(result)
        summary.add(result)
        if on_result is not None:
            on_result(result)
    summary.elapsed_s = time.perf_counter() - started
    summary.provider_calls = {
        name: gate.stats.requests for name, gate in resolver.http.gates.items()
    }
    summary.notices = list(resolver.notices)
    return summary


def run_batch(
    path: Path,
    settings: Settings,
    options: BatchOptions,
    *,
    transport: Any = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> BatchSummary:
    """Resolve every row of `path`, writing results to `options.out` (stdout when None)."""
    rows = read_rows(path, options.input_format)
    resolve_options = ResolveOptions(
        refresh=options.refresh, network=options.network, generate=options.generate
    )

    async def run() -> BatchSummary:
        resolver = open_resolver(settings, refresh=options.refresh, transport=transport)
        try:
            with ResultWriter(options.out, options.fmt) as writer:
                return await run_rows(rows, resolver, writer, resolve_options, on_result)
        finally:
            await close_resolver(resolver)

    return asyncio.run(run())
