"""Ids when the input has them: the rules for valid ids, which steps answer them, and the checks
of a row's own names against the record an id points at. Pure functions, no I/O.

Exports from TMDB or TVDB carry ids. A row with ids is resolved by identity: each provider it
has ids for is asked for the record the id names (one call per work, cached and shared with the
other rows of that work), and no search or name matching decides who it is. Only those
providers are asked: no web image search, whose answers are found by name.

The row's names are still compared with what the id found. A character name that the credit
does not carry, or a title that is not one of the work's, means the row contradicts itself: it
is reported (IdentityMismatch, an `error` row saying which), never resolved by trusting either.

The one rule set for ids (`validation.py`, the one query validator, applies it to every input row
and every query):

- ids are positive whole numbers, except TMDB's `credit_id`: 24 hexadecimal digits;
- `tmdb_id` needs the media type, movie or tv, because TMDB numbers films and series apart;
- TVDB ids make the row a series (`tv`) and `hardcover_id` a book: a different media type given
  with them is refused;
- `tmdb_person_id` needs `tmdb_id` or `credit_id`: a person plays many roles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any, Final

from coverctl.constants import MediaType
from coverctl.models import ExternalIds, Query
from coverctl.names import (
    CastMatch,
    CastMember,
    TitleCandidate,
    TitleMatch,
    character_aliases,
    match_character,
    match_title,
)

ID_FIELDS: Final = tuple(f.name for f in fields(ExternalIds))
"""Input column (and `resolve` option) names of the ids, as the models spell them."""

# TMDB's largest ids are in the tens of millions; GraphQL's Int (Hardcover) stops at 2^31 - 1.
MAX_ID: Final = 2**31 - 1
_DIGITS: Final = re.compile(r"[0-9]+")
_CREDIT_ID: Final = re.compile(r"[0-9a-f]{24}")
CREDIT_ID_EXAMPLE: Final = "52fe4250c3a36847f80149f3"

# Which ids each provider step resolves by. A query with ids consults only these steps.
STEP_ID_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "tmdb_movie": ("tmdb_id", "credit_id"),
    "tmdb_tv": ("tmdb_id", "credit_id"),
    "tvdb": ("tvdb_id", "tvdb_character_id"),
    "hardcover": ("hardcover_id",),
}

# Where a work title is split into the franchise and the subtitle ("Pirates of the Caribbean:
# The Curse of the Black Pearl"): with an id naming the work, either part is that work's title.
_TITLE_PARTS: Final = re.compile(r"\s*(?::|\s-\s|\s–\s|\s—\s)\s*")
_TRAILING_YEAR: Final = re.compile(r"\s*\((\d{4})\)\s*$")


def parse_ids(values: Mapping[str, Any]) -> ExternalIds:
    """The ids among `values` (text from CSV, numbers from JSON, typed from callers).

    Missing, None and blank values are "no id". ValueError with one sentence for a bad one.
    """
    parsed: dict[str, Any] = {}
    for name in ID_FIELDS:
        value = values.get(name)
        parsed[name] = _credit_id(value) if name == "credit_id" else _whole_number(name, value)
    return ExternalIds(**parsed)


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _shown(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _whole_number(name: str, value: Any) -> int | None:
    if _is_blank(value):
        return None
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        text = value.strip().removesuffix(".0")  # spreadsheets write 155 as 155.0
        number = int(text) if _DIGITS.fullmatch(text) else None
    if number is None or not 0 < number <= MAX_ID:
        raise ValueError(
            f"{name} {_shown(value)} is not an id: use the provider's id, a positive whole "
            "number such as 155."
        )
    return number


def _credit_id(value: Any) -> str | None:
    if _is_blank(value):
        return None
    text = value.strip().lower() if isinstance(value, str) else ""
    if not _CREDIT_ID.fullmatch(text):
        raise ValueError(
            f"credit_id {_shown(value)} is not a TMDB credit id: 24 hexadecimal characters, "
            f"such as {CREDIT_ID_EXAMPLE}."
        )
    return text


def media_type_for(ids: ExternalIds, media_type: str | None) -> str | None:
    """The media type of a query with `ids` (TVDB ids imply tv, hardcover_id book), or
    ValueError when the ids and the media type cannot go together."""
    if not ids:
        return media_type
    implied: dict[str, str] = {}
    for name in ("tvdb_id", "tvdb_character_id"):
        if getattr(ids, name) is not None:
            implied.setdefault(MediaType.TV, name)
    if ids.hardcover_id is not None:
        implied[MediaType.BOOK] = "hardcover_id"
    if len(implied) > 1:
        raise ValueError(
            f"{implied[MediaType.TV]} names a series and hardcover_id a book: "
            "keep the ids of the one work the row is about."
        )
    for kind, name in implied.items():
        if media_type is not None and media_type != kind:
            what = "a TVDB series" if kind == MediaType.TV else "a Hardcover book"
            raise ValueError(f"{name} names {what}, but the media type is {media_type}.")
        media_type = kind
    if ids.tmdb_id is not None and media_type not in (MediaType.MOVIE, MediaType.TV):
        raise ValueError(
            "tmdb_id needs the media type movie or tv: TMDB numbers films and series apart."
        )
    if ids.credit_id is not None and media_type == MediaType.BOOK:
        raise ValueError("credit_id is a TMDB film or series credit, but the media type is book.")
    if ids.tmdb_person_id is not None and ids.tmdb_id is None and ids.credit_id is None:
        raise ValueError(
            "tmdb_person_id needs the work's tmdb_id (or a credit_id): a person plays many roles."
        )
    return media_type


def answers_ids(step: str, ids: ExternalIds) -> bool:
    """Whether provider step `step` resolves a query with `ids` (by one of its ids)."""
    return any(getattr(ids, name) is not None for name in STEP_ID_FIELDS.get(step, ()))


def id_label(name: str, value: object) -> str:
    """How messages name an id: "credit_id 52fe4250c3a36847f80149f3"."""
    return f"{name} {value}"


def _title_variants(titles: Sequence[str]) -> list[str]:
    found: list[str] = []
    for title in titles:
        found.append(title)
        parts = [p for p in _TITLE_PARTS.split(title) if p]
        if len(parts) > 1:
            found.extend(parts)
    return [t for t in dict.fromkeys(found) if t.strip()]


def title_contradiction(
    label: str, query: Query, titles: Sequence[str], year: int | None
) -> str | None:
    """None when the row's title (and year, within one) is the work's; else the sentence saying
    what the id names instead. The work's titles include original and alternative titles; its
    franchise and subtitle count as its title too ("The Return of the King"), since the id says
    which work it is. A work without any title cannot contradict."""
    titles = [t for t in titles if t and t.strip()]
    if not titles:
        return None
    wanted, wanted_year = query.title, query.year
    typed_year = _TRAILING_YEAR.search(wanted)
    if typed_year and _TRAILING_YEAR.sub("", wanted):
        wanted = _TRAILING_YEAR.sub("", wanted)  # "Dune (2021)"
        wanted_year = wanted_year or int(typed_year.group(1))
    candidates = [TitleCandidate("work", tuple(_title_variants(titles)), year, 0)]
    shown = f"'{titles[0]}'" + (f" ({year})" if year else "")
    if not isinstance(match_title(wanted, None, candidates), TitleMatch):
        return f"{label} is {shown}, not '{query.title}'."
    if (
        wanted_year is not None
        and year is not None
        and not isinstance(match_title(wanted, wanted_year, candidates), TitleMatch)
    ):
        return f"{label} is {shown}, not the one from {wanted_year}."
    return None


def character_contradiction(
    label: str,
    query: Query,
    person: str | None,
    credited: str,
    aliases: Sequence[str] = (),
) -> str | None:
    """None when the row's character name is the credit's (exactly, partly or with a typo, as
    `names.match_character` decides for that one credit, its aliases included; a row that
    pastes a credit string matches by any of its aliases) and its actor, if given, is the
    credited person; else the sentence saying who the id is.

    A credit without a character name cannot contradict the row's: the id alone decides."""
    names = [n for n in (credited, *aliases) if n and n.strip()]
    who = f"{person} as '{credited}'" if person and credited else (person or f"'{credited}'")
    member = CastMember(
        person_id=label,
        person_name=person or "",
        character=" / ".join(names) or query.character_name,
        order=0,
        has_image=True,
    )
    # The row's name may itself be a credit string ("Bruce Wayne / Batman", "Woody (voice)"):
    # any of its aliases naming this credit is the credit.
    asked = [query.character_name, *character_aliases(query.character_name)]
    named = next(
        (a for a in asked if isinstance(match_character(a, [member]), CastMatch)),
        None if names else query.character_name,
    )
    if named is None:
        return f"{label} is {who}, not '{query.character_name}'."
    if query.actor and not isinstance(
        match_character(named, [member], actor=query.actor), CastMatch
    ):
        return f"{label} is {who}, not played by {query.actor}."
    return None


__all__ = [
    "CREDIT_ID_EXAMPLE",
    "ID_FIELDS",
    "STEP_ID_FIELDS",
    "answers_ids",
    "character_contradiction",
    "id_label",
    "media_type_for",
    "parse_ids",
    "title_contradiction",
]
