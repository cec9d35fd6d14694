"""Tests for coverctl.names: normalising and matching, the right person or nothing."""

from __future__ import annotations

import posixpath
import unicodedata

import pytest

from coverctl import names
from coverctl.names import (
    FUZZY_THRESHOLD,
    CastMatch,
    CastMember,
    NoMatch,
    TitleCandidate,
    TitleMatch,
    character_aliases,
    filename_key,
    match_character,
    match_title,
    normalize,
)


def member(
    person_id: str,
    person_name: str,
    character: str,
    order: int | None,
    has_image: bool = True,
) -> CastMember:
    return CastMember(person_id, person_name, character, order, has_image)


BALE = member("3894", "Christian Bale", "Bruce Wayne / Batman", 0)
CAINE = member("3895", "Michael Caine", "Alfred", 1)
MURPHY = member("2037", "Cillian Murphy", "Dr. Jonathan Crane / Scarecrow", 4)
ROACHE = member("3896", "Linus Roache", "Thomas Wayne", 9)
GUS_LEWIS = member("3897", "Gus Lewis", "Young Bruce Wayne", 12)
BATMAN_BEGINS = (BALE, CAINE, MURPHY, ROACHE, GUS_LEWIS)


def cast_of(*credits: str, orders: tuple[int | None, ...] | None = None) -> list[CastMember]:
    """A cast where person i (id "p<i>", name "Actor <i>") plays credits[i], billed i."""
    billing = orders if orders is not None else tuple(range(len(credits)))
    return [
        member(f"p{i}", f"Actor {i}", c, o)
        for i, (c, o) in enumerate(zip(credits, billing, strict=True))
    ]


def expect_match(result: CastMatch | NoMatch) -> CastMatch:
    assert isinstance(result, CastMatch), result
    return result


def expect_no_match(result: object) -> NoMatch:
    assert isinstance(result, NoMatch), result
    assert result.reason.strip()
    return result


# ---------------------------------------------------------------- normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Spider-Man", "spider man"),
        ("O'Neil", "oneil"),
        ("O’Neil", "oneil"),
        ("Ocean's Eleven", "oceans eleven"),
        ("Amélie Poulain", "amelie poulain"),
        ("ＢＲＵＣＥ　ＷＡＹＮＥ", "bruce wayne"),
        ("  Dr.  Strange!! ", "dr strange"),
        ("snake_case:name,x", "snake case name x"),
        ("Straße", "strasse"),
        ("Søren Kierkegaard", "soren kierkegaard"),
        ("Fast & Furious", "fast and furious"),
        ("Tony\tStark\n", "tony stark"),
        ("聖闘士星矢", "聖闘士星矢"),
        ("ガンダム", "ガンダム"),  # the voicing mark is part of the letter: kept
        ("", ""),
        ("!!! ... ---", ""),
    ],
)
def test_normalize_folds_case_accents_and_punctuation(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "text", ["Spider-Man", "Amélie’s ＢＡＴＭＡＮ", "聖闘士星矢", "Straße & Co."]
)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


def test_normalize_treats_decomposed_and_composed_accents_alike() -> None:
    composed = unicodedata.normalize("NFC", "Amélie")
    decomposed = unicodedata.normalize("NFD", "Amélie")
    assert composed != decomposed
    assert normalize(composed) == normalize(decomposed) == "amelie"


# ---------------------------------------------------------------- filename_key


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Bruce Wayne", "bruce_wayne"),
        ("AC/DC", "ac_dc"),
        ("  Tony Stark  ", "tony_stark"),
        ("Mr. Smith", "mr._smith"),
        ("ＡＣ／ＤＣ", "ac_dc"),  # full-width solidus is a slash after NFKC
        ("Back\\Slash", "back_slash"),
        ("../etc/passwd", "_etc_passwd"),
        ("..", ""),
    ],
)
def test_filename_key_matches_old_backend_and_is_safe(name: str, expected: str) -> None:
    assert filename_key(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "../etc/passwd",
        "../../../../root/.ssh/id_rsa",
        "..\\..\\windows\\system32",
        "/etc/passwd",
        "....//....//x",
        "a/../../b",
        "．．／．．／etc",  # full-width dots and slashes
        "evil\x00name\n",
        ".hidden",
    ],
)
def test_filename_key_never_escapes_its_directory(name: str) -> None:
    key = filename_key(name)
    assert "/" not in key
    assert "\\" not in key
    assert ".." not in key
    assert not key.startswith(".")
    assert not any(ord(c) < 32 for c in key)
    joined = posixpath.normpath(posixpath.join("/images", f"{key}.jpg"))
    assert posixpath.dirname(joined) == "/images"


# ---------------------------------------------------------------- character_aliases


@pytest.mark.parametrize(
    ("credit", "expected"),
    [
        ("Bruce Wayne / Batman", ["bruce wayne", "batman"]),
        ("Bruce Wayne/Batman", ["bruce wayne", "batman"]),
        ("Tony Stark / Iron Man", ["tony stark", "iron man"]),
        ("Woody (voice)", ["woody"]),
        ("Buzz Lightyear (voice) (uncredited)", ["buzz lightyear"]),
        ("Stan Lee (uncredited)", ["stan lee"]),
        ("Ellie (archive footage)", ["ellie"]),
        ("Narrator [voice]", ["narrator"]),
        ("Jack (as John Doe)", ["jack"]),
        ("Woody (voice", ["woody"]),  # truncated qualifier
        ("Captain Jack Sparrow", ["captain jack sparrow"]),
        ("Batman (Bruce Wayne)", ["batman", "bruce wayne"]),
        ("Bruce Wayne (young)", ["young bruce wayne"]),
        ("Bruce Wayne (age 8)", ["age 8 bruce wayne"]),
        ("Amélie Poulain", ["amelie poulain"]),
        ("Batman / Batman", ["batman"]),
        ("Himself", ["himself"]),
        ("(uncredited)", []),
        ("", []),
        ("   ", []),
        (None, []),
    ],
)
def test_character_aliases_split_and_strip_qualifiers(
    credit: str | None, expected: list[str]
) -> None:
    assert character_aliases(credit) == expected


# ---------------------------------------------------------------- match_character: kinds


@pytest.mark.parametrize(
    ("query", "alias"),
    [("Bruce Wayne", "bruce wayne"), ("Batman", "batman"), ("BATMAN", "batman")],
)
def test_exact_match_on_either_alias_of_a_split_credit(query: str, alias: str) -> None:
    found = expect_match(match_character(query, BATMAN_BEGINS))
    assert found.member == BALE
    assert (found.kind, found.alias, found.score) == ("exact", alias, 100.0)


@pytest.mark.parametrize(
    ("credit", "query"),
    [
        ("Woody (voice)", "Woody"),
        ("Stan Lee (uncredited)", "Stan Lee"),
        ("Buzz Lightyear (voice) (uncredited)", "Buzz Lightyear"),
    ],
)
def test_credit_qualifiers_do_not_stop_an_exact_match(credit: str, query: str) -> None:
    cast = [
        member("a", "Someone Else", "Mr. Potato Head (voice)", 0),
        member("b", "Star", credit, 1),
    ]
    found = expect_match(match_character(query, cast))
    assert (found.member.person_id, found.kind) == ("b", "exact")


@pytest.mark.parametrize(
    ("query", "credit"),
    [
        ("Spiderman", "Peter Parker / Spider-Man"),
        ("Joker", "The Joker"),
        ("The Joker", "Joker"),
        ("Amélie Poulain", "Amelie Poulain"),
        ("Amelie Poulain", "Amélie Poulain"),
        ("ＢＡＴＭＡＮ", "Batman"),
        ("Dana O'Neil", "Dana O’Neil"),
    ],
)
def test_exact_match_ignores_spacing_leading_the_case_and_unicode(query: str, credit: str) -> None:
    cast = [member("x", "Other", "Alfred", 0), member("y", "Target", credit, 5)]
    found = expect_match(match_character(query, cast))
    assert (found.member.person_id, found.kind) == ("y", "exact")


@pytest.mark.parametrize("query", ["Jack Sparrow", "Sparrow", "jack"])
def test_partial_match_on_whole_tokens(query: str) -> None:
    cast = [
        member("depp", "Johnny Depp", "Captain Jack Sparrow", 0),
        member("rush", "Geoffrey Rush", "Captain Hector Barbossa", 2),
        member("bloom", "Orlando Bloom", "Will Turner", 1),
    ]
    found = expect_match(match_character(query, cast))
    assert found.member.person_id == "depp"
    assert (found.kind, found.alias) == ("partial", "captain jack sparrow")
    assert 0 < found.score < 100


def test_partial_match_needs_whole_tokens_not_substrings() -> None:
    cast = cast_of("Captain Jack Sparrow")
    expect_no_match(match_character("Spar", cast))


def test_longer_query_does_not_match_shorter_alias() -> None:
    # "Young Bruce Wayne" must never fall back to the adult Bruce Wayne.
    expect_no_match(match_character("Young Bruce Wayne", [BALE, CAINE]))


def test_fuzzy_typo_is_accepted() -> None:
    cast = [
        member("radcliffe", "Daniel Radcliffe", "Harry Potter", 0),
        member("watson", "Emma Watson", "Hermione Granger", 2),
        member("grint", "Rupert Grint", "Ron Weasley", 1),
    ]
    found = expect_match(match_character("Hermoine Granger", cast))
    assert found.member.person_id == "watson"
    assert found.kind == "fuzzy"
    assert FUZZY_THRESHOLD <= found.score < 100


@pytest.mark.parametrize(
    ("query", "credits"),
    [
        ("Bane", ("Bale", "Dane")),
        ("Bane", ("Bruce Wayne / Batman", "Dane")),
        ("Bruce Wayne", ("Bruce Payne",)),
        ("Stormtrooper 1", ("Stormtrooper 2",)),
        ("Alfred", ("Alfreda",)),
        ("Alice", ("Alicia",)),
        ("Gandalf", ("Galadriel", "Gollum")),
        ("Hermoine", ("Hermione Granger",)),
    ],
)
def test_unrelated_or_too_short_name_is_not_fuzzy_matched(query: str, credits: tuple[str]) -> None:
    reason = expect_no_match(match_character(query, cast_of(*credits))).reason
    assert f"'{query}'" in reason


def test_no_match_names_the_missing_character() -> None:
    result = expect_no_match(match_character("Gandalf", BATMAN_BEGINS))
    assert result.reason == "no cast member plays 'Gandalf'"


# ---------------------------------------------------------------- match_character: ranking


@pytest.mark.parametrize(
    "variant",
    [
        "Young Bruce Wayne",
        "Teen Bruce Wayne",
        "Teenage Bruce Wayne",
        "Older Bruce Wayne",
        "Old Bruce Wayne",
        "Little Bruce Wayne",
        "Bruce Wayne (young)",
        "Bruce Wayne (age 8)",
        "Bruce Wayne (8 years old)",
        "Adult Bruce Wayne",
    ],
)
@pytest.mark.parametrize("query", ["Bruce Wayne", "Bruce", "Wayne"])
def test_age_variant_loses_to_plain_character_even_when_listed_first(
    variant: str, query: str
) -> None:
    child = member("child", "Gus Lewis", variant, 0)
    adult = member("adult", "Christian Bale", "Bruce Wayne / Batman", 3)
    found = expect_match(match_character(query, [child, adult]))
    assert found.member.person_id == "adult"


def test_age_variant_is_taken_when_it_is_the_only_match() -> None:
    cast = [member("bale", "Christian Bale", "Batman", 0), GUS_LEWIS]
    found = expect_match(match_character("Bruce Wayne", cast))
    assert found.member == GUS_LEWIS
    assert (found.kind, found.alias) == ("partial", "young bruce wayne")


def test_query_naming_the_variant_matches_it_exactly() -> None:
    found = expect_match(match_character("Young Bruce Wayne", BATMAN_BEGINS))
    assert found.member == GUS_LEWIS
    assert found.kind == "exact"


def test_lead_beats_bit_part_with_the_same_alias() -> None:
    cast = [
        member("double", "Stunt Double", "Batman", 40),
        member("lead", "Christian Bale", "Batman", 0),
        member("unknown", "Nobody Billed", "Batman", None),
    ]
    found = expect_match(match_character("Batman", cast))
    assert found.member.person_id == "lead"


def test_unknown_billing_ranks_last() -> None:
    # Changed by issue 13: an unknown billing counts as far below, but only a lead (order <= 2)
    # wins a shared name; two supporting parts sharing it are a guess, so not found.
    cast = [member("unbilled", "A", "Batman", None), member("billed", "B", "Batman", 0)]
    assert expect_match(match_character("Batman", cast)).member.person_id == "billed"
    cast = [member("unbilled", "A", "Batman", None), member("billed", "B", "Batman", 12)]
    assert expect_no_match(match_character("Batman", cast)).reason.startswith("ambiguous")


def test_same_partial_alias_for_several_actors_is_not_ambiguous() -> None:
    cast = [
        member("double", "Tony Angelotti", "Captain Jack Sparrow", 40),
        member("depp", "Johnny Depp", "Captain Jack Sparrow", 0),
    ]
    found = expect_match(match_character("Jack Sparrow", cast))
    assert (found.member.person_id, found.kind) == ("depp", "partial")


def test_exact_beats_partial_even_when_the_partial_is_the_lead() -> None:
    cast = [
        member("depp", "Johnny Depp", "Captain Jack Sparrow", 0),
        member("bird", "Bird Actor", "Sparrow", 30),
    ]
    found = expect_match(match_character("Sparrow", cast))
    assert (found.member.person_id, found.kind) == ("bird", "exact")


def test_partial_beats_fuzzy_even_when_the_fuzzy_is_the_lead() -> None:
    cast = [
        member("typo", "Lead", "Hermione Grangre", 0),
        member("full", "Extra", "Hermione Granger Junior", 20),
    ]
    found = expect_match(match_character("Hermione Granger", cast))
    assert (found.member.person_id, found.kind) == ("full", "partial")


def test_two_exact_matches_by_different_people_go_to_the_lead() -> None:
    # Changed by issue 13: the lead wins only when the other is far below (a voice at 15, not 5).
    cast = [
        member("conroy", "Kevin Conroy", "Batman (voice)", 15),
        member("bale", "Christian Bale", "Bruce Wayne / Batman", 0),
    ]
    found = expect_match(match_character("Batman", cast))
    assert (found.member.person_id, found.kind) == ("bale", "exact")


def test_two_exact_matches_billed_close_together_are_ambiguous() -> None:
    cast = [
        member("conroy", "Kevin Conroy", "Batman (voice)", 5),
        member("bale", "Christian Bale", "Bruce Wayne / Batman", 0),
    ]
    reason = expect_no_match(match_character("Batman", cast)).reason
    assert reason.startswith("ambiguous: 'Batman' matches ")
    assert "Kevin Conroy" in reason and "Christian Bale" in reason
    # The credit pasted as written still names its own actor.
    assert expect_match(match_character("Batman (voice)", cast)).member.person_id == "conroy"


# ---------------------------------------------------------------- match_character: ambiguity


def test_ambiguous_partial_names_both_candidates() -> None:
    result = expect_no_match(match_character("Wayne", BATMAN_BEGINS))
    assert result.reason.startswith("ambiguous: 'Wayne' matches ")
    for part in ("Bruce Wayne", "Christian Bale", "Thomas Wayne", "Linus Roache"):
        assert part in result.reason


@pytest.mark.parametrize(
    ("query", "credits", "named"),
    [
        ("Bruce", ("Bruce Wayne", "Bruce Banner"), ("Bruce Wayne", "Bruce Banner")),
        (
            "Captain",
            ("Captain Jack Sparrow", "Captain Hector Barbossa"),
            ("Captain Jack Sparrow", "Captain Hector Barbossa"),
        ),
        # "Little John" is not a younger Prince John: a different character, so ambiguous.
        ("John", ("Prince John", "Little John"), ("Prince John", "Little John")),
        ("Hermoine Granger", ("Hermione Granger", "Hermine Granger"), ("Hermione", "Hermine")),
    ],
)
def test_equally_good_matches_by_different_people_are_ambiguous(
    query: str, credits: tuple[str, ...], named: tuple[str, ...]
) -> None:
    reason = expect_no_match(match_character(query, cast_of(*credits))).reason
    assert reason.startswith(f"ambiguous: '{query}'")
    for name in named:
        assert name in reason


def test_same_person_credited_twice_is_not_ambiguous() -> None:
    cast = [
        member("eckhart", "Aaron Eckhart", "Harvey Dent", 2),
        member("eckhart", "Aaron Eckhart", "Harvey Dent's Reflection", 30),
    ]
    found = expect_match(match_character("Harvey", cast))
    assert (found.member.order, found.alias) == (2, "harvey dent")


# ---------------------------------------------------------------- match_character: images, actor


def test_member_without_image_is_still_the_match() -> None:
    bale_no_photo = member("3894", "Christian Bale", "Bruce Wayne / Batman", 0, has_image=False)
    double = member("99", "Stunt Double", "Batman", 40, has_image=True)
    child = member("3897", "Gus Lewis", "Young Bruce Wayne", 12, has_image=True)
    for query in ("Batman", "Bruce Wayne", "Bruce"):
        found = expect_match(match_character(query, [double, child, bale_no_photo]))
        assert found.member == bale_no_photo
        assert found.member.has_image is False


@pytest.mark.parametrize("actor", ["Kevin Conroy", "kevin conroy", "KEVIN  CONROY", "Kevin Conroi"])
def test_actor_filter_picks_that_actor(actor: str) -> None:
    cast = [BALE, member("conroy", "Kevin Conroy", "Batman (voice)", 5)]
    found = expect_match(match_character("Batman", cast, actor=actor))
    assert found.member.person_id == "conroy"


def test_actor_filter_with_unknown_actor_is_no_match() -> None:
    result = expect_no_match(match_character("Batman", BATMAN_BEGINS, actor="George Clooney"))
    assert "George Clooney" in result.reason


def test_actor_filter_does_not_fall_back_to_another_actor() -> None:
    result = expect_no_match(match_character("Batman", BATMAN_BEGINS, actor="Michael Caine"))
    assert "Michael Caine" in result.reason
    assert "Batman" in result.reason


def test_blank_actor_is_no_filter() -> None:
    assert expect_match(match_character("Batman", BATMAN_BEGINS, actor="  ")).member == BALE


# ---------------------------------------------------------------- match_character: edge cases


@pytest.mark.parametrize("query", ["Himself", "Self", "Herself"])
def test_self_credit_never_matches_a_character_query(query: str) -> None:
    cast = [member("lee", "Stan Lee", "Himself", 8), member("f", "Fiona", "Herself", 9)]
    expect_no_match(match_character(query, cast))


def test_self_credit_matches_the_persons_own_name() -> None:
    cast = [BALE, member("lee", "Stan Lee", "Himself (archive footage)", 8)]
    found = expect_match(match_character("Stan Lee", cast))
    assert (found.member.person_id, found.kind, found.alias) == ("lee", "exact", "stan lee")


@pytest.mark.parametrize("query", ["", "   ", "!!!"])
def test_empty_query_is_no_match(query: str) -> None:
    assert expect_no_match(match_character(query, BATMAN_BEGINS)).reason == (
        "no character name given"
    )


def test_empty_cast_is_no_match() -> None:
    assert "Batman" in expect_no_match(match_character("Batman", [])).reason


def test_cast_with_only_empty_credits_is_no_match() -> None:
    cast = cast_of("", "(uncredited)", "   ")
    assert expect_no_match(match_character("Batman", cast)).reason == (
        "no cast member plays 'Batman'"
    )


# ---------------------------------------------------------------- match_title


DUNE_2021 = TitleCandidate("438631", ("Dune",), 2021, 0)
DUNE_1984 = TitleCandidate("841", ("Dune",), 1984, 1)
LION_KING_2019 = TitleCandidate("420818", ("The Lion King",), 2019, 0)
LION_KING_1994 = TitleCandidate("8587", ("The Lion King",), 1994, 1)


def ranked(*candidates: TitleCandidate) -> list[TitleCandidate]:
    """The candidates re-ranked in the order given."""
    return [TitleCandidate(c.id, c.titles, c.year, i) for i, c in enumerate(candidates)]


def expect_title(result: TitleMatch | NoMatch) -> TitleMatch:
    assert isinstance(result, TitleMatch), result
    return result


@pytest.mark.parametrize(
    ("query", "year", "candidates", "expected_id"),
    [
        ("Dune", 1984, ranked(DUNE_2021, DUNE_1984), "841"),
        ("Dune", 1984, ranked(DUNE_1984, DUNE_2021), "841"),
        ("Dune", 2021, ranked(DUNE_1984, DUNE_2021), "438631"),
        ("Dune", None, ranked(DUNE_2021, DUNE_1984), "438631"),
        ("Dune", None, ranked(DUNE_1984, DUNE_2021), "841"),
        ("The Lion King", 1994, ranked(LION_KING_2019, LION_KING_1994), "8587"),
        ("The Lion King", 2019, ranked(LION_KING_1994, LION_KING_2019), "420818"),
        ("Lion King", 1994, ranked(LION_KING_2019, LION_KING_1994), "8587"),
    ],
)
def test_title_year_picks_the_right_release(
    query: str, year: int | None, candidates: list[TitleCandidate], expected_id: str
) -> None:
    found = expect_title(match_title(query, year, candidates))
    assert (found.candidate.id, found.kind) == (expected_id, "exact")


@pytest.mark.parametrize("year", [1983, 1985])
def test_title_year_off_by_one_is_accepted(year: int) -> None:
    candidates = ranked(DUNE_2021, DUNE_1984)
    assert expect_title(match_title("Dune", year, candidates)).candidate.id == "841"


def test_title_same_year_beats_year_off_by_one() -> None:
    near = TitleCandidate("near", ("Dune",), 1985, 0)
    same = TitleCandidate("same", ("Dune",), 1984, 1)
    assert expect_title(match_title("Dune", 1984, [near, same])).candidate.id == "same"


def test_title_year_far_off_is_no_match() -> None:
    result = expect_no_match(match_title("Dune", 1984, [DUNE_2021]))
    assert result.reason == "no 'Dune' from 1984 in the results; found 2021"


def test_title_unknown_year_is_not_taken_when_a_year_is_given() -> None:
    undated = TitleCandidate("x", ("Dune",), None, 0)
    result = expect_no_match(match_title("Dune", 1984, [undated]))
    assert "1984" in result.reason
    assert "unknown year" in result.reason


def test_title_wrong_title_at_rank_zero_is_not_returned() -> None:
    candidates = [
        TitleCandidate("wrong", ("Dune: Part Two",), 2024, 0),
        TitleCandidate("right", ("Dune",), 2021, 1),
    ]
    assert expect_title(match_title("Dune", None, candidates)).candidate.id == "right"
    result = expect_no_match(match_title("Dune", None, candidates[:1]))
    assert "Dune: Part Two" in result.reason


@pytest.mark.parametrize(
    "query", ["Saint Seiya", "Knights of the Zodiac", "聖闘士星矢", "saint-seiya"]
)
def test_title_matches_aliases_and_translations(query: str) -> None:
    candidates = [
        TitleCandidate("series-1", ("Saint Seiya: The Lost Canvas",), 2009, 0),
        TitleCandidate("series-2", ("聖闘士星矢", "Saint Seiya", "Knights of the Zodiac"), 1986, 1),
    ]
    found = expect_title(match_title(query, None, candidates))
    assert (found.candidate.id, found.kind) == ("series-2", "exact")


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("Dark Knight", "The Dark Knight"),
        ("The Dark Knight", "Dark Knight"),
        ("American Tail", "An American Tail"),
        ("Beautiful Mind", "A Beautiful Mind"),
        ("Fast and Furious", "Fast & Furious"),
        ("Amelie", "Amélie"),
        ("Spiderman", "Spider-Man"),
    ],
)
def test_title_leading_article_and_punctuation_are_ignored(query: str, title: str) -> None:
    found = expect_title(match_title(query, None, [TitleCandidate("t", (title,), 2000, 0)]))
    assert found.kind == "exact"


def test_title_typo_is_a_fuzzy_match() -> None:
    found = expect_title(
        match_title(
            "The Shawshank Redemtion",
            1994,
            [TitleCandidate("278", ("The Shawshank Redemption",), 1994, 0)],
        )
    )
    assert (found.candidate.id, found.kind) == ("278", "fuzzy")


def test_title_exact_beats_fuzzy_even_at_a_worse_rank() -> None:
    candidates = [
        TitleCandidate("fuzzy", ("The Godfathr",), 1972, 0),
        TitleCandidate("exact", ("The Godfather",), 1972, 1),
    ]
    found = expect_title(match_title("The Godfather", 1972, candidates))
    assert (found.candidate.id, found.kind) == ("exact", "exact")


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("Toy Story 2", "Toy Story 3"),
        ("Rocky II", "Rocky III"),
        ("Alien", "Aliens"),
        ("Predator", "Predators"),
        ("Up", "Us"),
    ],
)
def test_title_sequel_or_near_name_is_not_a_fuzzy_match(query: str, title: str) -> None:
    expect_no_match(match_title(query, None, [TitleCandidate("t", (title,), 1990, 0)]))


@pytest.mark.parametrize(
    ("query", "candidates"), [("", [DUNE_2021]), ("  ", [DUNE_2021]), ("Dune", [])]
)
def test_title_empty_inputs_are_no_match(query: str, candidates: list[TitleCandidate]) -> None:
    expect_no_match(match_title(query, None, candidates))


def test_public_api_is_exported() -> None:
    for name in (
        "normalize",
        "filename_key",
        "character_aliases",
        "CastMember",
        "CastMatch",
        "NoMatch",
        "FUZZY_THRESHOLD",
        "match_character",
        "TitleCandidate",
        "TitleMatch",
        "match_title",
    ):
        assert name in names.__all__
        assert hasattr(names, name)


def _member(person_id: str, person: str, character: str, order: int) -> CastMember:
    return CastMember(
        person_id=person_id, person_name=person, character=character, order=order, has_image=True
    )


def test_honorific_in_query_finds_credit_without_it() -> None:
    cast = [
        _member("1", "Johnny Depp", "Jack Sparrow", 0),
        _member("2", "Orlando Bloom", "Will Turner", 1),
    ]
    found = match_character("Captain Jack Sparrow", cast)
    assert isinstance(found, CastMatch)
    assert found.member.person_name == "Johnny Depp"
    assert found.kind == "partial"


@pytest.mark.parametrize(
    ("query", "cast"),
    [
        ("Mr. Turner", [("Orlando Bloom", "Will Turner"), ("Stellan Skarsgard", "Bill Turner")]),
        ("Mrs. Turner", [("Orlando Bloom", "Will Turner")]),
        ("Mrs. Gordon", [("Gary Oldman", "Lt. James Gordon")]),
        ("Mr. Smith", [("Angelina Jolie", "Jane Smith")]),
    ],
)
def test_honorific_is_never_dropped_down_to_a_bare_surname(
    query: str, cast: list[tuple[str, str]]
) -> None:
    members = [_member(str(i), person, credit, i) for i, (person, credit) in enumerate(cast)]
    assert isinstance(match_character(query, members), NoMatch)


@pytest.mark.parametrize(
    ("query", "credit"),
    [
        ("Mary Bennet", "Mr. Bennet"),
        ("Mrs Bennet", "Mr Bennet"),
        ("Mary Smith", "Mark Smith"),
        ("Jane Smyth", "Jake Smith"),
    ],
)
def test_fuzzy_never_accepts_another_first_name(query: str, credit: str) -> None:
    assert isinstance(match_character(query, [_member("1", "Somebody", credit, 0)]), NoMatch)


def test_fuzzy_accepts_a_typo_in_one_long_word() -> None:
    found = match_character(
        "Hermoine Granger", [_member("1", "Emma Watson", "Hermione Granger", 0)]
    )
    assert isinstance(found, CastMatch) and found.kind == "fuzzy"


def test_honorific_alone_or_unknown_name_still_matches_nobody() -> None:
    cast = [_member("1", "Johnny Depp", "Jack Sparrow", 0)]
    assert isinstance(match_character("Captain", cast), NoMatch)
    assert isinstance(match_character("Captain Barbossa", cast), NoMatch)


def test_exact_credit_with_honorific_beats_stripped_match() -> None:
    cast = [_member("1", "A", "Jack Sparrow", 0), _member("2", "B", "Captain Jack Sparrow", 5)]
    found = match_character("Captain Jack Sparrow", cast)
    assert (
        isinstance(found, CastMatch) and found.member.person_name == "B" and found.kind == "exact"
    )
