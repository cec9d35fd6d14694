"""TMDB source against a fake with the real shapes: success, auth, errors, messy fields."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from coverctl.errors import CredentialRejected
from coverctl.models import Query, Resolution
from coverctl.names import normalize
from coverctl.resolver import close_resolver
from coverctl.sources.base import remembered_works
from coverctl.sources.tmdb import CastListing, TmdbMovieSource
from tests.conftest import ResolverHarness
from tests.fakes.tmdb import NOT_FOUND_BODY, RATE_LIMIT_BODY, VALID_READ_TOKEN, FakeTmdb

DARK_KNIGHT = Query("Bruce Wayne", "The Dark Knight", 2008, "movie")


def test_lead_actor_profile_is_returned_with_tmdb_quality(harness: ResolverHarness) -> None:
    result = harness.resolve(DARK_KNIGHT)
    assert result.status == "resolved"
    assert result.candidate is not None
    assert (
        result.candidate.image_url
        == "https://image.tmdb.org/t/p/w500/qCpZn2e3dimwbryLnqxZuI88PTi.jpg"
    )
    assert result.candidate.source == "tmdb"
    assert result.candidate.quality_score == 50
    assert result.candidate.matched.person == "Christian Bale"
    assert result.candidate.matched.character == "Bruce Wayne / Batman"
    assert result.candidate.matched.external_id == "3894"


def test_search_uses_year_and_details_fetch_appends_credits_and_alternative_titles(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    harness.resolve(DARK_KNIGHT)
    search, details = tmdb.requests
    assert search.url.path == "/3/search/movie"
    assert search.url.params["year"] == "2008"
    assert details.url.path == "/3/movie/155"
    assert details.url.params["append_to_response"] == "credits,alternative_titles"


def test_second_resolution_is_a_cache_hit_without_requests(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    first = harness.resolve(DARK_KNIGHT)
    sent = len(tmdb.requests)
    second = harness.resolve(DARK_KNIGHT)
    assert not first.cache_hit
    assert second.cache_hit
    assert second.candidate == first.candidate
    assert len(tmdb.requests) == sent


def test_many_characters_of_one_title_cost_two_requests(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    names = ["Bruce Wayne", "Joker", "Harvey Dent", "Alfred Pennyworth", "James Gordon"]
    results = harness.resolve_many([Query(n, "The Dark Knight", 2008, "movie") for n in names])
    assert [r.status for r in results] == ["resolved"] * len(names)
    assert len(tmdb.requests) == 2


def test_refresh_bypasses_the_cache(harness: ResolverHarness, tmdb: FakeTmdb) -> None:
    harness.resolve(DARK_KNIGHT)
    harness.resolve(DARK_KNIGHT, refresh=True)
    assert len(tmdb.requests) == 4


def test_partial_credit_matches_captain_jack_sparrow(harness: ResolverHarness) -> None:
    result = harness.resolve(
        Query("Jack Sparrow", "Pirates of the Caribbean: The Curse of the Black Pearl")
    )
    assert result.candidate is not None
    assert result.candidate.matched.person == "Johnny Depp"


def test_voice_role_matches_without_qualifier(harness: ResolverHarness) -> None:
    result = harness.resolve(Query("Woody", "Toy Story", 1995, "movie"))
    assert result.candidate is not None
    assert result.candidate.matched.person == "Tom Hanks"


def test_given_year_beats_tmdb_first_result(harness: ResolverHarness) -> None:
    old = harness.resolve(Query("Paul Atreides", "Dune", 1984, "movie"))
    new = harness.resolve(Query("Paul Atreides", "Dune", 2021, "movie"))
    assert old.candidate is not None and old.candidate.matched.person == "Kyle MacLachlan"
    assert new.candidate is not None and new.candidate.matched.person == "Timothée Chalamet"


def test_plain_character_beats_young_variant_listed_first(harness: ResolverHarness) -> None:
    result = harness.resolve(Query("Bruce Wayne", "Batman Begins", 2005, "movie"))
    assert result.candidate is not None
    assert result.candidate.matched.person == "Christian Bale"


def test_match_without_profile_photo_is_not_replaced_by_another_person(
    harness: ResolverHarness,
) -> None:
    result = harness.resolve(Query("Gambol", "The Dark Knight", 2008, "movie"))
    assert result.status == "not_found"
    assert result.candidate is None
    assert "Michael Jai White" in (result.error or "")
    assert "no photo" in (result.error or "")


def test_unknown_character_is_not_found_with_reason(harness: ResolverHarness) -> None:
    result = harness.resolve(Query("Gandalf", "The Dark Knight", 2008, "movie"))
    assert result.status == "not_found"
    assert "Gandalf" in (result.error or "")


def test_tv_show_uses_aggregate_credits_and_tv_quality(
    harness: ResolverHarness, tmdb: FakeTmdb, tvdb
) -> None:  # type: ignore[no-untyped-def]
    tvdb.series = {}  # TVDB knows nothing: TMDB TV answers
    result = harness.resolve(Query("Walter White", "Breaking Bad", None, "tv"))
    assert result.candidate is not None
    assert result.candidate.source == "tmdb"
    assert result.candidate.quality_score == 45
    (details,) = [r for r in tmdb.requests if r.url.path == "/3/tv/1396"]
    # All seasons' cast (aggregate_credits, not the latest season's credits), in one request.
    assert details.url.params["append_to_response"] == "aggregate_credits,alternative_titles"
    assert tmdb.paths() == ["/3/search/tv", "/3/tv/1396"]


def test_unknown_media_type_falls_back_from_movie_to_tv(
    harness: ResolverHarness, tmdb: FakeTmdb, tvdb
) -> None:  # type: ignore[no-untyped-def]
    tvdb.series = {}
    result = harness.resolve(Query("Walter White", "Breaking Bad"))
    assert result.candidate is not None and result.candidate.matched.person == "Bryan Cranston"
    assert tmdb.paths()[0] == "/3/search/movie"
    assert "/3/search/tv" in tmdb.paths()


def test_invalid_key_is_a_credential_error_naming_the_variable(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    tmdb.key = "another-key"
    with pytest.raises(CredentialRejected) as caught:
        harness.resolve(DARK_KNIGHT)
    assert "TMDB_API_KEY" in str(caught.value)
    assert caught.value.exit_code == 4


def test_v4_read_token_is_sent_as_bearer(make_settings, tmdb: FakeTmdb, tvdb) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.routing import HostRouter

    settings = make_settings(TMDB_API_KEY=VALID_READ_TOKEN, COVERCTL_WEB_SEARCH="0")
    harness = ResolverHarness(settings, HostRouter({"api.themoviedb.org": tmdb}))
    result = harness.resolve(DARK_KNIGHT)
    assert result.status == "resolved"
    assert all("api_key" not in r.url.params for r in tmdb.requests)
    assert tmdb.requests[0].headers["authorization"] == f"Bearer {VALID_READ_TOKEN}"


def test_rate_limit_429_is_waited_out_then_succeeds(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    tmdb.fail_next(r"/search/movie", 429, RATE_LIMIT_BODY, headers={"Retry-After": "0.2"})
    result = harness.resolve(DARK_KNIGHT)
    assert result.status == "resolved"
    first, second = tmdb.request_times[:2]
    assert second - first >= 0.2


def test_server_errors_are_retried(harness: ResolverHarness, tmdb: FakeTmdb) -> None:
    tmdb.fail_next(
        r"/movie/155",
        503,
        {"status_code": 11, "status_message": "Internal error", "success": False},
        times=2,
    )
    result = harness.resolve(DARK_KNIGHT)
    assert result.status == "resolved"
    assert tmdb.count(r"/movie/155") == 3


def test_persistent_outage_marks_source_unavailable_and_is_not_cached(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    tmdb.fail_next(r"/search/movie", 502, None, raw=b"<html>Bad gateway</html>", times=3)
    result = harness.resolve(DARK_KNIGHT)
    assert result.status == "not_found"
    assert result.unavailable_sources == ["tmdb_movie"]
    assert "unavailable" in [a.outcome for a in result.attempts]
    again = harness.resolve(DARK_KNIGHT)
    assert again.status == "resolved" and not again.cache_hit


def test_malformed_json_makes_source_unavailable(harness: ResolverHarness, tmdb: FakeTmdb) -> None:
    tmdb.fail_next(
        r"/search/movie",
        200,
        raw=b'{"page": 1, "results": [',
        headers={"Content-Type": "application/json"},
    )
    result = harness.resolve(DARK_KNIGHT)
    assert result.status == "not_found"
    assert result.unavailable_sources == ["tmdb_movie"]


def test_unknown_movie_id_404_is_a_clean_miss(harness: ResolverHarness, tmdb: FakeTmdb) -> None:
    tmdb.fail_next(r"/movie/155", 404, NOT_FOUND_BODY)
    result = harness.resolve(DARK_KNIGHT)
    assert result.status == "not_found"
    assert result.unavailable_sources == []


def test_null_fields_in_results_are_tolerated(harness: ResolverHarness, tmdb: FakeTmdb) -> None:
    movie = tmdb.movies[155]
    movie["cast"] = [
        {"id": None, "name": None, "character": None},
        {"id": 7, "name": "Somebody", "character": None, "order": None, "profile_path": None},
        *movie["cast"],
    ]
    result = harness.resolve(DARK_KNIGHT)
    assert result.candidate is not None and result.candidate.matched.person == "Christian Bale"


def test_missing_key_skips_tmdb_with_one_notice(make_settings) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.routing import HostRouter

    settings = make_settings(COVERCTL_WEB_SEARCH="0")
    harness = ResolverHarness(settings, HostRouter({}))
    results = harness.resolve_many([DARK_KNIGHT, Query("Joker", "The Dark Knight", 2008, "movie")])
    assert [r.status for r in results] == ["not_found", "not_found"]
    assert harness.last_resolver is not None
    assert harness.last_resolver.notices == ["TMDB_API_KEY is not set: tmdb is skipped."]


# ------------------------------------------------------------- titles as people write them


def paths(tmdb: FakeTmdb) -> list[str]:
    return tmdb.paths()


def reason_of(result: Resolution, step: str) -> str:
    """Why the source `step` found nothing (`--explain`'s attempt)."""
    (attempt,) = [a for a in result.attempts if a.source == step]
    return attempt.reason


def test_us_title_finds_the_film_tmdb_lists_under_its_uk_title(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    result = harness.resolve(
        Query("Hermione Granger", "Harry Potter and the Sorcerer's Stone", None, "movie")
    )
    assert result.status == "resolved" and result.candidate is not None
    assert result.candidate.matched.person == "Emma Watson"
    assert result.candidate.title == "Harry Potter and the Philosopher's Stone"
    # The search finds it through its alternative titles; one details request confirms them.
    assert paths(tmdb) == ["/3/search/movie", "/3/movie/671"]


def test_the_next_character_of_a_variant_title_costs_no_request(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    title = "Harry Potter and the Sorcerer's Stone"
    results = harness.resolve_many(
        [Query(name, title, None, "movie") for name in ("Hermione Granger", "Ron Weasley")]
    )
    assert [r.candidate.matched.person for r in results if r.candidate] == [
        "Emma Watson",
        "Rupert Grint",
    ]
    assert len(tmdb.requests) == 2


def test_a_variant_title_with_a_fuzzy_character_match_is_refused(
    harness: ResolverHarness,
) -> None:
    loose = harness.resolve(
        Query("Hermoine Granger", "Harry Potter and the Sorcerer's Stone", None, "movie")
    )
    assert loose.status == "not_found"
    assert "only loosely" in (loose.error or "")
    # The film's own title is certain: there the same typo is accepted, as ever.
    exact = harness.resolve(
        Query("Hermoine Granger", "Harry Potter and the Philosopher's Stone", None, "movie")
    )
    assert exact.candidate is not None and exact.candidate.matched.person == "Emma Watson"


def test_a_result_with_no_second_signal_is_refused_and_the_year_confirms_it(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    # TMDB's search returns the film, but none of its titles is "Potter Stone" or has it as a
    # whole part: looked up once (its alternative titles might have been), then refused.
    refused = harness.resolve(Query("Harry Potter", "Potter Stone", None, "movie"))
    assert refused.status == "not_found"
    assert refused.error is not None and "no result is titled 'Potter Stone'" in refused.error
    assert paths(tmdb) == ["/3/search/movie", "/3/movie/671"]
    confirmed = harness.resolve(Query("Harry Potter", "Potter Stone", 2001, "movie"))
    assert confirmed.candidate is not None
    assert confirmed.candidate.matched.person == "Daniel Radcliffe"


def test_a_film_known_by_its_subtitle(harness: ResolverHarness, tmdb: FakeTmdb) -> None:
    result = harness.resolve(Query("Aragorn", "The Return of the King", None, "movie"))
    assert result.candidate is not None
    assert result.candidate.matched.person == "Viggo Mortensen"
    assert result.candidate.title == "The Lord of the Rings: The Return of the King"
    # The making-of documentary is a candidate too; its cast plays themselves.
    assert sorted(paths(tmdb)) == ["/3/movie/122", "/3/movie/31180", "/3/search/movie"]


def test_a_franchise_name_when_one_entry_has_the_character(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    result = harness.resolve(Query("Davy Jones", "Pirates of the Caribbean", None, "movie"))
    assert result.candidate is not None
    assert result.candidate.matched.person == "Bill Nighy"
    assert result.candidate.title == "Pirates of the Caribbean: Dead Man's Chest"
    assert tmdb.count(r"/3/search/movie") == 1 and tmdb.count(r"/3/movie/\d+$") == 3
    sent = len(tmdb.requests)
    angelica = harness.resolve(Query("Angelica", "Pirates of the Caribbean", None, "movie"))
    assert angelica.candidate is not None and angelica.candidate.matched.person == "Penélope Cruz"
    assert len(tmdb.requests) == sent


def test_a_franchise_name_when_one_actor_plays_the_character_in_several_entries(
    harness: ResolverHarness,
) -> None:
    result = harness.resolve(Query("Will Turner", "Pirates of the Caribbean", None, "movie"))
    assert result.candidate is not None and result.candidate.matched.person == "Orlando Bloom"


def test_a_franchise_name_when_the_role_was_recast_is_ambiguous(harness: ResolverHarness) -> None:
    result = harness.resolve(Query("Albus Dumbledore", "Harry Potter", None, "movie"))
    assert result.status == "not_found"
    assert reason_of(result, "tmdb_movie") == (
        "ambiguous: 'Albus Dumbledore' is in 'Harry Potter and the Philosopher's Stone' (2001)"
        " and 'Harry Potter and the Prisoner of Azkaban' (2004)"
    )
    dated = harness.resolve(Query("Albus Dumbledore", "Harry Potter", 2001, "movie"))
    assert dated.candidate is not None and dated.candidate.matched.person == "Richard Harris"


def test_a_franchise_name_that_is_also_a_title_asks_that_work_first(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    joker = harness.resolve(Query("Joker", "Batman", None, "movie"))
    assert joker.candidate is not None and joker.candidate.matched.person == "Jack Nicholson"
    assert paths(tmdb) == ["/3/search/movie", "/3/movie/268"]
    # "Batman" (1989) has no Henri Ducard: the entries "Batman" is the franchise name of do.
    ducard = harness.resolve(Query("Henri Ducard", "Batman", None, "movie"))
    assert ducard.candidate is not None and ducard.candidate.matched.person == "Liam Neeson"
    assert ducard.candidate.title == "Batman Begins"
    assert paths(tmdb)[2:] == ["/3/movie/272"]


def test_a_stylised_title_typed_plainly(harness: ResolverHarness, tmdb: FakeTmdb, tvdb) -> None:  # type: ignore[no-untyped-def]
    tvdb.series = {}
    result = harness.resolve(Query("Hawkeye Pierce", "MASH", None, "tv"))
    assert result.candidate is not None and result.candidate.matched.person == "Alan Alda"
    assert paths(tmdb) == ["/3/search/tv", "/3/tv/918"]


@pytest.mark.parametrize(
    ("character", "person"),
    [("Frank Underwood", "Kevin Spacey"), ("Francis Urquhart", "Ian Richardson")],
)
def test_a_shared_title_is_decided_by_the_character(
    harness: ResolverHarness, tmdb: FakeTmdb, tvdb, character: str, person: str
) -> None:  # type: ignore[no-untyped-def]
    tvdb.series = {}
    result = harness.resolve(Query(character, "House of Cards", None, "tv"))
    assert result.candidate is not None and result.candidate.matched.person == person
    assert sorted(paths(tmdb)) == ["/3/search/tv", "/3/tv/1425", "/3/tv/8592"]


def test_a_character_in_both_works_sharing_a_title_is_ambiguous(
    harness: ResolverHarness, tvdb
) -> None:  # type: ignore[no-untyped-def]
    tvdb.series = {}
    result = harness.resolve(Query("Francis", "House of Cards", None, "tv"))
    assert result.status == "not_found"
    assert reason_of(result, "tmdb_tv") == (
        "ambiguous: 'Francis' is in 'House of Cards' (2013) and 'House of Cards' (1990)"
    )


def test_remakes_without_a_year_are_ambiguous_and_the_year_decides(
    harness: ResolverHarness,
) -> None:
    result = harness.resolve(Query("Paul Atreides", "Dune", None, "movie"))
    assert result.status == "not_found"
    assert reason_of(result, "tmdb_movie") == (
        "ambiguous: 'Paul Atreides' is in 'Dune' (2021) and 'Dune' (1984)"
    )
    dated = harness.resolve(Query("Paul Atreides", "Dune", 1984, "movie"))
    assert dated.candidate is not None and dated.candidate.matched.person == "Kyle MacLachlan"


def test_a_year_typed_inside_the_title(harness: ResolverHarness, tmdb: FakeTmdb) -> None:
    result = harness.resolve(Query("Paul Atreides", "Dune (1984)", None, "movie"))
    assert result.candidate is not None and result.candidate.matched.person == "Kyle MacLachlan"
    search = tmdb.requests[0]
    assert (search.url.params["query"], search.url.params["year"]) == ("Dune", "1984")
    assert len(tmdb.requests) == 2


def test_a_year_typed_inside_the_title_that_contradicts_the_year_given(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    result = harness.resolve(Query("Paul Atreides", "Dune (1984)", 2021, "movie"))
    assert result.status == "not_found"
    assert "1984" in (result.error or "") and "2021" in (result.error or "")
    assert tmdb.requests == []


def top_cast(harness: ResolverHarness, query: Query, n: int = 2) -> CastListing:
    async def run() -> CastListing:
        resolver = harness.open()
        try:
            source = resolver.source("tmdb_movie")
            assert isinstance(source, TmdbMovieSource)
            return await source.top_cast(query, resolver.context, n)
        finally:
            await close_resolver(resolver)

    return asyncio.run(run())


def test_a_cast_listing_accepts_an_alternative_title(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    listing = top_cast(harness, Query("", "Harry Potter and the Sorcerer's Stone", None, "movie"))
    assert [(c.character, c.person) for c in listing.characters] == [
        ("Harry Potter", "Daniel Radcliffe"),
        ("Ron Weasley", "Rupert Grint"),
    ]
    assert listing.title == "Harry Potter and the Philosopher's Stone"
    assert len(tmdb.requests) == 2


def test_a_cast_listing_has_no_character_to_confirm_a_variant_title(
    harness: ResolverHarness,
) -> None:
    listing = top_cast(harness, Query("", "The Return of the King", None, "movie"))
    assert listing.characters == []
    assert "no result is titled 'The Return of the King'" in listing.reason


def test_the_works_a_variant_title_resolved_to_are_remembered(
    harness: ResolverHarness,
) -> None:
    harness.resolve(Query("Aragorn", "The Return of the King", None, "movie"))

    async def never() -> list[dict[str, Any]]:
        raise AssertionError("the works were not remembered")

    async def recall() -> list[dict[str, Any]]:
        resolver = harness.open()
        try:
            key = ("movie", normalize("The Return of the King"), None, "others")
            return await remembered_works(resolver.context, "tmdb", key, never)
        finally:
            await close_resolver(resolver)

    remembered = asyncio.run(recall())
    # Both subtitle candidates keep their evidence; the character chose between them.
    assert {(w["id"], w["strength"]) for w in remembered} == {
        ("122", "variant"),
        ("31180", "variant"),
    }
