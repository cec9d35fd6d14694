"""Hardcover source against a GraphQL fake with the real shapes: covers, title guard, auth."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.errors import CredentialRejected
from coverctl.models import Query
from coverctl.sources.hardcover import is_auth_error
from coverctl.store.db import SqliteStore
from tests.fakes.base import FakeService, parse_json_body, serve
from tests.fakes.hardcover import (
    COVER_HOST,
    EXPIRED_TOKEN,
    THROTTLED_BODY,
    VALID_TOKEN,
    FakeHardcover,
    cover,
    cover_host,
)
from tests.fakes.images import FakeImageHost
from tests.resolving import FAST_RATES, SourceHarness

DUNE = Query("Paul Atreides", "Dune", None, "book")


@pytest.fixture
def hardcover() -> FakeHardcover:
    return FakeHardcover()


@pytest.fixture
def covers() -> FakeImageHost:
    return cover_host()


@pytest.fixture
def routes(hardcover: FakeHardcover, covers: FakeImageHost) -> dict[str, FakeService]:
    """The API and its cover host (covers are checked before they are served)."""
    return {"api.hardcover.app": hardcover, COVER_HOST: covers}


@pytest.fixture
def books(make_settings: Callable[..., Settings], routes: dict[str, FakeService]) -> SourceHarness:
    settings = make_settings(HARDCOVER_API_KEY=VALID_TOKEN, COVERCTL_WEB_SEARCH="0", **FAST_RATES)
    return SourceHarness(settings, routes)


def test_book_character_gets_the_cover_with_hardcover_quality(
    books: SourceHarness, hardcover: FakeHardcover
) -> None:
    result = books.resolve(DUNE)
    assert result.status == "resolved"
    assert result.candidate is not None
    assert result.candidate.image_url == cover(312460)["url"]
    assert result.candidate.source == "hardcover"
    assert result.candidate.quality_score == 60
    assert result.candidate.matched.as_dict() == {
        "person": None,
        "character": "Paul Atreides",
        "external_id": "312460",
    }
    assert result.to_json()["media_type"] == "book"
    (request,) = hardcover.requests
    assert request.method == "POST" and request.url.path == "/v1/graphql"
    assert request.headers["authorization"] == f"Bearer {VALID_TOKEN}"
    body = parse_json_body(request)
    assert 'query_type: "Book"' in body["query"]
    assert body["variables"]["q"] == "Dune"


def test_the_resolution_is_stored_as_a_hardcover_row(books: SourceHarness) -> None:
    books.resolve(DUNE)
    store = SqliteStore(books.settings.db_path)
    try:
        (row,) = store.find("paul atreides", "dune")
    finally:
        store.close()
    assert row["source"] == "hardcover" and row["quality_score"] == 60
    assert row["external_character_id"] == "312460"


def test_book_media_type_spends_no_character_request(
    books: SourceHarness, hardcover: FakeHardcover
) -> None:
    books.resolve(DUNE)
    assert hardcover.searches == [("book", "Dune")]


def test_token_pasted_with_its_bearer_prefix_is_sent_once(
    make_settings: Callable[..., Settings],
    hardcover: FakeHardcover,
    routes: dict[str, FakeService],
) -> None:
    settings = make_settings(
        HARDCOVER_API_KEY=f"Bearer {VALID_TOKEN}", COVERCTL_WEB_SEARCH="0", **FAST_RATES
    )
    result = SourceHarness(settings, routes).resolve(DUNE)
    assert result.status == "resolved"
    assert hardcover.requests[0].headers["authorization"] == f"Bearer {VALID_TOKEN}"


def test_title_that_only_resembles_a_result_is_not_matched(books: SourceHarness) -> None:
    result = books.resolve(Query("Paul Atreides", "Messiah", None, "book"))
    assert result.status == "not_found"
    assert result.candidate is None
    assert "no result is titled 'Messiah'" in (result.error or "")


def test_unknown_title_is_not_found_with_reason(books: SourceHarness) -> None:
    result = books.resolve(Query("Nobody", "A Book Nobody Wrote", None, "book"))
    assert result.status == "not_found"
    assert "no book called" in (result.error or "")


@pytest.mark.parametrize(
    ("year", "book_id"),
    [(2014, "1399001"), (2015, "1399001"), (1815, "28210"), (None, "28210")],
)
def test_year_picks_the_book_from_that_year_over_the_more_popular_one(
    books: SourceHarness, year: int | None, book_id: str
) -> None:
    result = books.resolve(Query("Emma Woodhouse", "Emma", year, "book"))
    assert result.candidate is not None
    assert result.candidate.matched.external_id == book_id


def test_year_far_from_every_result_is_not_found(books: SourceHarness) -> None:
    result = books.resolve(Query("Emma Woodhouse", "Emma", 1950, "book"))
    assert result.status == "not_found"
    assert "no 'Emma' from 1950" in (result.error or "")


def test_alternative_title_matches_the_book(books: SourceHarness) -> None:
    result = books.resolve(
        Query("Hermione Granger", "Harry Potter and the Sorcerer's Stone", 1997, "book")
    )
    assert result.candidate is not None
    assert result.candidate.matched.external_id == "425123"


def test_book_without_cover_is_no_candidate_with_reason(books: SourceHarness) -> None:
    result = books.resolve(Query("The Keeper", "The Quiet Lighthouse", None, "book"))
    assert result.status == "not_found"
    assert "Hardcover has no cover" in (result.error or "")


def test_unknown_media_type_needs_the_character_listed_in_the_book(
    books: SourceHarness, hardcover: FakeHardcover
) -> None:
    result = books.resolve(Query("Paul Atreides", "Dune"))
    assert result.candidate is not None and result.candidate.source == "hardcover"
    assert result.candidate.matched.character == "Paul Atreides"
    assert hardcover.searches == [("book", "Dune"), ("character", "Paul Atreides")]


def test_unknown_media_type_film_title_shared_by_a_book_is_not_taken(
    books: SourceHarness, hardcover: FakeHardcover
) -> None:
    # "The Dark Knight" is also a novelisation on Hardcover; Gambol is no character of it.
    result = books.resolve(Query("Gambol", "The Dark Knight", 2008))
    assert result.status == "not_found"
    assert "lists no character called 'Gambol'" in (result.error or "")
    assert hardcover.searches == [("book", "The Dark Knight"), ("character", "Gambol")]


def test_character_of_another_book_does_not_confirm(books: SourceHarness) -> None:
    result = books.resolve(Query("Hermione Granger", "Dune"))
    assert result.status == "not_found"
    assert "in the book 'Dune'" in (result.error or "")


def test_characters_of_one_book_cost_one_search(
    books: SourceHarness, hardcover: FakeHardcover
) -> None:
    results = books.resolve_many(
        [DUNE, Query("Chani", "Dune", None, "book"), Query("Leto Atreides", "Dune", None, "book")]
    )
    assert [r.status for r in results] == ["resolved"] * 3
    assert len(hardcover.requests) == 1


def test_expired_token_in_graphql_errors_is_credential_rejected(
    make_settings: Callable[..., Settings],
    hardcover: FakeHardcover,
    routes: dict[str, FakeService],
) -> None:
    settings = make_settings(HARDCOVER_API_KEY=EXPIRED_TOKEN, COVERCTL_WEB_SEARCH="0")
    harness = SourceHarness(settings, routes)
    with pytest.raises(CredentialRejected) as caught:
        harness.resolve(DUNE)
    assert caught.value.exit_code == 4
    assert "HARDCOVER_API_KEY" in str(caught.value)
    assert "JWTExpired" in str(caught.value)
    assert len(hardcover.requests) == 1  # an auth failure is not retried


def test_wrong_token_http_401_is_credential_rejected(
    make_settings: Callable[..., Settings],
    hardcover: FakeHardcover,
    routes: dict[str, FakeService],
) -> None:
    settings = make_settings(HARDCOVER_API_KEY="not-a-token", COVERCTL_WEB_SEARCH="0")
    with pytest.raises(CredentialRejected) as caught:
        SourceHarness(settings, routes).resolve(DUNE)
    assert "Unable to verify token" in str(caught.value)
    assert "not-a-token" not in str(caught.value)


def test_cli_exits_4_on_a_rejected_token(
    monkeypatch: pytest.MonkeyPatch, hardcover: FakeHardcover, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(hardcover) as url:
        monkeypatch.setenv("HARDCOVER_GRAPHQL_URL", f"{url}/v1/graphql")
        monkeypatch.setenv("HARDCOVER_API_KEY", EXPIRED_TOKEN)
        monkeypatch.setenv("COVERCTL_WEB_SEARCH", "0")
        code = run(["resolve", "Paul Atreides", "--title", "Dune", "--media-type", "book"])
    _, err = capsys.readouterr()
    assert code == 4
    assert "HARDCOVER_API_KEY" in err and "Traceback" not in err


def test_other_graphql_error_makes_the_source_unavailable_not_a_credential_error(
    books: SourceHarness, hardcover: FakeHardcover
) -> None:
    hardcover.fail_next(
        r"/v1/graphql",
        200,
        {
            "errors": [
                {
                    "message": "field 'search' not found in type: 'query_root'",
                    "extensions": {"path": "$.selectionSet.search", "code": "validation-failed"},
                }
            ]
        },
    )
    result = books.resolve(DUNE)
    assert result.status == "not_found"
    assert result.unavailable_sources == ["hardcover"]
    assert "field 'search' not found" in (result.error or "")


def test_rate_limit_with_retry_after_is_waited_out_then_succeeds(
    books: SourceHarness, hardcover: FakeHardcover
) -> None:
    hardcover.fail_next(r"/v1/graphql", 429, THROTTLED_BODY, headers={"Retry-After": "0.05"})
    result = books.resolve(DUNE)
    assert result.status == "resolved"
    assert len(hardcover.requests) == 2
    assert hardcover.request_times[1] - hardcover.request_times[0] >= 0.04
    assert books.last_resolver is not None
    assert books.last_resolver.http.gate("hardcover").stats.rate_limited == 1


def test_malformed_json_makes_the_source_unavailable_and_is_not_remembered(
    books: SourceHarness, hardcover: FakeHardcover
) -> None:
    hardcover.fail_next(r"/v1/graphql", 200, raw=b"<html><body>Bad gateway</body></html>")
    first = books.resolve(DUNE)
    assert first.status == "not_found"
    assert first.unavailable_sources == ["hardcover"]
    assert [a.outcome for a in first.attempts if a.source == "hardcover"] == ["unavailable"]
    assert "not JSON" in (first.error or "")
    second = books.resolve(DUNE)
    assert second.status == "resolved" and not second.cache_hit


def test_missing_key_skips_hardcover_with_a_notice(
    make_settings: Callable[..., Settings], hardcover: FakeHardcover
) -> None:
    harness = SourceHarness(
        make_settings(COVERCTL_WEB_SEARCH="0"), {"api.hardcover.app": hardcover}
    )
    result = harness.resolve(DUNE)
    assert result.status == "not_found"
    assert hardcover.requests == []
    assert harness.last_resolver is not None
    assert harness.last_resolver.notices == ["HARDCOVER_API_KEY is not set: hardcover is skipped."]


@pytest.mark.parametrize(
    ("message", "auth"),
    [
        ("Unable to verify token", True),
        ("Could not verify JWT: JWTExpired", True),
        ("Malformed Authorization header", True),
        ("Syntax Error: Unexpected token <EOF>.", False),
        ("field 'search' not found in type: 'query_root'", False),
    ],
)
def test_only_auth_messages_count_as_a_rejected_token(message: str, auth: bool) -> None:
    assert is_auth_error({"message": message}) is auth


# ------------------------------------------------------------- titles as people write them

SERIES = "A Song of Ice and Fire"


@pytest.mark.parametrize("media_type", ["book", None])
def test_a_series_name_stands_for_its_first_book(
    books: SourceHarness, hardcover: FakeHardcover, media_type: str | None
) -> None:
    result = books.resolve(Query("Tyrion Lannister", SERIES, None, media_type))
    assert result.candidate is not None
    assert result.candidate.image_url == cover(13495)["url"]
    assert result.candidate.title == "A Game of Thrones"
    assert result.candidate.matched.character == "Tyrion Lannister"
    # The series name is no title: the character search confirms the first book, even for a
    # book, at the cost of one request.
    assert hardcover.searches == [("book", SERIES), ("character", "Tyrion Lannister")]


def test_a_series_name_is_not_a_later_book_of_the_series(books: SourceHarness) -> None:
    result = books.resolve(Query("Davos Seaworth", SERIES, None, "book"))
    assert result.status == "not_found"
    assert "no character called 'Davos Seaworth' in 'A Game of Thrones' (1996)" in (
        result.error or ""
    )


def test_a_series_name_with_a_loosely_matching_character_is_refused(
    books: SourceHarness, hardcover: FakeHardcover
) -> None:
    result = books.resolve(Query("Tyrion Lanister", SERIES, None, "book"))
    assert hardcover.searches[-1] == ("character", "Tyrion Lanister")  # found, by a near name
    assert result.status == "not_found"
    assert "only loosely" in (result.error or "")


def test_a_year_typed_inside_a_book_title(books: SourceHarness, hardcover: FakeHardcover) -> None:
    result = books.resolve(Query("Emma Woodhouse", "Emma (2014)", None, "book"))
    assert result.candidate is not None
    assert result.candidate.matched.external_id == "1399001"
    assert hardcover.searches == [("book", "Emma")]
