"""TMDB source against a fake with the real shapes: success, auth, errors, messy fields."""

from __future__ import annotations

import pytest

from coverctl.errors import CredentialRejected
from coverctl.models import Query
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


def test_search_uses_year_and_details_fetch_appends_credits(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    harness.resolve(DARK_KNIGHT)
    search, details = tmdb.requests
    assert search.url.path == "/3/search/movie"
    assert search.url.params["year"] == "2008"
    assert details.url.path == "/3/movie/155"
    assert details.url.params["append_to_response"] == "credits"


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
    assert "/3/tv/1396/aggregate_credits" in tmdb.paths()


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
