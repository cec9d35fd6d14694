"""`coverctl identify`: which film or series a frame is from (the design's `/extract-title/`).

A reader (`services/readers.py`: offline OCR or a vision model) reads title candidates off the
picture; each is searched with TMDB's ``search/multi`` (cached 24 h like every TMDB answer) and
a work is accepted only when one of its titles matches the text at
:data:`TITLE_MATCH_THRESHOLD` (rapidfuzz ratio on normalised titles, a leading "The"/"A"/"An"
ignored) or better. Nothing is accepted on the reader's word alone: a vision model can invent a
title, OCR can misread one.

Several works with the same title (a remake, an obscure short of the same name) are told apart
by a year (from `--year`, or the vision model's answer); without one, a work is taken only when
it is by far the better known (:data:`DOMINANCE_FACTOR` times the TMDB votes of every other
match, and at least :data:`DOMINANCE_MIN_VOTES`), and the answer says so. Otherwise the frame is
reported as ambiguous, listing the works, and nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rapidfuzz import fuzz

from coverctl.constants import TMDB_POSTER_SIZE, MediaType
from coverctl.errors import ConfigError, NoResult, UsageError
from coverctl.names import normalize
from coverctl.services.readers import READERS, TitleGuess, TitleReading
from coverctl.sources.base import as_int, as_list, as_str, year_of

if TYPE_CHECKING:
    from coverctl.resolver import Resolver
    from coverctl.sources.base import SourceContext

TITLE_MATCH_THRESHOLD: Final = 95.0
DOMINANCE_FACTOR: Final = 10
DOMINANCE_MIN_VOTES: Final = 100
MAX_TITLE_SEARCHES: Final = 3  # TMDB searches per frame, one per title candidate
_ARTICLES: Final = ("the ", "a ", "an ")


@dataclass(frozen=True)
class Work:
    """A TMDB film or series from search/multi."""

    id: str
    media_type: str
    title: str
    original_title: str
    year: int | None
    poster_path: str | None
    vote_count: int
    rank: int

    def poster_url(self, image_base: str) -> str | None:
        return f"{image_base}/{TMDB_POSTER_SIZE}{self.poster_path}" if self.poster_path else None

    def label(self) -> str:
        return f"{self.title} ({self.year or 'year unknown'}, {self.media_type} {self.id})"


@dataclass(frozen=True)
class Identification:
    reading: TitleReading
    guess: TitleGuess
    work: Work
    score: float
    note: str | None
    poster_url: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "reader": self.reading.reader,
            "extracted_text": list(self.reading.text),
            "extracted_title": self.guess.title,
            "tmdb_result": {
                "id": int(self.work.id),
                "title": self.work.title,
                "original_title": self.work.original_title,
                "year": self.work.year,
                "media_type": self.work.media_type,
                "poster_url": self.poster_url,
            },
            "score": round(self.score, 1),
            "note": self.note,
        }


def title_key(title: str) -> str:
    key = normalize(title)
    for article in _ARTICLES:
        if key.startswith(article) and len(key) > len(article):
            return key[len(article) :]
    return key


def title_score(read: str, work: Work) -> float:
    """0-100: how well the text read matches the work's title or original title."""
    key = title_key(read)
    if not key:
        return 0.0
    return max(
        float(fuzz.ratio(key, title_key(name)))
        for name in (work.title, work.original_title)
        if name
    )


def parse_multi(payload: Any) -> list[Work]:
    """Films and series from a /search/multi reply (people are left out)."""
    if not isinstance(payload, dict):
        raise NoResult("TMDB's search reply is not a JSON object.")
    works = []
    for rank, item in enumerate(as_list(payload.get("results"))):
        if not isinstance(item, dict) or as_int(item.get("id")) is None:
            continue
        kind = as_str(item.get("media_type"))
        if kind == MediaType.MOVIE:
            title, original = as_str(item.get("title")), as_str(item.get("original_title"))
            year = year_of(item.get("release_date"))
        elif kind == MediaType.TV:
            title, original = as_str(item.get("name")), as_str(item.get("original_name"))
            year = year_of(item.get("first_air_date"))
        else:
            continue
        if not title and not original:
            continue
        votes = as_int(item.get("vote_count"))
        works.append(
            Work(
                id=str(item["id"]),
                media_type=kind,
                title=title or original,
                original_title=original or title,
                year=year,
                poster_path=as_str(item.get("poster_path")) or None,
                vote_count=votes if votes is not None else 0,
                rank=rank,
            )
        )
    return works


def pick_work(
    guess: TitleGuess, works: list[Work], *, year: int | None, media_type: str | None
) -> tuple[Work, float, str | None] | str:
    """(work, score, note) for the one work `guess` names, or the reason there is none."""
    if media_type:
        works = [w for w in works if w.media_type == media_type]
    scored = [(title_score(guess.title, w), w) for w in works]
    matching = [(s, w) for s, w in scored if s >= TITLE_MATCH_THRESHOLD]
    if not matching:
        best = max(scored, key=lambda item: item[0], default=None)
        closest = f" (closest: {best[1].label()} at {best[0]:.0f})" if best else ""
        return f"no TMDB work is titled '{guess.title}'{closest}"
    top = max(s for s, _ in matching)
    matching = [(s, w) for s, w in matching if s >= top - 1.0]
    if year is not None:
        near = [(s, w) for s, w in matching if w.year is not None and abs(w.year - year) <= 1]
        if not near:
            found = ", ".join(w.label() for _, w in matching)
            return f"'{guess.title}' is not from {year} on TMDB (found {found})"
        matching = near
    if len(matching) == 1:
        score, work = matching[0]
        return work, score, None
    matching.sort(key=lambda item: (-item[1].vote_count, item[1].rank))
    (score, work), others = matching[0], [w for _, w in matching[1:]]
    if work.vote_count >= DOMINANCE_MIN_VOTES and all(
        work.vote_count >= DOMINANCE_FACTOR * other.vote_count for other in others
    ):
        note = (
            f"{len(others)} other TMDB work{'s' if len(others) > 1 else ''} share"
            f"{'' if len(others) > 1 else 's'} this title; the far better-known one was taken "
            "(give --year to choose)"
        )
        return work, score, note
    listing = ", ".join(w.label() for _, w in matching[:4])
    return f"'{guess.title}' is ambiguous: {listing}; give --year or --media-type"


def read_screenshot(path: Path) -> bytes:
    """The picture file's bytes once they passed the picture checks (UsageError otherwise)."""
    from coverctl.errors import ImageRejected
    from coverctl.images import MAX_IMAGE_BYTES, Use, inspect_image

    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_IMAGE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        inspect_image(data, Use.ANY)
    except ImageRejected as exc:
        raise UsageError(f"{path}: {exc.message}") from None
    return data


async def search_multi(ctx: SourceContext, title: str) -> list[Work]:
    """TMDB search/multi for `title` (first page), through the 24 h response cache."""
    from coverctl.services.common import service_errors
    from coverctl.sources.base import cached_response, json_body
    from coverctl.sources.tmdb import PROVIDER, auth

    settings = ctx.settings
    params, headers = auth(settings)

    async def fetch() -> Any:
        response = await ctx.http.request(
            PROVIDER,
            "GET",
            f"{settings.tmdb_api_url}/search/multi",
            params={**params, "query": title, "include_adult": "false", "page": "1"},
            headers=headers,
        )
        if response.status_code == 401:
            from coverctl.errors import CredentialRejected

            raise CredentialRejected("TMDB", "TMDB_API_KEY")
        if response.status_code != 200:
            from coverctl.errors import ServiceFailed

            raise ServiceFailed(f"TMDB answered HTTP {response.status_code} to the title search.")
        return json_body(response, PROVIDER)

    with service_errors("TMDB", "TMDB_API_URL"):
        payload = await cached_response(ctx, PROVIDER, ("search-multi", normalize(title)), fetch)
    return parse_multi(payload)


async def identify_frame(
    ctx: SourceContext,
    data: bytes,
    *,
    reader: str = "ocr",
    year: int | None = None,
    media_type: str | None = None,
) -> Identification:
    """The TMDB work the frame `data` is from, or NoResult saying why none was accepted."""
    if reader not in READERS:
        raise UsageError(f"--reader must be one of {', '.join(READERS)}, got {reader!r}.")
    if media_type is not None and media_type not in (MediaType.MOVIE, MediaType.TV):
        raise UsageError("--media-type must be movie or tv for identify.")
    if not ctx.settings.tmdb_api_key:
        raise ConfigError(
            "TMDB_API_KEY is not set: identify checks every title it reads against TMDB "
            "(coverctl config set TMDB_API_KEY)."
        )
    reading = await READERS[reader]().read(ctx, data)
    if not reading.guesses:
        seen = f" (read: {'; '.join(reading.text[:3])})" if reading.text else ""
        raise NoResult(f"No title could be read from the picture{seen}.")
    reasons = []
    for guess in reading.guesses[:MAX_TITLE_SEARCHES]:
        works = await search_multi(ctx, guess.title)
        picked = pick_work(
            guess, works, year=year or guess.year, media_type=media_type or guess.media_type
        )
        if isinstance(picked, str):
            reasons.append(picked)
            continue
        work, score, note = picked
        return Identification(
            reading, guess, work, score, note, work.poster_url(ctx.settings.tmdb_image_base_url)
        )
    raise NoResult(
        f"No TMDB film or series matches the text read at {TITLE_MATCH_THRESHOLD:.0f}% or "
        f"better: {'; '.join(reasons)}."
    )


async def resolve_in_work(
    resolver: Resolver, character: str, identification: Identification
) -> dict[str, Any]:
    """Resolve `character` in the identified work through the normal cascade (its JSON)."""
    from coverctl.models import Query

    work = identification.work
    query = Query(character, work.title, work.year, work.media_type)
    resolution = await resolver.resolve(query)
    return resolution.to_json()
