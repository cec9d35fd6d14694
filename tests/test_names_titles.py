"""Title matching in tiers (coverctl.names): certain titles, variants a second signal and the
character must confirm, shared titles the character decides, a year typed inside the title."""

from __future__ import annotations

import pytest

from coverctl import names
from coverctl.names import (
    CastMember,
    NoMatch,
    RankedTitle,
    TitleCandidate,
    TitleQuery,
    WorkMatch,
    match_title,
    pick_work,
    plan_titles,
    rank_title,
    split_title_year,
)

# ------------------------------------------------------------------ split_title_year


@pytest.mark.parametrize(
    ("typed", "year", "expected"),
    [
        ("The Thing (1982)", None, TitleQuery("The Thing", 1982)),
        ("The Thing [1982]", None, TitleQuery("The Thing", 1982)),
        ("  The Thing ( 1982 )  ", None, TitleQuery("The Thing", 1982)),
        ("The Thing (1982)", 1982, TitleQuery("The Thing", 1982)),
        # Release years differ by country: the given year, one off, wins.
        ("The Thing (1982)", 1983, TitleQuery("The Thing", 1983)),
        ("The Thing", 2011, TitleQuery("The Thing", 2011)),
        # Not a year typed after a title.
        ("(1917)", None, TitleQuery("(1917)", None)),
        ("1917", None, TitleQuery("1917", None)),
        ("Blade Runner (Final Cut)", None, TitleQuery("Blade Runner (Final Cut)", None)),
        ("Rocky (1976) Remastered", None, TitleQuery("Rocky (1976) Remastered", None)),
        ("Space Odyssey (2001)", None, TitleQuery("Space Odyssey", 2001)),
    ],
)
def test_a_year_typed_inside_the_title_is_taken_out(
    typed: str, year: int | None, expected: TitleQuery
) -> None:
    assert split_title_year(typed, year) == expected


def test_a_typed_year_that_contradicts_the_given_year_is_refused() -> None:
    result = split_title_year("The Thing (1982)", 2011)
    assert isinstance(result, NoMatch)
    assert "1982" in result.reason and "2011" in result.reason


# ------------------------------------------------------------------ plan_titles


def candidate(
    id_: str, *titles: str, year: int | None = 2000, rank: int = 0, **extra: tuple[str, ...]
) -> TitleCandidate:
    return TitleCandidate(id_, titles, year, rank, **extra)


HOC_US = candidate("1425", "House of Cards", year=2013, rank=0)
HOC_UK = candidate("8592", "House of Cards", year=1990, rank=1)


def test_a_shared_title_keeps_every_certain_work_for_the_character_to_decide() -> None:
    plan = plan_titles("House of Cards", None, [HOC_US, HOC_UK])
    assert [w.candidate.id for w in plan.certain] == ["1425", "8592"]
    assert all(w.strength == "exact" for w in plan.certain)


def test_with_a_year_only_the_nearest_certain_works_are_kept() -> None:
    plan = plan_titles("House of Cards", 1990, [HOC_US, HOC_UK])
    assert [w.candidate.id for w in plan.certain] == ["8592"]
    near = candidate("near", "Dune", year=1985, rank=0)
    same = candidate("same", "Dune", year=1984, rank=1)
    assert [w.candidate.id for w in plan_titles("Dune", 1984, [near, same]).certain] == ["same"]


def test_a_provider_qualifier_in_the_work_title_is_not_part_of_its_title() -> None:
    us = candidate("262980", "House of Cards (US)", year=None, rank=0)
    uk = candidate("78881", "House of Cards", year=1990, rank=1)
    plan = plan_titles("House of Cards", None, [us, uk])
    assert [w.candidate.id for w in plan.certain] == ["262980", "78881"]
    dated = candidate("x", "Doctor Who (2005)", year=None)
    (work,) = plan_titles("Doctor Who", 2005, [dated]).certain
    assert work.candidate.id == "x"  # the year in the title stands for the missing year


def test_exact_title_beats_every_variant_which_stays_for_a_character_it_lacks() -> None:
    variant = candidate("v", "Dune: Part Two", year=2024, rank=0)
    exact = candidate("e", "Dune", year=2021, rank=1)
    plan = plan_titles("Dune", None, [variant, exact])
    assert [w.candidate.id for w in plan.certain] == ["e"]
    assert [(w.candidate.id, w.strength) for w in plan.others] == [("v", "variant")]


@pytest.mark.parametrize(
    ("query", "title", "evidence"),
    [
        (
            "The Return of the King",
            "The Lord of the Rings: The Return of the King",
            "'The Return of the King' is its subtitle "
            "'The Lord of the Rings: The Return of the King'",
        ),
        (
            "Pirates of the Caribbean",
            "Pirates of the Caribbean: Dead Man's Chest",
            "'Pirates of the Caribbean' is its franchise name "
            "'Pirates of the Caribbean: Dead Man's Chest'",
        ),
        (
            "Harry Potter",
            "Harry Potter and the Chamber of Secrets",
            "'Harry Potter' is its franchise name 'Harry Potter and the Chamber of Secrets'",
        ),
        (
            "MASH",
            "M*A*S*H: Goodbye, Farewell and Amen",
            "'MASH' is its franchise name 'M*A*S*H: Goodbye, Farewell and Amen'",
        ),
        (
            "Fellowship of the Ring",
            "The Making of The Fellowship of the Ring",
            "'Fellowship of the Ring' is the end of its title "
            "'The Making of The Fellowship of the Ring'",
        ),
        ("Dune", "Dune: Part Two", "'Dune' is its franchise name 'Dune: Part Two'"),
        ("Batman", "Batman Begins", "'Batman' is its franchise name 'Batman Begins'"),
        ("Batman", "Batman & Robin", "'Batman' is its franchise name 'Batman & Robin'"),
    ],
)
def test_a_whole_word_part_of_the_title_is_a_variant_with_its_evidence(
    query: str, title: str, evidence: str
) -> None:
    plan = plan_titles(query, None, [candidate("w", title)])
    assert plan.certain == []
    (work,) = plan.others
    assert (work.strength, work.evidence) == ("variant", evidence)
    assert not work.certain


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("Up", "Up: The Director's Cut"),  # too short
        ("King", "The Return of the King"),  # one word at the end: too weak
        ("The Lord of", "The Lord of the Rings"),  # cut before a joining word
        ("Rings The Return", "The Lord of the Rings: The Return of the King"),  # not whole parts
        ("Return of the", "The Return of the King"),
        ("Harry Potter and", "Harry Potter and the Chamber of Secrets"),
        ("Of the Ring", "The Fellowship of the Ring"),
    ],
)
def test_a_fragment_of_a_title_is_no_variant(query: str, title: str) -> None:
    (work,) = plan_titles(query, None, [candidate("w", title)]).others
    assert (work.strength, work.evidence) == ("unconfirmed", "")


def test_a_stylised_title_typed_plainly_is_exact() -> None:
    (work,) = plan_titles("MASH", None, [candidate("918", "M*A*S*H", year=1972)]).certain
    assert work.strength == "exact"


def test_an_alternative_title_the_provider_lists_is_an_alternative_match() -> None:
    philosopher = candidate(
        "671",
        "Harry Potter and the Philosopher's Stone",
        year=2001,
        alternative_titles=(
            "Harry Potter und der Stein der Weisen",
            "Harry Potter and the Sorcerer's Stone",
        ),
    )
    work = rank_title("Harry Potter and the Sorcerer's Stone", None, philosopher)
    assert work is not None
    assert work.strength == "alternative"
    assert work.evidence == "also titled 'Harry Potter and the Sorcerer's Stone'"


def test_a_series_name_stands_for_the_series_first_book() -> None:
    first = candidate("13495", "A Game of Thrones", opens_series=("A Song of Ice and Fire",))
    second = candidate("13496", "A Clash of Kings", rank=1)
    plan = plan_titles("A Song of Ice and Fire", None, [second, first])
    assert [(w.candidate.id, w.strength) for w in plan.others] == [
        ("13495", "series"),
        ("13496", "unconfirmed"),
    ]
    assert plan.others[0].evidence == "the first book of the series 'A Song of Ice and Fire'"


def test_without_a_title_link_only_the_year_speaks_for_a_result() -> None:
    unrelated = candidate("671", "Harry Potter and the Philosopher's Stone", year=2001)
    (without_year,) = plan_titles("Philosopher Stone", None, [unrelated]).others
    assert without_year.evidence == ""
    (with_year,) = plan_titles("Philosopher Stone", 2002, [unrelated]).others
    assert (with_year.strength, with_year.evidence) == ("unconfirmed", "released in 2002")
    assert plan_titles("Philosopher Stone", 2005, [unrelated]).others == []


def test_no_certain_title_keeps_todays_reasons() -> None:
    plan = plan_titles("Dune", None, [candidate("v", "Dune: Part Two", year=2024)])
    assert plan.reason == "no result is titled 'Dune' (first result: 'Dune: Part Two')"
    plan = plan_titles("Dune", 1984, [candidate("d", "Dune", year=2021)])
    assert plan.reason == "no 'Dune' from 1984 in the results; found 2021"


def test_match_title_is_the_first_certain_work_and_never_a_variant() -> None:
    found = match_title("House of Cards", None, [HOC_US, HOC_UK])
    assert not isinstance(found, NoMatch) and found.candidate.id == "1425"
    variant = candidate("v", "The Lord of the Rings: The Return of the King")
    assert isinstance(match_title("The Return of the King", None, [variant]), NoMatch)


# ------------------------------------------------------------------ pick_work


def cast(*credits: tuple[str, str]) -> list[CastMember]:
    return [
        CastMember(f"{person}-id", person, credit, order, True)
        for order, (person, credit) in enumerate(credits)
    ]


def work(
    id_: str, title: str, year: int, strength: str = "exact", evidence: str = "t"
) -> RankedTitle:
    return RankedTitle(TitleCandidate(id_, (title,), year, 0), strength, evidence)  # type: ignore[arg-type]


US = work("1425", "House of Cards", 2013)
UK = work("8592", "House of Cards", 1990)
US_CAST = cast(("Kevin Spacey", "Francis 'Frank' Underwood"), ("Robin Wright", "Claire Underwood"))
UK_CAST = cast(("Ian Richardson", "Francis Urquhart"), ("Susannah Harker", "Mattie Storin"))


@pytest.mark.parametrize(
    ("character", "person", "work_id"),
    [
        ("Frank Underwood", "Kevin Spacey", "1425"),
        ("Francis Urquhart", "Ian Richardson", "8592"),
        ("Claire Underwood", "Robin Wright", "1425"),
    ],
)
def test_the_character_decides_between_works_sharing_a_title(
    character: str, person: str, work_id: str
) -> None:
    found = pick_work(character, [(US, US_CAST), (UK, UK_CAST)])
    assert isinstance(found, WorkMatch)
    assert (found.match.member.person_name, found.work.candidate.id) == (person, work_id)


def test_a_character_in_both_works_is_ambiguous_naming_both() -> None:
    found = pick_work("Francis", [(US, US_CAST), (UK, UK_CAST)])
    assert isinstance(found, NoMatch)
    assert found.reason == (
        "ambiguous: 'Francis' is in 'House of Cards' (2013) and 'House of Cards' (1990)"
    )


def test_a_character_in_neither_work_says_so_for_each() -> None:
    found = pick_work("Gandalf", [(US, US_CAST), (UK, UK_CAST)])
    assert isinstance(found, NoMatch)
    assert "(2013): no cast member plays 'Gandalf'" in found.reason
    assert "(1990): no cast member plays 'Gandalf'" in found.reason


def test_a_strong_match_beats_a_fuzzy_one_in_another_work() -> None:
    typo = cast(("Someone", "Hermione Grangor"))
    exact = cast(("Emma Watson", "Hermione Granger"))
    first, second = work("a", "Potter", 2001), work("b", "Potter", 2002)
    found = pick_work("Hermione Granger", [(first, typo), (second, exact)])
    assert isinstance(found, WorkMatch) and found.work.candidate.id == "b"


def test_one_certain_work_is_exactly_the_character_match() -> None:
    found = pick_work("Hermoine Granger", [(US, cast(("Emma Watson", "Hermione Granger")))])
    assert isinstance(found, WorkMatch) and found.match.kind == "fuzzy"
    missing = pick_work("Gandalf", [(US, US_CAST)])
    assert isinstance(missing, NoMatch) and missing.reason == "no cast member plays 'Gandalf'"


def test_a_variant_title_needs_a_strong_character_match() -> None:
    variant = work("671", "Harry Potter and the Philosopher's Stone", 2001, "alternative", "also")
    watson = cast(("Emma Watson", "Hermione Granger"))
    strong = pick_work("Hermione Granger", [(variant, watson)])
    assert isinstance(strong, WorkMatch) and strong.match.member.person_name == "Emma Watson"
    loose = pick_work("Hermoine Granger", [(variant, watson)])
    assert isinstance(loose, NoMatch)
    assert "only loosely" in loose.reason and "Hermione Granger" in loose.reason


def test_a_work_without_evidence_is_never_accepted() -> None:
    unlinked = work("671", "Harry Potter and the Philosopher's Stone", 2001, "unconfirmed", "")
    found = pick_work("Harry Potter", [(unlinked, cast(("Daniel Radcliffe", "Harry Potter")))])
    assert isinstance(found, NoMatch)


def test_franchise_entries_one_with_the_character_wins_two_are_ambiguous() -> None:
    pearl = work("285", "Pirates of the Caribbean: The Curse of the Black Pearl", 2003, "variant")
    chest = work("58", "Pirates of the Caribbean: Dead Man's Chest", 2006, "variant")
    tides = work("1865", "Pirates of the Caribbean: On Stranger Tides", 2011, "variant")
    casts = [
        (pearl, cast(("Johnny Depp", "Captain Jack Sparrow"), ("Orlando Bloom", "Will Turner"))),
        (chest, cast(("Johnny Depp", "Captain Jack Sparrow"), ("Bill Nighy", "Davy Jones"))),
        (tides, cast(("Johnny Depp", "Captain Jack Sparrow"), ("Penélope Cruz", "Angelica"))),
    ]
    davy = pick_work("Davy Jones", casts)
    assert isinstance(davy, WorkMatch) and davy.work.candidate.id == "58"
    # Johnny Depp in every entry: one face, whichever entry is reported.
    jack = pick_work("Jack Sparrow", casts)
    assert isinstance(jack, WorkMatch) and jack.match.member.person_name == "Johnny Depp"
    assert jack.work.candidate.id == "285"


def test_a_role_recast_between_entries_is_ambiguous() -> None:
    stone = work("671", "Harry Potter and the Philosopher's Stone", 2001, "variant")
    azkaban = work("673", "Harry Potter and the Prisoner of Azkaban", 2004, "variant")
    casts = [
        (stone, cast(("Richard Harris", "Albus Dumbledore"))),
        (azkaban, cast(("Michael Gambon", "Albus Dumbledore"))),
    ]
    found = pick_work("Dumbledore", casts)
    assert isinstance(found, NoMatch)
    assert found.reason == (
        "ambiguous: 'Dumbledore' is in 'Harry Potter and the Philosopher's Stone' (2001) and "
        "'Harry Potter and the Prisoner of Azkaban' (2004)"
    )


def test_a_better_title_tier_decides_before_a_weaker_one() -> None:
    listed = work("671", "Harry Potter and the Philosopher's Stone", 2001, "alternative", "also")
    part = work("672", "Harry Potter and the Chamber of Secrets", 2002, "variant", "part")
    radcliffe = cast(("Daniel Radcliffe", "Harry Potter"))
    found = pick_work("Harry Potter", [(part, radcliffe), (listed, radcliffe)])
    assert isinstance(found, WorkMatch) and found.work.candidate.id == "671"


def test_a_work_whose_own_cast_is_ambiguous_makes_the_answer_ambiguous() -> None:
    waynes = cast(("Christian Bale", "Bruce Wayne"), ("Linus Roache", "Thomas Wayne"))
    found = pick_work("Wayne", [(work("a", "Batman", 2005), waynes)])
    assert isinstance(found, NoMatch) and found.reason.startswith("ambiguous")


def test_title_helpers_are_exported() -> None:
    for name in (
        "RankedTitle",
        "TitlePlan",
        "TitleQuery",
        "WorkMatch",
        "pick_work",
        "plan_titles",
        "rank_title",
        "split_title_year",
        "VARIANT_MIN_LENGTH",
    ):
        assert name in names.__all__ and hasattr(names, name)


def test_works_without_a_cast_are_said_to_list_none() -> None:
    found = pick_work("Frank Underwood", [(US, []), (UK, UK_CAST)])
    assert isinstance(found, NoMatch)
    assert found.reason.startswith("'House of Cards' (2013) lists no cast; 'House of Cards' (1990)")
