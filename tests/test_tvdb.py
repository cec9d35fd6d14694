"""TVDB v4 source against a fake with the real shapes: login, token reuse, messy images, errors."""

from __future__ import annotations

import pytest

from coverctl.errors import CredentialRejected
from coverctl.models import Query
from tests.conftest import ResolverHarness
from tests.fakes.tmdb import FakeTmdb
from tests.fakes.tvdb import FakeTvdb

WALTER = Query("Walter White", "Breaking Bad", 2008, "tv")


def test_character_image_is_returned_with_tvdb_quality(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    result = harness.resolve(WALTER)
    assert result.status == "resolved"
    assert result.candidate is not None
    assert result.candidate.source == "tvdb"
    assert result.candidate.quality_score == 70
    assert result.candidate.image_url == (
        "https://artworks.thetvdb.com/banners/v4/actor/250827/photo/6c9b7e.jpg"
    )
    assert result.candidate.matched.person == "Bryan Cranston"
    assert tmdb.requests == []  # TVDB answered first for a TV show


def test_login_happens_once_and_the_token_is_reused(
    harness: ResolverHarness, tvdb: FakeTvdb
) -> None:
    harness.resolve_many([WALTER, Query("Jesse Pinkman", "Breaking Bad", 2008, "tv")])
    assert tvdb.count(r"/login") == 1
    auth = {r.headers["authorization"] for r in tvdb.requests if r.method == "GET"}
    assert len(auth) == 1


def test_token_is_kept_across_runs_until_it_expires(
    harness: ResolverHarness, tvdb: FakeTvdb
) -> None:
    harness.resolve(WALTER)
    harness.resolve(Query("Skyler White", "Breaking Bad", 2008, "tv"))
    assert tvdb.count(r"/login") == 1


def test_stale_token_triggers_one_relogin(harness: ResolverHarness, tvdb: FakeTvdb) -> None:
    harness.resolve(WALTER)
    tvdb.expire_tokens()
    result = harness.resolve(Query("Seiya", "Saint Seiya", None, "tv"))  # not cached: asks TVDB
    assert result.status == "resolved"
    assert tvdb.count(r"/login") == 2


def test_rejected_key_is_exit_four_naming_the_variable(
    harness: ResolverHarness, tvdb: FakeTvdb
) -> None:
    tvdb.api_key = "a-different-key"
    with pytest.raises(CredentialRejected) as caught:
        harness.resolve(WALTER)
    assert "TVDB_API_KEY" in caught.value.message
    assert caught.value.exit_code == 4


def test_empty_character_image_falls_back_to_actor_photo(harness: ResolverHarness) -> None:
    result = harness.resolve(Query("Jesse Pinkman", "Breaking Bad", 2008, "tv"))
    assert result.candidate is not None
    assert result.candidate.quality_score == 65
    assert (
        result.candidate.image_url == "https://artworks.thetvdb.com/banners/person/250828/jesse.jpg"
    )


def test_doubled_prefix_is_repaired(harness: ResolverHarness) -> None:
    result = harness.resolve(Query("Skyler White", "Breaking Bad", 2008, "tv"))
    assert result.candidate is not None
    assert result.candidate.image_url == "https://artworks.thetvdb.com/banners/skyler.jpg"


def test_character_without_any_image_falls_through_to_tmdb_same_person(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    tmdb.tv[1396]["cast"].append(
        {
            "id": 3497,
            "name": "Dean Norris",
            "profile_path": "/hank.jpg",
            "order": 5,
            "roles": [{"character": "Hank Schrader", "episode_count": 62, "credit_id": "c"}],
        }
    )
    result = harness.resolve(Query("Hank Schrader", "Breaking Bad", 2008, "tv"))
    assert result.candidate is not None
    assert result.candidate.source == "tmdb"
    assert result.candidate.matched.person == "Dean Norris"
    tvdb_attempt = next(a for a in result.attempts if a.source == "tvdb")
    assert "no picture" in tvdb_attempt.reason


def test_crew_entries_are_not_matched_as_characters(
    harness: ResolverHarness, tmdb: FakeTmdb, tvdb: FakeTvdb
) -> None:
    tmdb.tv = {}
    result = harness.resolve(Query("Vince Gilligan", "Breaking Bad", 2008, "tv"))
    assert result.status == "not_found"


def test_original_language_series_found_through_aliases(harness: ResolverHarness) -> None:
    result = harness.resolve(Query("Seiya", "Saint Seiya", None, "tv"))
    assert result.candidate is not None
    assert result.candidate.image_url == "https://artworks.thetvdb.com/banners/seiya.jpg"
    assert result.candidate.title == "Saint Seiya"


def test_rate_limit_then_success(harness: ResolverHarness, tvdb: FakeTvdb) -> None:
    tvdb.fail_next(
        r"/search",
        429,
        {"status": "failure", "message": "Too Many Requests"},
        headers={"Retry-After": "0.1"},
    )
    result = harness.resolve(WALTER)
    assert result.status == "resolved"


def test_server_error_marks_tvdb_unavailable_and_tmdb_answers(
    harness: ResolverHarness, tvdb: FakeTvdb
) -> None:
    tvdb.fail_next(r"/series/", 500, {"status": "failure", "message": "boom"}, times=3)
    result = harness.resolve(WALTER)
    assert result.candidate is not None and result.candidate.source == "tmdb"
    assert result.unavailable_sources == ["tvdb"]


def test_malformed_series_payload_is_unavailable_not_a_crash(
    harness: ResolverHarness, tvdb: FakeTvdb
) -> None:
    tvdb.fail_next(r"/series/", 200, {"status": "success", "data": None})
    result = harness.resolve(WALTER)
    assert "tvdb" in result.unavailable_sources


def test_unknown_series_id_404_is_a_clean_miss(
    harness: ResolverHarness, tvdb: FakeTvdb, tmdb: FakeTmdb
) -> None:
    tmdb.tv = {}
    tvdb.fail_next(
        r"/series/", 404, {"status": "failure", "message": "NotFoundException", "data": None}
    )
    result = harness.resolve(WALTER)
    assert result.status == "not_found"
    assert result.unavailable_sources == []
    assert "no characters" in next(a.reason for a in result.attempts if a.source == "tvdb")


def test_null_character_fields_are_tolerated(harness: ResolverHarness, tvdb: FakeTvdb) -> None:
    series = dict(tvdb.series[81189])
    series["characters"] = [
        {
            "id": None,
            "name": None,
            "peopleId": None,
            "type": None,
            "image": None,
            "personImgURL": None,
        },
        *series["characters"],
    ]
    tvdb.series = {**tvdb.series, 81189: series}
    result = harness.resolve(WALTER)
    assert result.candidate is not None and result.candidate.matched.person == "Bryan Cranston"


def test_token_of_another_api_key_is_never_reused(
    make_settings, tvdb: FakeTvdb, tmdb: FakeTmdb, tvdb_art
) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.routing import HostRouter

    router = HostRouter(
        {"api4.thetvdb.com": tvdb, "api.themoviedb.org": tmdb, "artworks.thetvdb.com": tvdb_art}
    )
    first = make_settings(TVDB_API_KEY=tvdb.api_key, COVERCTL_WEB_SEARCH="0")
    ResolverHarness(first, router).resolve(WALTER)
    tvdb.api_key = "another-account-key"
    second = make_settings(TVDB_API_KEY="another-account-key", COVERCTL_WEB_SEARCH="0")
    ResolverHarness(second, router).resolve(Query("Seiya", "Saint Seiya", None, "tv"))
    assert tvdb.count(r"/login") == 2


# ------------------------------------------------------------- titles as people write them


@pytest.mark.parametrize(
    ("character", "person", "year"),
    [("Frank Underwood", "Kevin Spacey", 2013), ("Francis Urquhart", "Ian Richardson", 1990)],
)
def test_series_sharing_a_title_are_decided_by_the_character(
    harness: ResolverHarness, tvdb: FakeTvdb, character: str, person: str, year: int
) -> None:
    result = harness.resolve(Query(character, "House of Cards", None, "tv"))
    assert result.candidate is not None and result.candidate.source == "tvdb"
    assert (result.candidate.matched.person, result.candidate.year) == (person, year)
    # Login, the search, and the extended record of each series sharing the title.
    assert sorted(tvdb.paths()) == [
        "/v4/login",
        "/v4/search",
        "/v4/series/262980/extended",
        "/v4/series/78881/extended",
    ]


def test_a_shared_title_costs_nothing_more_for_its_next_characters(
    harness: ResolverHarness, tvdb: FakeTvdb
) -> None:
    harness.resolve_many(
        [
            Query("Frank Underwood", "House of Cards", None, "tv"),
            Query("Francis Urquhart", "House of Cards", None, "tv"),
        ]
    )
    assert len(tvdb.requests) == 4


def test_the_year_picks_one_of_the_series_sharing_a_title(
    harness: ResolverHarness, tvdb: FakeTvdb
) -> None:
    result = harness.resolve(Query("Francis Urquhart", "House of Cards", 1990, "tv"))
    assert result.candidate is not None and result.candidate.matched.person == "Ian Richardson"
    assert "/v4/series/262980/extended" not in tvdb.paths()


def test_a_subtitle_found_in_the_english_translation(
    harness: ResolverHarness, tvdb: FakeTvdb
) -> None:
    # The series' name is Japanese; "The Lost Canvas" is the subtitle of its English title.
    result = harness.resolve(Query("Pegasus Tenma", "The Lost Canvas", None, "tv"))
    assert result.candidate is not None
    assert result.candidate.matched.person == "Kaori Mizuhashi"
    assert tvdb.count(r"/extended") == 1


def test_a_subtitle_whose_character_is_not_there_is_not_found(
    harness: ResolverHarness, tvdb: FakeTvdb, tmdb: FakeTmdb
) -> None:
    result = harness.resolve(Query("Pegasus Seiya", "The Lost Canvas", None, "tv"))
    assert result.status == "not_found"
    (attempt,) = [a for a in result.attempts if a.source == "tvdb"]
    assert "no cast member plays 'Pegasus Seiya'" in attempt.reason


def test_a_year_typed_inside_a_series_title(harness: ResolverHarness, tvdb: FakeTvdb) -> None:
    result = harness.resolve(Query("Walter White", "Breaking Bad (2008)", None, "tv"))
    assert result.candidate is not None and result.candidate.matched.person == "Bryan Cranston"
    (search,) = [r for r in tvdb.requests if r.url.path == "/v4/search"]
    assert (search.url.params["query"], search.url.params["year"]) == ("Breaking Bad", "2008")
    assert tvdb.count(r"/extended") == 1


def test_a_franchise_name_that_is_also_a_series_asks_that_series_first(
    harness: ResolverHarness, tvdb: FakeTvdb
) -> None:
    seiya = harness.resolve(Query("Pegasus Seiya", "Saint Seiya", None, "tv"))
    assert seiya.candidate is not None and seiya.candidate.matched.person == "Toru Furuya"
    assert tvdb.count(r"/extended") == 1
    # "Saint Seiya" (1986) has no Tenma: the series it is the franchise name of has.
    tenma = harness.resolve(Query("Pegasus Tenma", "Saint Seiya", None, "tv"))
    assert tenma.candidate is not None and tenma.candidate.matched.person == "Kaori Mizuhashi"
    assert tvdb.paths()[-1] == "/v4/series/104021/extended"
