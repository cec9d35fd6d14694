"""The one query validator (coverctl/validation.py): its rules and messages, once.

Every way a query comes in runs it: batch input rows (inputs.py), the batch engine (cast rows),
`Resolver.resolve`/`plan` and `coverctl resolve`. The tests at the end check, for each, that the
words it reports are the validator's own.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from coverctl.batch import BatchEngine
from coverctl.batch.inputs import InputRow, rows_from_text
from coverctl.errors import InvalidQuery, UsageError
from coverctl.models import ExternalIds, Query
from coverctl.resolver import ResolveOptions, close_resolver
from coverctl.validation import Problem, query_from_fields, validate_query
from tests.conftest import ResolverHarness

VALID = {"character_name": "Joker", "title": "The Dark Knight"}


def refused(**changes: Any) -> InvalidQuery:
    with pytest.raises(InvalidQuery) as caught:
        query_from_fields({**VALID, **changes})
    return caught.value


@pytest.mark.parametrize(
    ("changes", "field", "problem", "message"),
    [
        ({"character_name": ""}, "character_name", Problem.EMPTY, "The character name is empty."),
        ({"character_name": None}, "character_name", Problem.EMPTY, "The character name is empty."),
        ({"title": "   "}, "title", Problem.EMPTY, "The title is empty."),
        ({"title": None}, "title", Problem.EMPTY, "The title is empty."),
        (
            {"character_name": "J" * 301},
            "character_name",
            Problem.TOO_LONG,
            "The character name is longer than 300 characters.",
        ),
        (
            {"actor": "A" * 301},
            "actor",
            Problem.TOO_LONG,
            "The actor is longer than 300 characters.",
        ),
        (
            {"character_name": "Jo\x07ker"},
            "character_name",
            Problem.CONTROL,
            "The character name contains control characters.",
        ),
        ({"title": "T\nT"}, "title", Problem.CONTROL, "The title contains control characters."),
        ({"title": "T\x00"}, "title", Problem.CONTROL, "The title contains control characters."),
        ({"actor": "A\x7f"}, "actor", Problem.CONTROL, "The actor contains control characters."),
        (
            {"title": "Jo\udcffker"},
            "title",
            Problem.NOT_UTF8,
            "The title has bytes that are not UTF-8; save the file as UTF-8.",
        ),
        (
            {"character_name": {"first": "J"}},
            "character_name",
            Problem.NOT_TEXT,
            "The character name must be text.",
        ),
        (
            {"character_name": True},
            "character_name",
            Problem.NOT_TEXT,
            "The character name must be text.",
        ),
        (
            {"year": "soon"},
            "year",
            Problem.NOT_A_YEAR,
            "The year 'soon' is not a year; give one like 2008.",
        ),
        (
            {"year": "-5"},
            "year",
            Problem.NOT_A_YEAR,
            "The year '-5' is not a year; give one like 2008.",
        ),
        (
            {"year": 3000},
            "year",
            Problem.IMPLAUSIBLE_YEAR,
            "The year 3000 is not plausible; give one from 1000 to 2100.",
        ),
        (
            {"year": 99999},
            "year",
            Problem.IMPLAUSIBLE_YEAR,
            "The year 99999 is not plausible; give one from 1000 to 2100.",
        ),
        (
            {"media_type": "Podcast"},
            "media_type",
            Problem.MEDIA_TYPE,
            "Unknown media type 'podcast'; use movie, tv or book, or leave it empty.",
        ),
        (
            {"tmdb_id": "abc", "media_type": "movie"},
            "ids",
            Problem.IDS,
            "tmdb_id 'abc' is not an id: use the provider's id, a positive whole number such as "
            "155.",
        ),
        (
            {"tmdb_id": 155},
            "ids",
            Problem.IDS,
            "tmdb_id needs the media type movie or tv: TMDB numbers films and series apart.",
        ),
    ],
)
def test_each_rule_has_one_message(
    changes: dict[str, Any], field: str, problem: str, message: str
) -> None:
    error = refused(**changes)
    assert (error.field, error.problem, error.message) == (field, problem, message)
    assert isinstance(error, UsageError)  # `resolve` exits 2 on it


def test_fields_are_cleaned_into_a_query() -> None:
    query = query_from_fields(
        {
            "character_name": "  Bruce \t Wayne ",
            "title": "The  Dark Knight",
            "year": "2008.0",
            "media_type": " MOVIE ",
            "actor": "Christian   Bale",
            "tmdb_id": "155",
            "unrelated": "ignored",
        }
    )
    assert query == Query(
        "Bruce Wayne", "The Dark Knight", 2008, "movie", "Christian Bale", ExternalIds(tmdb_id=155)
    )
    # Optional fields left blank are "not given"; numbers are taken as their digits.
    assert query_from_fields({"character_name": 7, "title": 1917, "year": "", "actor": " "}) == (
        Query("7", "1917")
    )
    # The ids decide the media type they imply.
    assert query_from_fields({**VALID, "tvdb_id": 81189}).media_type == "tv"


def test_years_at_the_edges_are_accepted() -> None:
    assert query_from_fields({**VALID, "year": 1000}).year == 1000
    assert query_from_fields({**VALID, "year": 2100.0}).year == 2100
    assert refused(year="²").problem == Problem.NOT_A_YEAR  # a digit, but not an ASCII one


def test_an_empty_character_is_allowed_only_when_asked() -> None:
    assert refused(character_name="").problem == Problem.EMPTY
    title_only = query_from_fields(
        {**VALID, "character_name": " ", "year": 2008}, allow_empty_character=True
    )
    assert title_only == Query("", "The Dark Knight", 2008)
    with pytest.raises(InvalidQuery, match="title is empty"):
        query_from_fields({"character_name": ""}, allow_empty_character=True)


def test_validate_query_is_the_same_rules_on_a_query() -> None:
    assert validate_query(Query(" Joker ", "The  Dark Knight", 2008, "Movie")) == Query(
        "Joker", "The Dark Knight", 2008, "movie"
    )
    with pytest.raises(InvalidQuery) as caught:
        validate_query(Query("A", "T", year=99999))
    assert caught.value.message == refused(year=99999).message


# --- each entry point runs the validator and reports its words -----------------------------------

BAD = {"character_name": "Joker", "title": "T", "media_type": "podcast"}


def validator_says(fields: dict[str, Any]) -> str:
    with pytest.raises(InvalidQuery) as caught:
        query_from_fields(fields)
    return caught.value.message


@pytest.mark.parametrize(
    "fields",
    [BAD, {"character_name": "Joker", "title": "T\x01"}, {"title": "T"}, {**VALID, "year": 1}],
)
def test_batch_input_rows_carry_the_validators_message(fields: dict[str, Any]) -> None:
    (jsonl,) = rows_from_text(json.dumps(fields) + "\n", "jsonl")
    assert jsonl.query is None and jsonl.error == f"Row 1: {validator_says(fields)}"
    columns = ("character_name", "title", "year", "media_type")
    values = ",".join(str(fields.get(column, "")) for column in columns)
    (csv,) = rows_from_text(f"{','.join(columns)}\n{values}\n", "csv")
    assert csv.error == f"Row 1: {validator_says(fields)}"


def test_the_batch_engine_validates_the_queries_it_resolves() -> None:
    class Unreachable:
        settings = None

        async def resolve(self, query: Query, options: ResolveOptions) -> Any:
            raise AssertionError(f"an invalid query was resolved: {query}")

    emitted: list[dict[str, Any]] = []

    def emit(batch: list[tuple[int, Any]]) -> None:
        emitted.extend(result for _, results in batch for result in results)

    engine = BatchEngine(
        Unreachable(),  # type: ignore[arg-type]
        ResolveOptions(),
        emit,
        concurrency=1,
        window=1,
    )
    asyncio.run(engine.run([InputRow(4, Query("Joker", "T", media_type="podcast"))]))
    (row,) = emitted
    assert row["status"] == "error" and row["error"] == f"Row 4: {validator_says(BAD)}"


def test_resolve_and_plan_refuse_what_the_validator_refuses(harness: ResolverHarness) -> None:
    query = Query("Joker", "T", media_type="podcast")

    async def refusals() -> list[str]:
        resolver = harness.open()
        messages = []
        try:
            for call in (resolver.resolve, resolver.plan):
                with pytest.raises(InvalidQuery) as caught:
                    await call(query)
                messages.append(caught.value.message)
        finally:
            await close_resolver(resolver)
        return messages

    assert asyncio.run(refusals()) == [validator_says(BAD)] * 2
    # Refused before any provider was asked.
    assert all(fake.requests == [] for fake in harness.router.routes.values())


def test_the_resolve_command_exits_2_with_the_validators_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from coverctl.cli.app import run

    code = run(["resolve", "Joker", "--title", "T", "--media-type", "podcast"])
    err = capsys.readouterr().err
    assert code == 2 and validator_says(BAD) in " ".join(err.split())
