"""Rows with provider ids resolve by identity: no search, no guessing by name, and a name that
contradicts its id is reported. Real resolver, store and cache against fakes with the real
TMDB / TVDB / Hardcover shapes; the fakes fail loudly on any search once `forbid_search()`."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from coverctl.batch import BatchOptions, plan_batch, run_batch
from coverctl.batch.inputs import rows_from_text
from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.errors import UsageError
from coverctl.identity import media_type_for, parse_ids
from coverctl.models import ExternalIds, Query
from coverctl.validation import validate_query
from tests.conftest import FAST_RETRIES, ResolverHarness
from tests.fakes.base import serve
from tests.fakes.hardcover import COVER_HOST, VALID_TOKEN, FakeHardcover, cover, cover_host
from tests.fakes.images import FakeImageHost
from tests.fakes.routing import HostRouter
from tests.fakes.tmdb import VALID_KEY, FakeTmdb, cast_member
from tests.fakes.tvdb import ARTWORK_HOST, FakeTvdb
from tests.resolving import FAST_RATES, SourceHarness

# --- a whole real-shaped cast where most of the family shares one surname ------------------

TENENBAUMS = 9428
TENENBAUMS_CAST: list[tuple[int, str, str, str | None]] = [
    (193, "Gene Hackman", "Royal Tenenbaum", "/hackman.jpg"),
    (5657, "Anjelica Huston", "Etheline Tenenbaum", "/huston.jpg"),
    (7399, "Ben Stiller", "Chas Tenenbaum", "/stiller.jpg"),
    (12052, "Gwyneth Paltrow", "Margot Tenenbaum", "/paltrow.jpg"),
    (36422, "Luke Wilson", "Richie Tenenbaum", "/lwilson.jpg"),
    (887, "Owen Wilson", "Eli Cash", "/owilson.jpg"),
    (2047, "Danny Glover", "Henry Sherman", "/glover.jpg"),
    (1532, "Bill Murray", "Raleigh St. Clair", "/murray.jpg"),
    (4690, "Seymour Cassel", "Dusty", "/cassel.jpg"),
    (1230811, "Kumar Pallana", "Pagoda", "/pallana.jpg"),
    (7447, "Alec Baldwin", "Narrator (voice)", "/baldwin.jpg"),
    (1230812, "Grant Rosenmeyer", "Ari Tenenbaum", "/rosenmeyer.jpg"),
    (1230813, "Jonah Meyerson", "Uzi Tenenbaum", "/meyerson.jpg"),
    (1230814, "Aram Aslanian-Persico", "Young Chas Tenenbaum", "/aslanian.jpg"),
    (1230815, "Irene Gorovaia", "Young Margot Tenenbaum", "/gorovaia.jpg"),
    (1230816, "Amedeo Turturro", "Young Richie Tenenbaum", None),
    (1230817, "Stephen Lea Sheppard", "Dudley Heinsbergen", "/sheppard.jpg"),
]


def typed(role: str) -> str:
    """A character as people type it: without TMDB's "(voice)"."""
    return role.removesuffix(" (voice)")


def tenenbaums_credit(index: int) -> str:
    return f"52fe4251c3a36847f8{index:06x}"


def tenenbaums() -> dict[str, Any]:
    return {
        "title": "The Royal Tenenbaums",
        "original_title": "The Royal Tenenbaums",
        "release_date": "2001-10-05",
        "popularity": 25.3,
        "cast": [
            cast_member(pid, name, role, i, profile, credit_id=tenenbaums_credit(i))
            for i, (pid, name, role, profile) in enumerate(TENENBAUMS_CAST)
        ],
    }


# A series where one person plays several roles, each its own credit.
ORPHAN_BLACK = 39351
MASLANY_ROLES = {
    "Sarah Manning": "5257c2d619c29531db4ab6d1",
    "Cosima Niehaus": "5257c2d619c29531db4ab6e3",
    "Alison Hendrix": "5257c2d619c29531db4ab6f5",
    "Helena": "5257c2d619c29531db4ab707",
}


def orphan_black() -> dict[str, Any]:
    def member(person_id: int, name: str, roles: dict[str, str], order: int) -> dict[str, Any]:
        return {
            "adult": False,
            "gender": 1,
            "id": person_id,
            "known_for_department": "Acting",
            "name": name,
            "original_name": name,
            "popularity": 12.0,
            "profile_path": f"/p{person_id}.jpg",
            "roles": [
                {"credit_id": cid, "character": role, "episode_count": 50}
                for role, cid in roles.items()
            ],
            "total_episode_count": 50,
            "order": order,
        }

    return {
        "name": "Orphan Black",
        "original_name": "Orphan Black",
        "first_air_date": "2013-03-30",
        "popularity": 30.0,
        "cast": [
            member(1156024, "Tatiana Maslany", MASLANY_ROLES, 0),
            member(1193116, "Jordan Gavaris", {"Felix Dawkins": "5257c2d619c29531db4ab719"}, 1),
        ],
    }


def credit_of(tmdb: FakeTmdb, movie: int, person: str) -> str:
    return next(m["credit_id"] for m in tmdb.movies[movie]["cast"] if m["name"] == person)


BRYAN_CRANSTON_WALTER = "52542282760ee313280017f9"  # tests/fakes/tmdb.py's Breaking Bad


@pytest.fixture
def ids_tmdb(tmdb: FakeTmdb) -> FakeTmdb:
    tmdb.movies[TENENBAUMS] = tenenbaums()
    tmdb.tv[ORPHAN_BLACK] = orphan_black()
    tmdb.forbid_search()
    return tmdb


def movie(name: str, title: str, year: int | None = None, **ids: Any) -> Query:
    return Query(name, title, year, "movie", ids=ExternalIds(**ids))


def provider_attempts(result: Any) -> list[tuple[str, str]]:
    """(step, outcome) of the provider steps --explain shows (not the local file and store)."""
    return [(a.source, a.outcome) for a in result.attempts if a.source not in LOCAL_STEPS]


def last_reason(result: Any) -> str:
    """The provider's part of a not-found reason (the local steps' misses come first)."""
    return str(result.error).split("; ")[-1]


LOCAL_STEPS = ("local", "stored_ai")

# --- the rules for ids ------------------------------------------------------------------------


def test_ids_parse_from_text_numbers_and_spreadsheet_floats() -> None:
    ids = parse_ids(
        {
            "tmdb_id": "155",
            "tvdb_id": 81189,
            "hardcover_id": "312460.0",
            "tmdb_person_id": 1810.0,
            "credit_id": " 52FE4250C3A36847F80149F3 ",
            "tvdb_character_id": "",
        }
    )
    assert ids == ExternalIds(
        tmdb_id=155,
        tvdb_id=81189,
        hardcover_id=312460,
        tmdb_person_id=1810,
        credit_id="52fe4250c3a36847f80149f3",
    )
    assert not parse_ids({"tmdb_id": None, "credit_id": "  "})


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("tmdb_id", "abc", "tmdb_id 'abc' is not an id"),
        ("tmdb_id", "-5", "tmdb_id '-5' is not an id"),
        ("tvdb_id", 0, "tvdb_id '0' is not an id"),
        ("hardcover_id", True, "hardcover_id 'True' is not an id"),
        ("tmdb_person_id", 1.5, "tmdb_person_id '1.5' is not an id"),
        ("tvdb_character_id", "12", None),
        ("tvdb_character_id", "１２", "tvdb_character_id '１２' is not an id"),
        ("tmdb_id", str(2**40), "is not an id"),
        ("credit_id", "52fe4250c3a36847f80149f", "is not a TMDB credit id: 24 hexadecimal"),
        ("credit_id", "52fe4250c3a36847f80149fz", "is not a TMDB credit id"),
        ("credit_id", 52, "credit_id '52' is not a TMDB credit id"),
    ],
)
def test_a_bad_id_is_one_sentence_naming_the_column(
    name: str, value: Any, says: str | None
) -> None:
    if says is None:
        assert getattr(parse_ids({name: value}), name) == int(value)
        return
    with pytest.raises(ValueError) as caught:
        parse_ids({name: value})
    assert says in str(caught.value)
    assert str(caught.value).startswith(f"{name} ")


def test_media_type_follows_the_ids_and_contradictions_are_refused() -> None:
    assert media_type_for(ExternalIds(tvdb_id=1), None) == "tv"
    assert media_type_for(ExternalIds(tvdb_character_id=1), None) == "tv"
    assert media_type_for(ExternalIds(hardcover_id=1), None) == "book"
    assert media_type_for(ExternalIds(credit_id="a" * 24), None) is None
    assert media_type_for(ExternalIds(tmdb_id=1, tvdb_id=2), None) == "tv"
    refused = {
        (ExternalIds(tmdb_id=155), None): "tmdb_id needs the media type movie or tv",
        (ExternalIds(tmdb_id=155), "book"): "tmdb_id needs the media type movie or tv",
        (ExternalIds(tvdb_id=1), "movie"): "tvdb_id names a TVDB series, but the media type",
        (ExternalIds(hardcover_id=1), "tv"): "hardcover_id names a Hardcover book",
        (ExternalIds(tvdb_id=1, hardcover_id=2), None): "keep the ids of the one work",
        (ExternalIds(credit_id="a" * 24), "book"): "credit_id is a TMDB film or series credit",
        (ExternalIds(tmdb_person_id=1810), "movie"): "tmdb_person_id needs the work's tmdb_id",
    }
    for (ids, media), says in refused.items():
        with pytest.raises(ValueError, match=says):
            media_type_for(ids, media)


def test_validate_query_applies_the_id_rules_and_keeps_the_ids() -> None:
    query = validate_query(Query("Walter White", "Breaking Bad", ids=ExternalIds(tvdb_id=81189)))
    assert query.media_type == "tv" and query.ids == ExternalIds(tvdb_id=81189)
    with pytest.raises(UsageError, match="tmdb_id needs the media type"):
        validate_query(Query("Joker", "The Dark Knight", ids=ExternalIds(tmdb_id=155)))
    with pytest.raises(UsageError, match="tmdb_id '-1' is not an id"):
        validate_query(movie("Joker", "The Dark Knight", tmdb_id=-1))


def test_input_id_columns_are_read_in_any_case_and_passed_through() -> None:
    text = (
        "character,title,media_type,TMDB_Id,Credit_ID,note\n"
        "Joker,The Dark Knight,movie,155.0,52FE4250C3A36847F80149F3,a\n"
        "Joker,The Dark Knight,movie,abc,,b\n"
        "Joker,The Dark Knight,,155,,c\n"
    )
    good, bad, no_media = rows_from_text(text, "csv")
    assert good.query is not None
    assert good.query.ids == ExternalIds(tmdb_id=155, credit_id="52fe4250c3a36847f80149f3")
    assert good.extra == {"tmdb_id": "155.0", "credit_id": "52FE4250C3A36847F80149F3", "note": "a"}
    assert bad.query is None and bad.error is not None
    assert bad.error.startswith("Row 2: tmdb_id 'abc' is not an id")
    assert no_media.error == (
        "Row 3: tmdb_id needs the media type movie or tv: TMDB numbers films and series apart."
    )
    (jsonl,) = rows_from_text('{"character": "X", "title": "Y", "TVDB_ID": 81189}\n', "jsonl")
    assert jsonl.query is not None
    assert jsonl.query.ids == ExternalIds(tvdb_id=81189) and jsonl.query.media_type == "tv"
    assert jsonl.extra == {"TVDB_ID": 81189}


# --- TMDB: tmdb_id with credit_id or tmdb_person_id ------------------------------------------


def test_every_member_of_a_whole_cast_resolves_by_credit_id_without_a_search(
    harness: ResolverHarness, ids_tmdb: FakeTmdb
) -> None:
    # Each credit twice: its character as people type it, and the credit string as exported.
    queries = [
        movie(
            character,
            "The Royal Tenenbaums",
            2001,
            tmdb_id=TENENBAUMS,
            credit_id=tenenbaums_credit(i),
        )
        for i, (_, _, role, _) in enumerate(TENENBAUMS_CAST)
        for character in (typed(role), role)
    ]
    results = harness.resolve_many(queries)
    expected = [member for member in TENENBAUMS_CAST for _ in range(2)]
    for (person_id, name, role, profile), result in zip(expected, results, strict=True):
        if profile is None:
            assert result.status == "not_found"
            assert result.error is not None and f"found {name} as '{role}'" in result.error
            continue
        assert result.status == "resolved", result.error
        assert result.candidate is not None
        assert result.candidate.matched.person == name
        assert result.candidate.matched.external_id == str(person_id)
        assert result.candidate.image_url == f"https://image.tmdb.org/t/p/w500{profile}"
    # One details request for the whole cast, and no search at all.
    assert ids_tmdb.paths() == [f"/3/movie/{TENENBAUMS}"]


def test_a_shared_surname_is_ambiguous_by_name_but_settled_by_the_credit(
    harness: ResolverHarness, ids_tmdb: FakeTmdb
) -> None:
    ids_tmdb.search_forbidden = False
    by_name = harness.resolve(movie("Tenenbaum", "The Royal Tenenbaums", 2001))
    assert by_name.status == "not_found" and by_name.error is not None
    assert "ambiguous" in by_name.error
    ids_tmdb.forbid_search()
    margot = tenenbaums_credit(3)
    by_id = harness.resolve(
        movie("Tenenbaum", "The Royal Tenenbaums", 2001, tmdb_id=TENENBAUMS, credit_id=margot)
    )
    assert by_id.status == "resolved" and by_id.candidate is not None
    assert by_id.candidate.matched.as_dict() == {
        "person": "Gwyneth Paltrow",
        "character": "Margot Tenenbaum",
        "external_id": "12052",
        "credit_id": margot,
        "work_id": str(TENENBAUMS),
    }


def test_a_character_name_of_another_member_contradicts_the_credit(
    harness: ResolverHarness, ids_tmdb: FakeTmdb
) -> None:
    count = len(TENENBAUMS_CAST)
    queries = [
        movie(
            typed(TENENBAUMS_CAST[(i + 1) % count][2]),
            "The Royal Tenenbaums",
            tmdb_id=TENENBAUMS,
            credit_id=tenenbaums_credit(i),
        )
        for i in range(count)
    ]
    for i, result in enumerate(harness.resolve_many(queries)):
        _, name, role, _ = TENENBAUMS_CAST[i]
        assert result.status == "error" and result.candidate is None
        assert result.error == (
            f"credit_id {tenenbaums_credit(i)} is {name} as '{role}', "
            f"not '{queries[i].character_name}'."
        )


def test_contradiction_names_the_person_the_credit_is(
    harness: ResolverHarness, ids_tmdb: FakeTmdb
) -> None:
    ledger = credit_of(ids_tmdb, 155, "Heath Ledger")
    result = harness.resolve(
        movie("Bruce Wayne", "The Dark Knight", 2008, tmdb_id=155, credit_id=ledger)
    )
    assert result.status == "error"
    assert result.error == f"credit_id {ledger} is Heath Ledger as 'Joker', not 'Bruce Wayne'."
    assert provider_attempts(result) == [("tmdb_movie", "rejected")]


def test_a_pasted_credit_string_names_its_credit_by_any_alias(
    harness: ResolverHarness, ids_tmdb: FakeTmdb
) -> None:
    bale = credit_of(ids_tmdb, 155, "Christian Bale")
    for name in ("Bruce Wayne / Batman", "Batman", "Bruce Wayne (voice)"):
        result = harness.resolve(movie(name, "The Dark Knight", tmdb_id=155, credit_id=bale))
        assert result.status == "resolved", (name, result.error)
    result = harness.resolve(
        movie("Harvey Dent / Joker", "The Dark Knight", tmdb_id=155, credit_id=bale)
    )
    assert result.error == (
        f"credit_id {bale} is Christian Bale as 'Bruce Wayne / Batman', not 'Harvey Dent / Joker'."
    )


def test_tmdb_person_id_picks_the_person_and_checks_the_name(
    harness: ResolverHarness, ids_tmdb: FakeTmdb
) -> None:
    joker = harness.resolve(
        movie("Joker", "The Dark Knight", 2008, tmdb_id=155, tmdb_person_id=1810)
    )
    assert joker.status == "resolved" and joker.candidate is not None
    assert joker.candidate.matched.person == "Heath Ledger"
    assert joker.candidate.matched.credit_id == credit_of(ids_tmdb, 155, "Heath Ledger")
    wrong = harness.resolve(
        movie("Bruce Wayne", "The Dark Knight", 2008, tmdb_id=155, tmdb_person_id=1810)
    )
    assert wrong.error == "tmdb_person_id 1810 is Heath Ledger as 'Joker', not 'Bruce Wayne'."
    absent = harness.resolve(
        movie("Joker", "The Dark Knight", 2008, tmdb_id=155, tmdb_person_id=85)
    )
    assert absent.status == "error"
    assert absent.error == (
        "tmdb_person_id 85 is not in the cast of the movie 'The Dark Knight' (tmdb_id 155)."
    )
    assert ids_tmdb.count(r"/search") == 0 and ids_tmdb.count(r"/3/movie/155") == 1


def test_a_credit_and_a_person_id_that_disagree_are_reported(
    harness: ResolverHarness, ids_tmdb: FakeTmdb
) -> None:
    ledger = credit_of(ids_tmdb, 155, "Heath Ledger")
    result = harness.resolve(
        movie("Joker", "The Dark Knight", tmdb_id=155, credit_id=ledger, tmdb_person_id=3894)
    )
    assert result.error == (
        f"credit_id {ledger} is Heath Ledger (tmdb_person_id 1810), not tmdb_person_id 3894."
    )


def test_an_actor_filter_that_is_not_the_credited_person_is_reported(
    harness: ResolverHarness, ids_tmdb: FakeTmdb
) -> None:
    ledger = credit_of(ids_tmdb, 155, "Heath Ledger")
    query = Query(
        "Joker",
        "The Dark Knight",
        2008,
        "movie",
        "Jack Nicholson",
        ExternalIds(155, credit_id=ledger),
    )
    result = harness.resolve(query)
    assert (
        result.error
        == f"credit_id {ledger} is Heath Ledger as 'Joker', not played by Jack Nicholson."
    )


def test_only_the_work_id_skips_the_search_and_matches_the_name_in_its_cast(
    harness: ResolverHarness, ids_tmdb: FakeTmdb
) -> None:
    found = harness.resolve(movie("Alfred", "The Dark Knight", tmdb_id=155))
    assert found.status == "resolved" and found.candidate is not None
    assert found.candidate.matched.person == "Michael Caine"
    assert found.candidate.matched.work_id == "155"
    missing = harness.resolve(movie("Gandalf", "The Dark Knight", tmdb_id=155))
    assert (
        missing.status == "not_found"
        and last_reason(missing) == "tmdb_movie: no cast member plays 'Gandalf'"
    )
    assert ids_tmdb.paths() == ["/3/movie/155"]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (
            movie("Joker", "Batman Begins", tmdb_id=155),
            "tmdb_id 155 is 'The Dark Knight' (2008), not 'Batman Begins'.",
        ),
        (
            movie("Joker", "The Dark Knight", 2012, tmdb_id=155),
            "tmdb_id 155 is 'The Dark Knight' (2008), not the one from 2012.",
        ),
        (
            movie("Joker", "The Dark Knight (2005)", tmdb_id=155),
            "tmdb_id 155 is 'The Dark Knight' (2008), not the one from 2005.",
        ),
    ],
)
def test_a_title_or_year_that_is_not_the_works_is_reported(
    harness: ResolverHarness, ids_tmdb: FakeTmdb, query: Query, error: str
) -> None:
    result = harness.resolve(query)
    assert result.status == "error" and result.error == error


def test_the_title_may_be_the_works_subtitle_or_franchise_or_carry_its_year(
    harness: ResolverHarness, ids_tmdb: FakeTmdb
) -> None:
    for title in (
        "The Curse of the Black Pearl",
        "Pirates of the Caribbean",
        "pirates of the caribbean: the curse of the black pearl (2003)",
    ):
        result = harness.resolve(movie("Jack Sparrow", title, tmdb_id=285, tmdb_person_id=85))
        assert result.status == "resolved", (title, result.error)


def test_an_id_the_provider_does_not_know_is_not_found_with_that_sentence(
    harness: ResolverHarness, ids_tmdb: FakeTmdb
) -> None:
    unknown_work = harness.resolve(movie("Joker", "The Dark Knight", tmdb_id=999999))
    assert unknown_work.status == "not_found"
    assert last_reason(unknown_work) == "tmdb_movie: TMDB has no movie with tmdb_id 999999"
    credit = "0123456789abcdef01234567"
    unknown_credit = harness.resolve(movie("Joker", "The Dark Knight", credit_id=credit))
    assert unknown_credit.status == "not_found"
    assert last_reason(unknown_credit) == f"tmdb_movie: TMDB has no credit with credit_id {credit}"


def test_a_credit_of_another_work_is_reported(harness: ResolverHarness, ids_tmdb: FakeTmdb) -> None:
    depp = credit_of(ids_tmdb, 285, "Johnny Depp")
    result = harness.resolve(movie("Joker", "The Dark Knight", tmdb_id=155, credit_id=depp))
    assert result.error == (
        f"credit_id {depp} is not a role in the movie 'The Dark Knight' (tmdb_id 155)."
    )


# --- TMDB: credit_id alone, and series roles ---------------------------------------------


def test_a_credit_id_alone_costs_one_credit_request(
    harness: ResolverHarness, ids_tmdb: FakeTmdb, tvdb: FakeTvdb
) -> None:
    ledger = credit_of(ids_tmdb, 155, "Heath Ledger")
    query = Query("The Joker", "The Dark Knight", ids=ExternalIds(credit_id=ledger))
    result = harness.resolve(query)
    assert result.status == "resolved" and result.candidate is not None
    assert result.candidate.matched.as_dict() == {
        "person": "Heath Ledger",
        "character": "Joker",
        "external_id": "1810",
        "credit_id": ledger,
        "work_id": "155",
    }
    assert result.to_json()["media_type"] == "movie" and result.candidate.year == 2008
    assert ids_tmdb.paths() == [f"/3/credit/{ledger}"]
    assert tvdb.requests == []  # the row has no TVDB id: TVDB is not asked


def test_a_series_credit_alone_is_answered_by_the_tv_step_with_the_same_request(
    harness: ResolverHarness, ids_tmdb: FakeTmdb, tvdb: FakeTvdb
) -> None:
    query = Query("Walter White", "Breaking Bad", ids=ExternalIds(credit_id=BRYAN_CRANSTON_WALTER))
    result = harness.resolve(query)
    assert result.status == "resolved" and result.candidate is not None
    assert result.candidate.matched.person == "Bryan Cranston"
    assert result.candidate.quality_score == 45 and result.to_json()["media_type"] == "tv"
    assert provider_attempts(result) == [
        ("tmdb_movie", "no_match"),
        ("tmdb_tv", "accepted"),
    ]
    assert ids_tmdb.paths() == [f"/3/credit/{BRYAN_CRANSTON_WALTER}"]
    assert tvdb.requests == []


def test_a_series_credit_given_as_a_movie_is_reported(
    harness: ResolverHarness, ids_tmdb: FakeTmdb
) -> None:
    result = harness.resolve(movie("Walter White", "Breaking Bad", credit_id=BRYAN_CRANSTON_WALTER))
    assert result.status == "error"
    assert result.error == (
        f"credit_id {BRYAN_CRANSTON_WALTER} is a credit of the series 'Breaking Bad', "
        "not of a movie."
    )


def test_a_series_role_is_picked_by_its_own_credit_among_one_actors_roles(
    harness: ResolverHarness, ids_tmdb: FakeTmdb, tvdb: FakeTvdb
) -> None:
    def tv(name: str, **ids: Any) -> Query:
        return Query(name, "Orphan Black", None, "tv", ids=ExternalIds(tmdb_id=ORPHAN_BLACK, **ids))

    cosima = MASLANY_ROLES["Cosima Niehaus"]
    found, wrong, by_person = harness.resolve_many(
        [
            tv("Cosima", credit_id=cosima),
            tv("Sarah Manning", credit_id=cosima),
            tv("Helena", tmdb_person_id=1156024),
        ]
    )
    assert found.status == "resolved" and found.candidate is not None
    assert found.candidate.matched.as_dict() == {
        "person": "Tatiana Maslany",
        "character": "Cosima Niehaus",
        "external_id": "1156024",
        "credit_id": cosima,
        "work_id": str(ORPHAN_BLACK),
    }
    assert found.candidate.title == "Orphan Black" and found.candidate.year == 2013
    assert wrong.error == (
        f"credit_id {cosima} is Tatiana Maslany as 'Cosima Niehaus', not 'Sarah Manning'."
    )
    assert by_person.candidate is not None
    assert by_person.candidate.matched.person == "Tatiana Maslany"
    assert by_person.candidate.matched.credit_id is None  # four roles: no single credit
    # One request for the series, its titles and its aggregate credits; TVDB has no id here.
    (request,) = ids_tmdb.requests
    assert request.url.path == f"/3/tv/{ORPHAN_BLACK}"
    assert request.url.params["append_to_response"] == "aggregate_credits,alternative_titles"
    assert tvdb.requests == []


# --- TVDB -----------------------------------------------------------------------------------


def tvdb_query(name: str, title: str, **ids: Any) -> Query:
    return Query(name, title, ids=ExternalIds(**ids))


def test_tvdb_series_and_character_ids_resolve_from_the_series_record(
    harness: ResolverHarness, tmdb: FakeTmdb, tvdb: FakeTvdb
) -> None:
    tvdb.forbid_search()
    jesse, wrong = harness.resolve_many(
        [
            tvdb_query("Jesse Pinkman", "Breaking Bad", tvdb_id=81189, tvdb_character_id=2),
            tvdb_query("Walter White", "Breaking Bad", tvdb_id=81189, tvdb_character_id=2),
        ]
    )
    assert jesse.status == "resolved" and jesse.candidate is not None
    assert jesse.candidate.matched.as_dict() == {
        "person": "Aaron Paul",
        "character": "Jesse Pinkman",
        "external_id": "2",
        "work_id": "81189",
    }
    # The character has no artwork: the actor's TVDB photo, as the name path does.
    assert jesse.candidate.quality_score == 65
    assert (
        jesse.candidate.image_url == "https://artworks.thetvdb.com/banners/person/250828/jesse.jpg"
    )
    assert jesse.to_json()["media_type"] == "tv"
    assert wrong.status == "error"
    assert (
        wrong.error == "tvdb_character_id 2 is Aaron Paul as 'Jesse Pinkman', not 'Walter White'."
    )
    assert [p for p in tvdb.paths("GET")] == ["/v4/series/81189/extended"]
    assert tmdb.requests == []


def test_tvdb_character_id_alone_costs_one_character_request(
    harness: ResolverHarness, tvdb: FakeTvdb
) -> None:
    tvdb.forbid_search()
    result = harness.resolve(tvdb_query("Walter White", "Breaking Bad", tvdb_character_id=1))
    assert result.status == "resolved" and result.candidate is not None
    assert result.candidate.matched.person == "Bryan Cranston"
    assert result.candidate.quality_score == 70
    assert result.candidate.title == "Breaking Bad" and result.candidate.year == 2008
    assert tvdb.paths("GET") == ["/v4/characters/1"]


def test_a_series_known_by_its_original_name_is_checked_against_its_translations(
    harness: ResolverHarness, tvdb: FakeTvdb
) -> None:
    tvdb.forbid_search()
    result = harness.resolve(tvdb_query("Pegasus Seiya", "Saint Seiya", tvdb_character_id=11))
    assert result.status == "resolved", result.error
    assert tvdb.paths("GET") == ["/v4/characters/11", "/v4/series/79212/extended"]
    other = harness.resolve(tvdb_query("Pegasus Seiya", "Breaking Bad", tvdb_character_id=11))
    assert other.error == "tvdb_character_id 11 is 'Saint Seiya' (1986), not 'Breaking Bad'."


def test_unknown_tvdb_ids_are_not_found_and_a_foreign_character_is_reported(
    harness: ResolverHarness, tvdb: FakeTvdb
) -> None:
    tvdb.forbid_search()
    no_character = harness.resolve(
        tvdb_query("Walter White", "Breaking Bad", tvdb_character_id=999)
    )
    assert no_character.status == "not_found"
    assert last_reason(no_character) == "tvdb: TVDB has no character with tvdb_character_id 999"
    no_series = harness.resolve(tvdb_query("Walter White", "Breaking Bad", tvdb_id=4242))
    assert last_reason(no_series) == "tvdb: TVDB has no series with tvdb_id 4242"
    foreign = harness.resolve(
        tvdb_query("Pegasus Seiya", "Breaking Bad", tvdb_id=81189, tvdb_character_id=11)
    )
    assert foreign.error == (
        "tvdb_character_id 11 is not an actor's character in the series 'Breaking Bad' "
        "(tvdb_id 81189)."
    )


# --- Hardcover ------------------------------------------------------------------------------


@pytest.fixture
def books(make_settings: Callable[..., Settings]) -> Iterator[tuple[SourceHarness, FakeHardcover]]:
    hardcover = FakeHardcover()
    hardcover.forbid_search()
    settings = make_settings(HARDCOVER_API_KEY=VALID_TOKEN, COVERCTL_WEB_SEARCH="0", **FAST_RATES)
    # Covers are checked before they are served: the cover host answers with real pictures.
    routes = {"api.hardcover.app": hardcover, COVER_HOST: cover_host()}
    yield SourceHarness(settings, routes), hardcover


def test_hardcover_id_gets_the_books_cover_without_a_search(
    books: tuple[SourceHarness, FakeHardcover],
) -> None:
    harness, hardcover = books
    dune, messiah, unknown = harness.resolve_many(
        [
            Query("Paul Atreides", "Dune", ids=ExternalIds(hardcover_id=312460)),
            Query("Paul Atreides", "Dune Messiah", ids=ExternalIds(hardcover_id=312460)),
            Query("Paul Atreides", "Dune", ids=ExternalIds(hardcover_id=4242)),
        ]
    )
    assert dune.status == "resolved" and dune.candidate is not None
    assert dune.candidate.image_url == cover(312460)["url"]
    assert dune.candidate.matched.work_id == "312460"
    assert dune.to_json()["media_type"] == "book"
    assert messiah.error == "hardcover_id 312460 is 'Dune' (1965), not 'Dune Messiah'."
    assert unknown.status == "not_found"
    assert last_reason(unknown) == "hardcover: Hardcover has no book with hardcover_id 4242"
    assert hardcover.searches == [] and len(hardcover.requests) == 2


# --- answers are kept apart by their ids -------------------------------------------------


def test_a_cached_answer_by_name_is_not_served_to_a_row_with_ids(
    harness: ResolverHarness, tmdb: FakeTmdb
) -> None:
    by_name = harness.resolve(movie("Bruce Wayne", "The Dark Knight", 2008))
    assert by_name.candidate is not None and by_name.candidate.matched.person == "Christian Bale"
    fan = credit_of(tmdb, 155, "Uncredited Extra")
    by_id = harness.resolve(
        movie("Bruce Wayne", "The Dark Knight", 2008, tmdb_id=155, credit_id=fan)
    )
    assert not by_id.cache_hit
    assert by_id.candidate is not None and by_id.candidate.matched.person == "Uncredited Extra"
    again = harness.resolve(
        movie("Bruce Wayne", "The Dark Knight", 2008, tmdb_id=155, credit_id=fan)
    )
    assert again.cache_hit and again.candidate == by_id.candidate


# --- batch ----------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def row(character: str, title: str, media: str = "movie", **ids: Any) -> dict[str, Any]:
    columns = ("TMDB_ID", "credit_id", "tmdb_person_id", "tvdb_id", "tvdb_character_id")
    return {
        "character_name": character,
        "title": title,
        "media_type": media,
        **{c: ids.get(c.lower(), "") for c in columns},
    }


def test_batch_mixes_id_rows_with_name_rows_at_one_request_per_work(
    tmp_path: Path,
    provider_settings: Settings,
    tmdb: FakeTmdb,
    tvdb: FakeTvdb,
    tvdb_art: FakeImageHost,
) -> None:
    ledger = credit_of(tmdb, 155, "Heath Ledger")
    fan = credit_of(tmdb, 155, "Uncredited Extra")
    rows = [
        row("Bruce Wayne", "The Dark Knight"),
        row("Joker", "The Dark Knight", tmdb_id=155, credit_id=ledger),
        row("Harvey Dent", "The Dark Knight", tmdb_id=155, tmdb_person_id=6383),
        row("Alfred Pennyworth", "The Dark Knight", tmdb_id=155),
        row("Bruce Wayne", "The Dark Knight", tmdb_id=155, credit_id=ledger),
        row("Bruce Wayne", "The Dark Knight", tmdb_id=155, credit_id=fan),
        row("Woody", "Toy Story"),
        row("Buzz Lightyear", "Toy Story", tmdb_id=862),
        row("Joker", "The Dark Knight", tmdb_id="abc"),
        row("Walter White", "Breaking Bad", "", credit_id=BRYAN_CRANSTON_WALTER),
        row("Jesse Pinkman", "Breaking Bad", "tv", tvdb_id=81189, tvdb_character_id=2),
        row("Joker", "The Dark Knight", tmdb_id=155, credit_id=ledger),
    ]
    source = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out.jsonl"
    router = HostRouter(
        {"api.themoviedb.org": tmdb, "api4.thetvdb.com": tvdb, ARTWORK_HOST: tvdb_art}
    )
    summary = run_batch(
        source,
        provider_settings,
        BatchOptions(out=out, concurrency=8),
        transport=router.transport(),
        policy=FAST_RETRIES,
    )
    results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    people = [(r["status"], (r["matched"] or {}).get("person")) for r in results]
    assert people == [
        ("resolved", "Christian Bale"),
        ("resolved", "Heath Ledger"),
        ("resolved", "Aaron Eckhart"),
        ("resolved", "Michael Caine"),
        ("error", None),
        ("resolved", "Uncredited Extra"),
        ("resolved", "Tom Hanks"),
        ("resolved", "Tim Allen"),
        ("error", None),
        ("resolved", "Bryan Cranston"),
        ("resolved", "Aaron Paul"),
        ("resolved", "Heath Ledger"),
    ]
    assert (
        results[4]["error"] == f"credit_id {ledger} is Heath Ledger as 'Joker', not 'Bruce Wayne'."
    )
    assert results[8]["error"].startswith("Row 9: tmdb_id 'abc' is not an id")
    assert (
        results[1]["matched"]["credit_id"] == ledger and results[1]["matched"]["work_id"] == "155"
    )
    assert results[1]["tmdb_id"] == "155"  # the id columns pass through as written
    assert results[9]["media_type"] == "tv"
    assert results[11]["cache_hit"] is True  # the same question as row 2
    # Each film: one search for its name rows and one details request shared with its id rows;
    # the credit alone: one request; TVDB: the series record (after logging in), no search.
    assert sorted(tmdb.paths()) == sorted(
        [
            "/3/search/movie",
            "/3/movie/155",
            "/3/search/movie",
            "/3/movie/862",
            f"/3/credit/{BRYAN_CRANSTON_WALTER}",
        ]
    )
    assert tvdb.paths("GET") == ["/v4/series/81189/extended"]
    assert summary.provider_calls["tmdb"] == 5


def test_dry_run_prices_one_request_per_work_for_id_rows(
    tmp_path: Path, provider_settings: Settings, tmdb: FakeTmdb
) -> None:
    ledger = credit_of(tmdb, 155, "Heath Ledger")
    rows = [
        row("Joker", "The Dark Knight", tmdb_id=155, credit_id=ledger),
        row("Harvey Dent", "The Dark Knight", tmdb_id=155, tmdb_person_id=6383),
        row("Alfred Pennyworth", "The Dark Knight", tmdb_id=155),
        row("Buzz Lightyear", "Toy Story", tmdb_id=862),
        row("Woody", "Toy Story", tmdb_id=862),
        row("Walter White", "Breaking Bad", "", credit_id=BRYAN_CRANSTON_WALTER),
        row("Heisenberg", "Breaking Bad", "", credit_id=BRYAN_CRANSTON_WALTER),
        row("Walter White", "Breaking Bad", "tv", tvdb_character_id=1),
        row("Joker", "The Dark Knight", tmdb_id="abc"),
    ]
    source = write_csv(tmp_path / "plan.csv", rows)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"dry run sent {request.url}")

    plan = plan_batch(
        source, provider_settings, BatchOptions(), transport=httpx.MockTransport(refuse)
    )
    assert (plan.valid_rows, plan.error_rows, plan.unique_queries) == (8, 1, 8)
    assert plan.unique_titles == 4  # two films, one credit, one character
    assert plan.expected_calls == {"tmdb": 3, "tvdb": 1}
    # The character's series may be known there by another title: its record, once more.
    assert plan.max_calls == {"tmdb": 3, "tvdb": 2}


# --- the command line -----------------------------------------------------------------------


@pytest.fixture
def tmdb_server(monkeypatch: pytest.MonkeyPatch, ids_tmdb: FakeTmdb) -> Iterator[FakeTmdb]:
    with serve(ids_tmdb) as url:
        monkeypatch.setenv("TMDB_API_URL", f"{url}/3")
        monkeypatch.setenv("TMDB_API_KEY", VALID_KEY)
        monkeypatch.setenv("COVERCTL_WEB_SEARCH", "0")
        yield ids_tmdb


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_resolve_options_resolve_by_id_and_report_a_contradiction(
    tmdb_server: FakeTmdb, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["resolve", "--title", "The Dark Knight", "--media-type", "movie", "--tmdb-id", "155"]
    code, out, _ = cli(capsys, *base, "Joker", "--tmdb-person-id", "1810", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["matched"] == {
        "person": "Heath Ledger",
        "character": "Joker",
        "external_id": "1810",
        "credit_id": credit_of(tmdb_server, 155, "Heath Ledger"),
        "work_id": "155",
    }
    code, out, _ = cli(capsys, *base, "Bruce Wayne", "--tmdb-person-id", "1810", "--json")
    assert code == 3
    data = json.loads(out)
    assert data["status"] == "error"
    assert data["error"] == "tmdb_person_id 1810 is Heath Ledger as 'Joker', not 'Bruce Wayne'."
    assert tmdb_server.paths() == ["/3/movie/155"]


def test_resolve_with_a_malformed_id_is_a_usage_error(
    tmdb_server: FakeTmdb, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(
        capsys, "resolve", "Joker", "--title", "The Dark Knight", "--credit-id", "52fe-not-hex"
    )
    assert code == 2
    assert "credit_id '52fe-not-hex' is not a TMDB credit id" in err
    assert tmdb_server.requests == []
