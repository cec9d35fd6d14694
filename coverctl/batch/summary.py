"""Counts for the end-of-batch summary (and `--json`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from coverctl.errors import ExitCode
from coverctl.net.pictures import image_host_of

STATUSES = ("resolved", "not_found", "error")


def _truthy(value: Any) -> bool:
    # Rows read back from a CSV output carry "True"/"False" strings.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _sources_of(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str) and value:
        return value.split(";")
    return []


@dataclass
class BatchSummary:
    """What a batch did. Row counts cover the whole run (earlier sessions of a resumed run
    included); provider calls, cache hits and timings cover this session."""

    input_rows: int = 0  # input rows finished, in the whole run
    rows: int = 0  # output rows (a --cast row makes several)
    statuses: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    session_sources: Counter[str] = field(default_factory=Counter)  # this session
    unavailable: Counter[str] = field(default_factory=Counter)  # step -> rows it failed for
    resumed_rows: int = 0  # input rows finished by earlier sessions
    session_rows: int = 0  # output rows made in this session
    cache_hits: int = 0  # this session
    deduplicated: int = 0  # this session: rows that shared another row's resolution
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)  # this session
    generations: int = 0
    generation_failures: int = 0  # this session: predictions that failed or were unusable
    generation_durations: list[float] = field(default_factory=list)  # this session, seconds
    elapsed_s: float = 0.0
    notices: list[str] = field(default_factory=list)
    interrupted: bool = False
    already_finished: bool = False
    run_id: str | None = None
    out: str | None = None
    shard: str | None = None  # "K/N" when the run processed one shard of its input
    resume_command: str | None = None

    @property
    def complete(self) -> bool:
        return not self.interrupted and self.rows == self.statuses.get("resolved", 0)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        return ExitCode.OK if self.complete else ExitCode.INCOMPLETE

    @property
    def provider_calls(self) -> dict[str, int]:
        """API requests per provider (picture downloads are counted apart)."""
        return {
            name: stats["requests"]
            for name, stats in self.providers.items()
            if image_host_of(name) is None
        }

    @property
    def picture_downloads_by_host(self) -> dict[str, int]:
        """Picture downloads (image checks) per image host."""
        hosts = {image_host_of(name): stats["requests"] for name, stats in self.providers.items()}
        return {host: count for host, count in hosts.items() if host is not None}

    @property
    def picture_downloads(self) -> int:
        return sum(self.picture_downloads_by_host.values())

    @property
    def breaker_opened(self) -> list[str]:
        return [n for n, s in self.providers.items() if s.get("breaker_opened")]

    @property
    def rows_per_s(self) -> float | None:
        if self.elapsed_s <= 0:
            return None
        return self.session_rows / self.elapsed_s

    def add_row(self, results: list[dict[str, Any]], *, earlier: bool = False) -> None:
        """Count one finished input row (its output rows)."""
        self.input_rows += 1
        if earlier:
            self.resumed_rows += 1
        for result in results:
            self.rows += 1
            self.statuses[str(result.get("status"))] += 1
            if result.get("source"):
                self.sources[str(result["source"])] += 1
            for step in _sources_of(result.get("unavailable_sources")):
                self.unavailable[step] += 1
            if not earlier:
                self.session_rows += 1
                if result.get("source"):
                    self.session_sources[str(result["source"])] += 1
                if _truthy(result.get("cache_hit")):
                    self.cache_hits += 1

    def to_json(self) -> dict[str, Any]:
        rate = self.rows_per_s
        return {
            "input_rows": self.input_rows,
            "rows": self.rows,
            "statuses": {s: self.statuses.get(s, 0) for s in STATUSES},
            "sources": dict(self.sources.most_common()),
            "unavailable_sources": dict(self.unavailable.most_common()),
            "resumed_rows": self.resumed_rows,
            "session_rows": self.session_rows,
            "cache_hits": self.cache_hits,
            "cache_hit_rate": (
                round(self.cache_hits / self.session_rows, 4) if self.session_rows else None
            ),
            "deduplicated": self.deduplicated,
            "provider_calls": self.provider_calls,
            "picture_downloads": self.picture_downloads,
            "picture_downloads_by_host": self.picture_downloads_by_host,
            "providers": self.providers,
            "breaker_opened": self.breaker_opened,
            "generations": self.generations,
            "generation_failures": self.generation_failures,
            "elapsed_s": round(self.elapsed_s, 3),
            "rows_per_s": round(rate, 2) if rate is not None else None,
            "interrupted": self.interrupted,
            "already_finished": self.already_finished,
            "complete": self.complete,
            "exit_code": self.exit_code,
            "out": self.out,
            "run_id": self.run_id,
            "shard": self.shard,
            "resume_command": self.resume_command,
            "notices": list(self.notices),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchSummary:
        """A summary recorded by an earlier (finished) run."""
        summary = cls(
            input_rows=int(data.get("input_rows") or 0),
            rows=int(data.get("rows") or 0),
            statuses=Counter(data.get("statuses") or {}),
            sources=Counter(data.get("sources") or {}),
            unavailable=Counter(data.get("unavailable_sources") or {}),
            generations=int(data.get("generations") or 0),
            out=data.get("out"),
            run_id=data.get("run_id"),
            shard=data.get("shard"),
        )
        return summary
