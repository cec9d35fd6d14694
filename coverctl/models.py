"""Plain data passed between the resolver, the sources and the outputs. No I/O here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Status = Literal["resolved", "not_found", "error"]


@dataclass(frozen=True)
class ExternalIds:
    """Provider ids the input already has (TMDB or TVDB exports carry them).

    The work: `tmdb_id` (a movie or a series, as the media type says), `tvdb_id` (a series),
    `hardcover_id` (a book). The person or role: `tmdb_person_id`, `credit_id` (TMDB's
    24-hex-digit credit id), `tvdb_character_id`. A query with ids is resolved by identity
    instead of by search and name matching (`coverctl/identity.py`); the rules for valid ids
    live there too.
    """

    tmdb_id: int | None = None
    tvdb_id: int | None = None
    hardcover_id: int | None = None
    tmdb_person_id: int | None = None
    credit_id: str | None = None
    tvdb_character_id: int | None = None

    def as_dict(self) -> dict[str, int | str]:
        """The ids that are set, by column name."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))


@dataclass(frozen=True)
class Query:
    """What the user asks for: one character in one title."""

    character_name: str
    title: str
    year: int | None = None
    media_type: str | None = None  # "movie" | "tv" | "book" | None (unknown)
    actor: str | None = None
    ids: ExternalIds = field(default_factory=ExternalIds)


@dataclass(frozen=True)
class Match:
    """What a provider record matched: the person, the credited character string, its id.

    `credit_id` and `work_id` are set when the answer was found by the ids the input gave
    (the TMDB credit, and the provider's id of the work); JSON shows them only then.
    """

    person: str | None = None
    character: str | None = None
    external_id: str | None = None
    credit_id: str | None = None
    work_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        data = {"person": self.person, "character": self.character, "external_id": self.external_id}
        if self.credit_id is not None:
            data["credit_id"] = self.credit_id
        if self.work_id is not None:
            data["work_id"] = self.work_id
        return data


@dataclass(frozen=True)
class Candidate:
    """One image a source offers for a query."""

    image_url: str
    source: str
    quality_score: int
    matched: Match = field(default_factory=Match)
    media_type: str | None = None
    year: int | None = None
    title: str | None = None  # the title as the provider spells it
    # Set once the picture itself was downloaded and checked (images.inspect_image).
    image_hash: str | None = None  # perceptual hash, 16 hex digits
    image_width: int | None = None
    image_height: int | None = None


@dataclass
class Attempt:
    """What happened when the resolver asked one source (shown by --explain)."""

    source: str
    outcome: Literal["accepted", "no_match", "skipped", "unavailable", "rejected"]
    reason: str


@dataclass
class Resolution:
    """The answer for one query, as written to JSON (cli-contract.md)."""

    query: Query
    status: Status
    candidate: Candidate | None = None
    cache_hit: bool = False
    elapsed_ms: int = 0
    error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    unavailable_sources: list[str] = field(default_factory=list)
    row: int | None = None

    def to_json(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        candidate = self.candidate
        media_type = self.query.media_type or (candidate.media_type if candidate else None)
        year = self.query.year or (candidate.year if candidate else None)
        data: dict[str, Any] = {
            "row": self.row,
            "character_name": self.query.character_name,
            "title": self.query.title,
            "year": year,
            "media_type": media_type,
            "status": self.status,
            "image_url": candidate.image_url if candidate else None,
            "source": candidate.source if candidate else None,
            "quality_score": candidate.quality_score if candidate else None,
            "matched": candidate.matched.as_dict() if candidate else None,
            "cache_hit": self.cache_hit,
            "elapsed_ms": self.elapsed_ms,
            "error": self.error,
            "unavailable_sources": list(self.unavailable_sources),
        }
        if extra:
            for key, value in extra.items():
                data.setdefault(key, value)
        return data

    def explain(self) -> list[dict[str, str]]:
        return [asdict(attempt) for attempt in self.attempts]
