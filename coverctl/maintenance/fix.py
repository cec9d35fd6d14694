"""``coverctl audit --fix``: re-resolve flagged rows and keep an answer only when it is better.

Each flagged row is re-resolved through the cascade with ``refresh=True`` (once per distinct
character, title, year and media type). The new answer replaces a row when it scores higher, or
when the old row was dead, wrongly sourced or a duplicate and the new answer is a different
picture (for a wrongly sourced row, the same picture under its right source also counts); an
answer that itself looks wrongly sourced is never taken. A replaced row is deleted when the new
answer lives in another row (another source). Nothing found, or an answer that is no better,
leaves the row as it was. A ``pinned`` row (a curator's choice, `coverctl pin`) is never
re-resolved, replaced or deleted: it is reported as kept, for a person to decide.

The resolver is asked not to record what it finds (``ResolveOptions(record=False)``): the answer
is written only once it is judged better, so a worse answer never touches the store.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from coverctl.config import Settings
from coverctl.errors import ConfigError, CoverctlError
from coverctl.maintenance.audit import (
    BROKEN_KINDS,
    FIXABLE_KINDS,
    WRONG_SOURCE,
    Finding,
    ProviderHosts,
    source_problem,
)
from coverctl.store.interfaces import ImageStore

__all__ = ["FixOutcome", "FixReport", "fix_findings"]


@dataclass
class FixOutcome:
    """What --fix did with one flagged row."""

    finding: Finding
    outcome: str  # "replaced" | "kept" | "unchanged" | "not_found" | "error"
    reason: str
    new_source: str | None = None
    new_url: str | None = None
    new_quality: int | None = None
    new_row_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        f = self.finding
        return {
            "row_id": f.row_id,
            "character_name": f.character_name,
            "title": f.title,
            "problems": list(f.problems),
            "outcome": self.outcome,
            "reason": self.reason,
            "old": {"source": f.source, "image_url": f.image_url, "quality_score": f.quality_score},
            "new": None
            if self.new_url is None
            else {
                "row_id": self.new_row_id,
                "source": self.new_source,
                "image_url": self.new_url,
                "quality_score": self.new_quality,
            },
        }


@dataclass
class FixReport:
    outcomes: list[FixOutcome] = field(default_factory=list)
    skipped: int = 0  # flagged rows left for a later run (the fix limit)
    notices: list[str] = field(default_factory=list)
    sources: Counter[str] = field(default_factory=Counter)  # where each re-resolution ended

    def counts(self) -> dict[str, int]:
        counts = Counter(o.outcome for o in self.outcomes)
        return {
            k: counts.get(k, 0) for k in ("replaced", "kept", "unchanged", "not_found", "error")
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "attempted": len(self.outcomes),
            **self.counts(),
            "skipped": self.skipped,
            "changes": [o.to_json() for o in self.outcomes],
        }


def _query_of(finding: Finding) -> tuple[str, str, int | None, str | None]:
    return (finding.character_name, finding.title, finding.year, finding.media_type)


def _decide(
    finding: Finding, source: str, url: str, quality: int, hosts: ProviderHosts
) -> tuple[str, str]:
    """("replaced" | "kept" | "unchanged", why) for one old row and the cascade's new answer."""
    same_url = url == finding.image_url
    if same_url and source == finding.source:
        return "unchanged", "The cascade gives the same picture again."
    wrong = source_problem(source, url, quality, hosts)
    if wrong:
        return "kept", f"The new answer looks wrong too: {wrong}"
    broken = set(finding.problems) & BROKEN_KINDS
    if same_url and broken - {WRONG_SOURCE}:
        return "kept", "The new answer is the same picture, which is dead or a duplicate."
    old_quality = finding.quality_score if finding.quality_score is not None else -1
    if quality > old_quality:
        return "replaced", f"Better quality: {quality} instead of {old_quality}."
    if broken:
        kinds = ", ".join(sorted(k.replace("_", " ") for k in broken))
        return "replaced", f"The old row was {kinds}; the new answer replaces it."
    return "kept", f"The existing row is at least as good (quality {old_quality} vs {quality})."


async def fix_findings(
    findings: list[Finding],
    settings: Settings,
    store: ImageStore,
    *,
    limit: int,
    concurrency: int = 4,
    transport: Any = None,
    policy: Any = None,
) -> FixReport:
    """Re-resolve up to ``limit`` flagged rows (0: all listed) and apply the better answers.

    Rows are re-resolved once per distinct (character, title, year, media type), at most
    ``concurrency`` at a time, through the providers' rate limits. A credential the provider
    rejects stops the run (ConfigError); any other failure is recorded for its row.
    """
    from coverctl.constants import Source
    from coverctl.models import Query
    from coverctl.resolver import ResolveOptions, close_resolver, open_resolver

    report = FixReport()
    fixable = [f for f in findings if set(f.problems) & FIXABLE_KINDS]
    for finding in (f for f in fixable if f.source == Source.PINNED):
        report.outcomes.append(
            FixOutcome(
                finding,
                "kept",
                "Pinned by a curator: --fix never replaces it (pin another picture or unpin it).",
            )
        )
    fixable = [f for f in fixable if f.source != Source.PINNED]
    if limit and len(fixable) > limit:
        report.skipped = len(fixable) - limit
        fixable = fixable[:limit]
    groups: dict[tuple[str, str, int | None, str | None], list[Finding]] = defaultdict(list)
    for finding in fixable:
        groups[_query_of(finding)].append(finding)
    if not groups:
        return report

    hosts = ProviderHosts.from_settings(settings)
    resolver = open_resolver(settings, refresh=True, transport=transport, policy=policy)
    gate = asyncio.Semaphore(concurrency)

    async def resolve(key: tuple[str, str, int | None, str | None]) -> tuple[Any, str | None]:
        name, title, year, media = key
        async with gate:
            try:
                query = Query(name, title, year, media)
                return await resolver.resolve(
                    query, ResolveOptions(refresh=True, record=False)
                ), None
            except ConfigError:
                raise
            except CoverctlError as exc:
                return None, exc.message

    try:
        answers = await asyncio.gather(*(resolve(key) for key in groups))
    finally:
        report.notices.extend(resolver.notices)
        await close_resolver(resolver)

    for rows, (resolution, error) in zip(groups.values(), answers, strict=True):
        if error is not None or resolution is None:
            report.outcomes.extend(FixOutcome(f, "error", error or "unknown error") for f in rows)
            continue
        candidate = resolution.candidate
        if resolution.status != "resolved" or candidate is None:
            report.sources["none"] += 1
            reason = resolution.error or "Nothing found."
            report.outcomes.extend(FixOutcome(f, "not_found", f"Kept: {reason}") for f in rows)
            continue
        report.sources[candidate.source] += 1
        new_id: str | None = None
        for finding in rows:
            verdict, reason = _decide(
                finding, candidate.source, candidate.image_url, candidate.quality_score, hosts
            )
            outcome = FixOutcome(
                finding,
                verdict,
                reason,
                candidate.source,
                candidate.image_url,
                candidate.quality_score,
            )
            if verdict == "replaced":
                if new_id is None:
                    new_id = _store_answer(store, resolution.query, candidate)
                if new_id != finding.row_id:
                    store.delete(finding.row_id)  # superseded by the better row
                outcome.new_row_id = new_id
            report.outcomes.append(outcome)
    return report


def _store_answer(store: ImageStore, query: Any, candidate: Any) -> str:
    """Store ``candidate`` as the answer to ``query``; returns the row id.

    An answer the resolver read from the store (a stored AI image) is already a row, found here by
    its URL and left as it is; any other answer is written as the resolver would have.
    """
    from coverctl.names import normalize
    from coverctl.resolver import image_record

    keys = normalize(query.character_name), normalize(query.title)
    for row in store.find(keys[0], keys[1], [candidate.source]):
        if row["image_url"] == candidate.image_url:
            return str(row["id"])
    return store.upsert(image_record(query, candidate))
