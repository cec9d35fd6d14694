"""The one validator for a query: batch rows, `resolve` and library callers all go through it.

Raw fields go in (text from a CSV, values from JSON, typed arguments from the CLI or a `Query`),
a clean `Query` comes out, or `InvalidQuery` with one sentence naming the field and the fix. So a
row the batch refuses is refused by `resolve` with the same words, and the other way round.

The rules, checked field by field in this order:
- the character name and the title are required; the year, media type and actor are optional
  (missing, None and blank are "not given");
- a field is text (a number is taken as its digits), has only UTF-8, no control characters but
  tab, and at most MAX_FIELD_LENGTH characters once runs of white space are one space;
- the year is four digits (2008, or 2008.0 as spreadsheets write it) between 1000 and 2100;
- the media type is one of MediaType.ALL, in any case;
- the ids follow `identity.py`'s one rule set (which may also set the media type).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from coverctl.constants import MAX_FIELD_LENGTH, MediaType
from coverctl.errors import InvalidQuery
from coverctl.identity import media_type_for, parse_ids
from coverctl.models import Query

FIRST_YEAR: Final = 1000
LAST_YEAR: Final = 2100
# Field name -> how a message names it.
LABELS: Final = {
    "character_name": "character name",
    "title": "title",
    "year": "year",
    "media_type": "media type",
    "actor": "actor",
}
QUERY_FIELDS: Final = tuple(LABELS)
# Undecodable bytes arrive as lone surrogates (surrogateescape: input files, argv).
_UNDECODABLE: Final = re.compile("[\udc80-\udcff]")
# Those, and control characters but tab.
_UNWANTED: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f\udc80-\udcff]")


class Problem:
    """What `InvalidQuery.problem` says is wrong (callers branch on it, never on the words)."""

    EMPTY: Final = "empty"
    NOT_TEXT: Final = "not_text"
    NOT_UTF8: Final = "not_utf8"
    CONTROL: Final = "control_characters"
    TOO_LONG: Final = "too_long"
    NOT_A_YEAR: Final = "not_a_year"
    IMPLAUSIBLE_YEAR: Final = "implausible_year"
    MEDIA_TYPE: Final = "media_type"
    IDS: Final = "ids"


def query_from_fields(fields: Mapping[str, Any], *, allow_empty_character: bool = False) -> Query:
    """The clean Query `fields` describe, or InvalidQuery.

    `fields` holds the query's fields by name (QUERY_FIELDS) and the ids by column name
    (identity.ID_FIELDS); other keys are ignored. `allow_empty_character` accepts a row that
    names only its title (`batch --cast`): its character name is then "".
    """
    character = _text(fields, "character_name", required=not allow_empty_character) or ""
    title = _text(fields, "title", required=True) or ""
    year = _year(_text(fields, "year", required=False))
    media_type = _media_type(_text(fields, "media_type", required=False))
    actor = _text(fields, "actor", required=False)
    try:
        ids = parse_ids(fields)
        media_type = media_type_for(ids, media_type)
    except ValueError as exc:
        raise InvalidQuery(str(exc), field="ids", problem=Problem.IDS) from None
    return Query(character, title, year, media_type, actor, ids)


def validate_query(query: Query) -> Query:
    """A clean copy of `query`, or InvalidQuery (a UsageError) saying what is wrong with it."""
    return query_from_fields(query_fields(query))


def query_fields(query: Query) -> dict[str, Any]:
    """`query` as the raw fields `query_from_fields` reads."""
    return {
        "character_name": query.character_name,
        "title": query.title,
        "year": query.year,
        "media_type": query.media_type,
        "actor": query.actor,
        **query.ids.as_dict(),
    }


def _fail(name: str, problem: str, message: str) -> InvalidQuery:
    return InvalidQuery(message, field=name, problem=problem)


def _text(fields: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    label = LABELS[name]
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _fail(name, Problem.EMPTY, f"The {label} is empty.")
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise _fail(name, Problem.NOT_TEXT, f"The {label} must be text.")
    text = str(value)
    if _UNWANTED.search(text):  # one scan for the common case: nothing wrong
        if _UNDECODABLE.search(text):
            raise _fail(
                name,
                Problem.NOT_UTF8,
                f"The {label} has bytes that are not UTF-8; save the file as UTF-8.",
            )
        raise _fail(name, Problem.CONTROL, f"The {label} contains control characters.")
    text = " ".join(text.split())
    if len(text) > MAX_FIELD_LENGTH:
        raise _fail(
            name, Problem.TOO_LONG, f"The {label} is longer than {MAX_FIELD_LENGTH} characters."
        )
    return text


def _year(text: str | None) -> int | None:
    if text is None:
        return None
    digits = text.removesuffix(".0")  # spreadsheets write 2008 as 2008.0
    if not (digits.isascii() and digits.isdigit()):
        raise _fail(
            "year", Problem.NOT_A_YEAR, f"The year {text!r} is not a year; give one like 2008."
        )
    year = int(digits)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise _fail(
            "year",
            Problem.IMPLAUSIBLE_YEAR,
            f"The year {year} is not plausible; give one from {FIRST_YEAR} to {LAST_YEAR}.",
        )
    return year


def _media_type(text: str | None) -> str | None:
    if text is None:
        return None
    media_type = text.lower()
    if media_type not in MediaType.ALL:
        raise _fail(
            "media_type",
            Problem.MEDIA_TYPE,
            f"Unknown media type {media_type!r}; use {', '.join(MediaType.ALL[:-1])} or "
            f"{MediaType.ALL[-1]}, or leave it empty.",
        )
    return media_type
