"""The accuracy corpus (tests/accuracy.py) through the real resolver: no wrong picks, no lower
correct rate than the floors below, and a scorer that cannot count a wrong face as right.

When a fix lands: delete the cases it fixed from tests/data/accuracy/known_wrong.txt (this test
says which) and raise the floors to the new figures (`scripts/bench_accuracy.py` prints them).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from coverctl.errors import ImageRejected
from coverctl.images import inspect_image
from coverctl.models import Candidate, Match, Query, Resolution
from tests.accuracy import (
    CATEGORIES,
    Case,
    Corpus,
    Outcome,
    Run,
    judge,
    known_wrong,
    load_corpus,
    run_corpus,
    tally,
)
from tests.fakes.routing import HostRouter

# Correct rates measured on main when the corpus was written, rounded down. Raise them as fixes
# land; never lower one to make a change pass.
FLOORS: dict[str, float] = {
    "exact_credit": 0.99,
    "alias": 1.00,
    "first_name": 0.95,
    "surname": 1.00,
    "nickname": 0.97,
    "honorific": 0.82,
    "accents": 1.00,
    "voice": 0.86,
    "young_old": 1.00,
    "remake_year": 1.00,
    "alternative_title": 1.00,
    "partial_title": 1.00,
    "shared_title": 1.00,
    "family_surname": 0.84,
    "null_photo": 1.00,
    "dead_picture": 0.89,
    "absent": 1.00,
    "ids": 1.00,
}
OVERALL_FLOOR = 0.98


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus()


@pytest.fixture(scope="module")
def run(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_corpus(corpus, tmp_path_factory.mktemp("accuracy"))


def test_corpus_has_every_category_and_whole_casts(corpus: Corpus) -> None:
    counts = {c: sum(case.category == c for case in corpus.cases) for c in CATEGORIES}
    assert len(corpus.cases) >= 300
    assert min(counts.values()) >= 10, counts
    works = {(c.title, c.year) for c in corpus.cases if c.category == "exact_credit"}
    assert len(works) >= 25
    # Traps are part of the corpus: cases where the right answer is "not found".
    assert sum(c.outcome == "none" for c in corpus.cases) >= 50


def test_the_harness_served_every_request(run: Run) -> None:
    """Scores mean nothing if a fake was asked something it does not serve."""
    assert run.unexpected_requests == []
    assert run.unavailable == []
    raised = [j.case.id for j in run.judgements if j.detail.startswith("raised ")]
    assert raised == []


def test_no_wrong_picks_beyond_the_known_bugs(run: Run) -> None:
    wrong = {j.case.id: j.detail for j in run.judgements if j.verdict == "wrong"}
    known = known_wrong()
    new = {case: detail for case, detail in wrong.items() if case not in known}
    assert new == {}, "wrong picks (another person's picture, or a broken one)"
    fixed = sorted(known - set(wrong))
    assert fixed == [], "fixed: delete these lines from tests/data/accuracy/known_wrong.txt"


def test_correct_rate_stays_above_the_floors(run: Run) -> None:
    per, overall = tally(run.judgements)
    below = {
        name: f"{counts.rate:.1%} < {FLOORS[name]:.0%}"
        for name, counts in per.items()
        if counts.rate < FLOORS[name]
    }
    assert below == {}
    assert overall.rate >= OVERALL_FLOOR


def test_dead_pictures_of_the_corpus_really_do_not_load(corpus: Corpus) -> None:
    """The corpus's 404 and truncated pictures fail the project's own image check, and the
    others pass it: "broken" in the scores means broken."""
    router = HostRouter(corpus.fakes())
    pictures = {
        key: picture
        for key, picture in corpus.pictures.items()
        if not key.startswith("image.tmdb.org/")  # TMDB profiles all load (one default picture)
    }

    async def fetch_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=router.transport()) as client:
            return list(await asyncio.gather(*(client.get(f"https://{k}") for k in pictures)))

    verdicts: dict[bytes, bool] = {}  # body -> passes the check (most bodies are shared)
    for (key, picture), response in zip(pictures.items(), asyncio.run(fetch_all()), strict=True):
        if picture.state == "404":
            assert response.status_code == 404, key
            continue
        assert response.status_code == 200, key
        if response.content not in verdicts:
            try:
                inspect_image(response.content)
                verdicts[response.content] = True
            except ImageRejected:
                verdicts[response.content] = False
        assert verdicts[response.content] == (picture.state == "ok"), key
    assert {picture.state for picture in pictures.values()} == {"ok", "404", "cut"}


# --- the scorer itself ---------------------------------------------------------------------------


def _case(expect: str | None, outcome: Outcome = "picture", also: tuple[str, ...] = ()) -> Case:
    return Case("alias", "Bruce Wayne", "The Dark Knight", 2008, "movie", expect, also, outcome)


def _picture_of(corpus: Corpus, who: str, state: str = "ok") -> str:
    return next(
        f"https://{key}" for key, p in corpus.pictures.items() if p.who == who and p.state == state
    )


def _resolved(url: str) -> Resolution:
    candidate = Candidate(url, "tmdb", 50, Match("someone", "someone", "1"))
    return Resolution(Query("x", "y"), "resolved", candidate)


def _not_found(reason: str) -> Resolution:
    return Resolution(Query("x", "y"), "not_found", None, error=reason)


def test_another_persons_picture_is_wrong(corpus: Corpus) -> None:
    answer = _resolved(_picture_of(corpus, "Kevin Conroy"))
    assert judge(_case("Christian Bale"), answer, corpus).verdict == "wrong"
    assert judge(_case("Christian Bale", "either"), answer, corpus).verdict == "wrong"


def test_the_right_persons_picture_is_correct_whatever_the_source(corpus: Corpus) -> None:
    tvdb_photo = _picture_of(corpus, "Bryan Cranston")
    assert "thetvdb" in tvdb_photo or "tmdb" in tvdb_photo
    assert judge(_case("Bryan Cranston"), _resolved(tvdb_photo), corpus).verdict == "correct"
    also = _case("Kyle MacLachlan", "either", ("Timothée Chalamet",))
    answer = _resolved(_picture_of(corpus, "Timothée Chalamet"))
    assert judge(also, answer, corpus).verdict == "correct"


def test_a_broken_picture_of_the_right_person_is_wrong(corpus: Corpus) -> None:
    for who, state in (("Jonathan Banks", "404"), ("Bryan Cranston", "cut")):
        answer = _resolved(_picture_of(corpus, who, state))
        assert judge(_case(who), answer, corpus).verdict == "wrong"


def test_any_picture_where_nothing_should_be_found_is_wrong(corpus: Corpus) -> None:
    answer = _resolved(_picture_of(corpus, "Olumiji Olawumi"))
    assert judge(_case(None, "none"), answer, corpus).verdict == "wrong"


def test_a_picture_the_corpus_does_not_know_is_wrong(corpus: Corpus) -> None:
    answer = _resolved("https://image.tmdb.org/t/p/w500/not-in-the-corpus.jpg")
    assert judge(_case("Christian Bale"), answer, corpus).verdict == "wrong"


def test_not_found_is_missed_when_a_picture_exists_and_correct_when_none_should(
    corpus: Corpus,
) -> None:
    answer = _not_found("tmdb_movie: no cast member plays 'Bruce Wayne'")
    assert judge(_case("Christian Bale"), answer, corpus).verdict == "missed"
    assert judge(_case(None, "none"), answer, corpus).verdict == "correct"
    assert judge(_case("Christian Bale", "either"), answer, corpus).verdict == "correct"


def test_found_without_a_picture_counts_only_when_the_reason_names_that_person_alone(
    corpus: Corpus,
) -> None:
    case = _case("Michael Jai White", "no_picture")
    alone = "tmdb_movie: found Michael Jai White as 'Gambol' but TMDB has no photo of them"
    assert judge(case, _not_found(alone), corpus).verdict == "correct"
    ambiguous = (
        "tmdb_movie: ambiguous: 'Gambol' matches Gambol (Michael Jai White) and X (Heath Ledger)"
    )
    assert judge(case, _not_found(ambiguous), corpus).verdict == "missed"
    unrelated = "tmdb_movie: no cast member plays 'Gambol'"
    assert judge(case, _not_found(unrelated), corpus).verdict == "missed"


def test_a_crash_is_not_counted_correct(corpus: Corpus) -> None:
    assert judge(_case(None, "none"), RuntimeError("boom"), corpus).verdict == "missed"


def test_shared_credit_strings_have_no_right_person() -> None:
    """Two bit parts credited "Soldier": the exact-credit case expects nothing. "Drug-Dealer"
    beside "Drug Dealer": that person or nothing. A credit one person carries: that person."""
    corpus = load_corpus()
    by_id = {c.id: c for c in corpus.cases}
    soldier = by_id["exact_credit|Soldier|Saving Private Ryan|1998|movie"]
    assert (soldier.expect, soldier.outcome) == (None, "none")
    dealer = by_id["exact_credit|Drug-Dealer|The Dark Knight|2008|movie"]
    assert (dealer.expect, dealer.outcome) == ("Greg Beam", "either")
    heckler = by_id["exact_credit|Heckler|The Dark Knight|2008|movie"]
    assert (heckler.expect, heckler.outcome) == (None, "none")
    batman = by_id["exact_credit|Bruce Wayne / Batman|The Dark Knight|2008|movie"]
    assert (batman.expect, batman.outcome) == ("Christian Bale", "picture")
    gambol = by_id["exact_credit|Gambol|The Dark Knight|2008|movie"]
    assert (gambol.expect, gambol.outcome) == ("Michael Jai White", "no_picture")
