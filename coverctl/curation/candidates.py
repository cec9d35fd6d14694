"""Every picture the sources offer for one query, numbered (`coverctl candidates`, review panel).

The steps are asked in cascade order: the curator's pin, the local override, a stored AI image,
then the providers the query's media type consults and web search. A provider that can list more
than its best answer does so through its `candidates()` method (`sources.base.CandidateLister`):
TMDB adds the matched person's other profile photos, TVDB the character's artwork and the actor's
photo, web search every result passing its guard and check. Each picture is listed once, with the
first step that offered it, and marked when it is what `resolve` serves now, pinned or rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coverctl.constants import Source
from coverctl.errors import ConfigError, ProviderError, UsageError
from coverctl.models import Candidate, Query, Resolution
from coverctl.names import normalize
from coverctl.sources.base import CandidateLister, SourceAnswer
from coverctl.store.records import PINNED, REJECTED, Decision

if TYPE_CHECKING:
    from coverctl.curation.thumbnails import Thumbnail
    from coverctl.resolver import Resolver

LOCAL_STEPS = ("local", "stored_ai")


@dataclass
class ListedCandidate:
    """One numbered picture of a candidate list."""

    number: int  # from 1: what `pin --candidate N` takes
    step: str
    candidate: Candidate
    served: bool = False  # what `resolve` serves now
    pinned: bool = False
    rejection: Decision | None = None
    thumbnail: Thumbnail | None = None  # when sizes were asked for

    @property
    def width(self) -> int | None:
        return self.candidate.image_width or (self.thumbnail.width if self.thumbnail else None)

    @property
    def height(self) -> int | None:
        return self.candidate.image_height or (self.thumbnail.height if self.thumbnail else None)

    @property
    def problem(self) -> str | None:
        return self.thumbnail.problem if self.thumbnail else None

    def to_json(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "number": self.number,
            "step": self.step,
            "image_url": c.image_url,
            "source": c.source,
            "quality_score": c.quality_score,
            "width": self.width,
            "height": self.height,
            "matched": c.matched.as_dict(),
            "served": self.served,
            "pinned": self.pinned,
            "rejected": self.rejection is not None,
            "rejected_note": self.rejection.note if self.rejection else None,
            "problem": self.problem,
            "problem_detail": self.thumbnail.detail if self.thumbnail else None,
        }


@dataclass
class CandidateList:
    query: Query
    candidates: list[ListedCandidate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # steps that offered nothing, and why
    served: Resolution | None = None

    def number(self, n: int) -> ListedCandidate:
        """The n-th candidate; UsageError when there is none."""
        if not self.candidates:
            raise UsageError(
                f"No source offers a picture of {self.query.character_name!r} in "
                f"{self.query.title!r}; nothing to choose from."
            )
        if not 1 <= n <= len(self.candidates):
            raise UsageError(
                f"There is no candidate {n}: choose from 1 to {len(self.candidates)} "
                "(see `coverctl candidates`)."
            )
        return self.candidates[n - 1]

    def to_json(self) -> dict[str, Any]:
        q = self.query
        return {
            "character_name": q.character_name,
            "title": q.title,
            "year": q.year,
            "media_type": q.media_type,
            "served": self.served.to_json() if self.served else None,
            "candidates": [c.to_json() for c in self.candidates],
            "notes": list(self.notes),
        }


def steps_for(resolver: Resolver, query: Query) -> list[str]:
    from coverctl.resolver import PINNED_STEP, provider_steps

    return [PINNED_STEP, *LOCAL_STEPS, *provider_steps(query.media_type, generate=False)]


async def _ask(resolver: Resolver, step: str, query: Query) -> SourceAnswer | str:
    """The step's candidates, or why it has none."""
    source = resolver.source(step)
    if source is None:
        return "not included in this build"
    reason = resolver.unavailable_reason(step, source)
    if reason:
        return reason
    try:
        if isinstance(source, CandidateLister):
            return await source.candidates(query, resolver.context)
        return await source.find(query, resolver.context)
    except ConfigError:
        raise
    except ProviderError as exc:
        from coverctl.redact import scrub

        return f"unavailable: {scrub(exc.message, resolver.settings.secrets())}"


async def list_candidates(
    resolver: Resolver, query: Query, *, sizes: bool = False
) -> CandidateList:
    """Every candidate picture for `query`, numbered in cascade order.

    With `sizes`, pictures whose size no source gave are fetched (through the thumbnail cache)
    to measure them; their preview and any problem (dead, not an image...) come with them.
    """
    from coverctl.validation import validate_query

    query = validate_query(query)
    listing = CandidateList(query)
    decisions = resolver.store.decisions.for_work(
        normalize(query.character_name), normalize(query.title)
    )
    from coverctl.curation.rules import applicable, best_pin, rejection_of

    fitting = applicable(decisions, query)
    pin = best_pin([d for d in fitting if d.kind == PINNED], query)
    rejections = [d for d in fitting if d.kind == REJECTED]
    seen: set[str] = set()
    for step in steps_for(resolver, query):
        answer = await _ask(resolver, step, query)
        if isinstance(answer, str):
            listing.notes.append(f"{step}: {answer}")
            continue
        if not answer.candidates:
            listing.notes.append(f"{step}: {answer.reason or 'nothing found'}")
            continue
        for candidate in answer.candidates:
            if candidate.image_url in seen:
                continue
            seen.add(candidate.image_url)
            listing.candidates.append(
                ListedCandidate(
                    number=len(listing.candidates) + 1,
                    step=step,
                    candidate=candidate,
                    pinned=candidate.source == Source.PINNED,
                    rejection=rejection_of(candidate.image_url, candidate.image_hash, rejections),
                )
            )
    if pin is not None and not any(c.pinned for c in listing.candidates):
        listing.notes.append(f"pinned: the pinned picture {pin.image_url} cannot be served")
    listing.served = await resolver.resolve(query)
    served_url = listing.served.candidate.image_url if listing.served.candidate else None
    for listed in listing.candidates:
        listed.served = listed.candidate.image_url == served_url
    if sizes:
        await measure(resolver, listing.candidates)
    return listing


async def measure(resolver: Resolver, listed: Sequence[ListedCandidate]) -> None:
    """Fetch (through the thumbnail cache) the pictures whose size is unknown."""
    from coverctl.curation.thumbnails import thumbnails

    wanted = [c for c in listed if not (c.candidate.image_width and c.candidate.image_height)]
    # Provider pictures come from the providers' own answers (trusted as --verify trusts them);
    # web results were checked with the private-address guard already, and carry their size.
    found = await thumbnails(
        resolver.context, [c.candidate.image_url for c in wanted], untrusted=False
    )
    for item in wanted:
        item.thumbnail = found.get(item.candidate.image_url)
