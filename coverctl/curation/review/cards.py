"""The cards of the review page: one per character and work, from a batch's results file, from the
store (recent rows), or from the audit's problem rows. No web framework here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coverctl.constants import REVIEW_DEFAULT_LIMIT, QualityScore, Source
from coverctl.errors import UsageError
from coverctl.models import Query, Resolution

if TYPE_CHECKING:
    from coverctl.config import Settings
    from coverctl.store.interfaces import ImageStore

NOT_FOUND = "not_found"
ERROR = "error"


@dataclass
class ReviewCard:
    """One row to look at: the picture chosen for a character in a work, and what is wrong."""

    id: str
    query: Query
    status: str  # resolved | not_found | error
    image_url: str | None = None
    source: str | None = None
    quality_score: int | None = None
    person: str | None = None
    credit: str | None = None  # the character as the provider credits it
    external_id: str | None = None
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    decision: str | None = None  # "pinned" | "rejected" (the picture shown was replaced)
    message: str | None = None  # what the last action did, for the person
    row: int | None = None  # the batch row, when from a results file

    @property
    def actionable(self) -> bool:
        """Whether the query is valid (a malformed batch row cannot be pinned or rejected)."""
        from coverctl.validation import validate_query

        try:
            validate_query(self.query)
        except UsageError:
            return False
        return True

    def update(self, resolution: Resolution) -> None:
        """Show what `resolve` serves now."""
        candidate = resolution.candidate
        self.status = resolution.status
        self.image_url = candidate.image_url if candidate else None
        self.source = candidate.source if candidate else None
        self.quality_score = candidate.quality_score if candidate else None
        self.person = candidate.matched.person if candidate else None
        self.credit = candidate.matched.character if candidate else None
        self.external_id = candidate.matched.external_id if candidate else None
        self.problems = [p for p in self.problems if p not in (NOT_FOUND, ERROR)]
        if resolution.status != "resolved":
            self.problems.insert(0, resolution.status)
            self.details.insert(0, resolution.error or "")
        if candidate is not None and candidate.source == Source.PINNED:
            self.decision = Source.PINNED

    def to_json(self) -> dict[str, Any]:
        q = self.query
        return {
            "id": self.id,
            "row": self.row,
            "character_name": q.character_name,
            "title": q.title,
            "year": q.year,
            "media_type": q.media_type,
            "status": self.status,
            "image_url": self.image_url,
            "source": self.source,
            "quality_score": self.quality_score,
            "person": self.person,
            "credit": self.credit,
            "problems": list(self.problems),
            "details": list(self.details),
            "decision": self.decision,
            "message": self.message,
            "actionable": self.actionable,
        }


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def card_from_result(number: int, data: dict[str, Any]) -> ReviewCard:
    """A card from one object of `batch` output (cli-contract.md, JSON result)."""
    found = data.get("matched")
    matched: dict[str, Any] = found if isinstance(found, dict) else {}
    status = _text(data.get("status")) or ERROR
    query = Query(
        _text(data.get("character_name")) or "",
        _text(data.get("title")) or "",
        _int(data.get("year")),
        _text(data.get("media_type")),
    )
    card = ReviewCard(
        id=f"c{number}",
        query=query,
        status=status,
        image_url=_text(data.get("image_url")),
        source=_text(data.get("source")),
        quality_score=_int(data.get("quality_score")),
        person=_text(matched.get("person")),
        credit=_text(matched.get("character")),
        external_id=_text(matched.get("external_id")),
        row=_int(data.get("row")),
    )
    if status != "resolved":
        card.problems.append(status)
        card.details.append(_text(data.get("error")) or status.replace("_", " "))
    if card.source == Source.PINNED:
        card.decision = Source.PINNED
    return card


def cards_from_results(path: Path) -> list[ReviewCard]:
    """Cards from a `batch --format jsonl` output file; UsageError if it cannot be read."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read the results file {path}: {exc}.") from None
    cards: list[ReviewCard] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            raise UsageError(
                f"{path}, line {number}, is not JSON: review reads `batch --format jsonl` output."
            ) from None
        if not isinstance(data, dict):
            raise UsageError(f"{path}, line {number}, is not a JSON object.")
        cards.append(card_from_result(len(cards) + 1, data))
    return cards


def _card_from_row(number: int, row: dict[str, Any]) -> ReviewCard:
    return ReviewCard(
        id=f"c{number}",
        query=Query(row["character_name"], row["movie_title"], row["year"], row["media_type"]),
        status="resolved",
        image_url=row["image_url"],
        source=row["source"],
        quality_score=row["quality_score"],
        person=row["person_name"],
        credit=row["matched_character"],
        external_id=row["external_character_id"],
        decision=Source.PINNED if row["source"] == Source.PINNED else None,
    )


def cards_from_store(
    store: ImageStore, *, since: datetime | None = None, limit: int = REVIEW_DEFAULT_LIMIT
) -> list[ReviewCard]:
    """The most recently changed characters of the store, one card each (its best row)."""
    stamp = since.isoformat() if since is not None else None
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for row in store.recent(stamp):  # newest first: the first row of a character is its newest
        key = (row["character_key"], row["title_key"])
        kept = best.get(key)
        if kept is None and len(best) >= limit:
            continue  # the `limit` most recently changed characters only
        if kept is None or row["quality_score"] > kept["quality_score"]:
            best[key] = row if kept is None else {**row, "updated_at": kept["updated_at"]}
    newest_first = sorted(best.values(), key=lambda r: r["updated_at"] or "", reverse=True)
    return [_card_from_row(n, row) for n, row in enumerate(newest_first, start=1)]


def cards_from_audit(
    store: ImageStore,
    settings: Settings,
    *,
    since: datetime | None = None,
    limit: int = REVIEW_DEFAULT_LIMIT,
) -> list[ReviewCard]:
    """The audit's problem rows (worst first), one card each, with their problems."""
    from coverctl.maintenance.audit import AuditOptions, run_audit

    result = run_audit(store, AuditOptions(keep=limit), settings)
    cards: list[ReviewCard] = []
    for finding in result.findings:
        if since is not None and (finding.updated_at or "") < since.isoformat():
            continue
        row = store.get(finding.row_id)
        if row is None:
            continue
        card = _card_from_row(len(cards) + 1, row)
        card.problems = list(finding.problems)
        card.details = list(finding.details)
        cards.append(card)
    return cards


def apply_decisions(cards: list[ReviewCard], store: ImageStore, settings: Settings) -> None:
    """Show the curators' decisions made since the cards' data was written: a card whose
    character has a pin shows the pin; a card whose picture was rejected says so."""
    from coverctl.curation.rules import applicable, best_pin, rejection_of
    from coverctl.names import normalize
    from coverctl.sources.pinned import pinned_url
    from coverctl.store.records import PINNED, REJECTED

    for card in cards:
        if not card.query.character_name or not card.query.title:
            continue
        found = store.decisions.for_work(
            normalize(card.query.character_name), normalize(card.query.title)
        )
        decisions = applicable(found, card.query) if found else []
        if not decisions:
            continue
        pin = best_pin([d for d in decisions if d.kind == PINNED], card.query)
        if pin is not None:
            card.status = "resolved"
            card.image_url = pinned_url(pin.image_url, settings) or pin.image_url
            card.source, card.quality_score = Source.PINNED, QualityScore.PINNED
            card.person, card.credit = pin.person_name, pin.matched_character
            card.problems = [p for p in card.problems if p not in (NOT_FOUND, ERROR)]
            card.decision = Source.PINNED
            continue
        rejections = [d for d in decisions if d.kind == REJECTED]
        if card.image_url and rejection_of(card.image_url, None, rejections) is not None:
            card.decision = "rejected"
            card.message = "Rejected since this list was made: press r to see the answer now."
