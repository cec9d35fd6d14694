"""Pins and rejections: the store (real SQLite), the resolver honouring them, candidates, and
maintenance commands that must leave them alone. HTTP is faked (tests/curation_world.py)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from coverctl.config import Settings
from coverctl.curation.rules import applies, best_pin, rejection_of
from coverctl.curation.service import Curator
from coverctl.errors import ImageRejected, UsageError
from coverctl.models import Query
from coverctl.names import normalize
from coverctl.store.db import SCHEMA_VERSION, ImageRecord, SqliteStore
from coverctl.store.decisions import DECISIONS_TABLE, PINNED, REJECTED, Decision
from tests.curation_world import (
    BALE,
    BREAKING_BAD,
    CRANSTON,
    DARK_KNIGHT,
    TMDB_IMAGES,
    WALTER_ART,
    WALTER_PHOTO,
    World,
    picture_for,
)


@pytest.fixture
def world(provider_settings: Settings) -> World:
    return World(provider_settings)


def decision(kind: str, url: str, **extra: object) -> Decision:
    return Decision(
        kind=kind,
        character_name="Bruce Wayne",
        movie_title="The Dark Knight",
        character_key="bruce wayne",
        title_key="the dark knight",
        image_url=url,
        **extra,  # type: ignore[arg-type]
    )


def pinned_row(url: str) -> ImageRecord:
    return ImageRecord(
        character_name="Bruce Wayne",
        movie_title="The Dark Knight",
        character_key="bruce wayne",
        title_key="the dark knight",
        image_url=url,
        source="pinned",
        quality_score=100,
    )


# -- the store --------------------------------------------------------------------------------


def test_decisions_are_stored_replaced_per_scope_and_kept_across_reopening(
    provider_settings: Settings,
) -> None:
    store = SqliteStore(provider_settings.db_path)
    try:
        assert store.schema_version == SCHEMA_VERSION
        decisions = store.decisions
        decisions.pin(decision(PINNED, "https://a.example/1.jpg", note="first"), pinned_row("u1"))
        decisions.pin(decision(PINNED, "https://a.example/2.jpg"), pinned_row("u2"))
        decisions.pin(decision(PINNED, "https://a.example/3.jpg", year=2008), pinned_row("u3"))
        decisions.reject(decision(REJECTED, "https://a.example/bad.jpg", image_hash="ff" * 8))
        decisions.reject(decision(REJECTED, "https://a.example/bad.jpg", note="again"))
    finally:
        store.close()

    store = SqliteStore(provider_settings.db_path)  # a new process would see the same
    try:
        pins = store.decisions.for_work("bruce wayne", "the dark knight", PINNED)
        # One pin per scope: the second replaced the first; the 2008 one is a scope of its own.
        assert sorted(p.image_url for p in pins) == [
            "https://a.example/2.jpg",
            "https://a.example/3.jpg",
        ]
        assert all(p.decided_at and p.id for p in pins)
        rejections = store.decisions.for_work("bruce wayne", "the dark knight", REJECTED)
        assert [(r.image_url, r.note) for r in rejections] == [
            ("https://a.example/bad.jpg", "again")
        ]
        # The pin's row is in character_images, once per (character, title, source).
        rows = store.find("bruce wayne", "the dark knight", ["pinned"])
        assert [r["image_url"] for r in rows] == ["u3"]
        # The table accepts only the two kinds.
        with pytest.raises(sqlite3.IntegrityError), store.db.conn:
            store.db.conn.execute(
                f"INSERT INTO {DECISIONS_TABLE} (id, kind, character_name, movie_title, "
                "character_key, title_key, image_url, decided_at) "
                "VALUES ('x', 'maybe', 'a', 'b', 'a', 'b', 'u', 'now')"
            )
    finally:
        store.close()


def test_pinning_a_rejected_picture_lifts_its_rejection(provider_settings: Settings) -> None:
    store = SqliteStore(provider_settings.db_path)
    try:
        store.decisions.reject(decision(REJECTED, "https://a.example/x.jpg"))
        store.decisions.pin(decision(PINNED, "https://a.example/x.jpg"), pinned_row("u"))
        kinds = [d.kind for d in store.decisions.for_work("bruce wayne", "the dark knight")]
        assert kinds == [PINNED]
    finally:
        store.close()


def test_rules_match_work_year_media_url_and_hash() -> None:
    pin_any = decision(PINNED, "https://a.example/any.jpg")
    pin_1989 = decision(PINNED, "https://a.example/1989.jpg", year=1989)
    pin_tv = decision(PINNED, "https://a.example/tv.jpg", media_type="tv")
    assert applies(pin_1989, Query("Joker", "Batman", 1990))  # release years differ by a year
    assert not applies(pin_1989, Query("Joker", "Batman", 1966))
    assert applies(pin_1989, Query("Joker", "Batman"))
    assert not applies(pin_tv, Query("Joker", "Batman", media_type="movie"))
    # The most exact pin wins over a newer, vaguer one.
    assert best_pin([pin_any, pin_1989], Query("Joker", "Batman", 1989)) == pin_1989
    assert best_pin([pin_any, pin_1989], Query("Joker", "Batman", 1966)) == pin_any

    hashed = decision(REJECTED, "https://a.example/r.jpg", image_hash="c3d1a4b5e6f70819")
    assert rejection_of("https://a.example/r.jpg", None, [hashed]) == hashed
    assert rejection_of("https://b.example/other.jpg", "c3d1a4b5e6f70818", [hashed]) == hashed
    assert rejection_of("https://b.example/other.jpg", "3c1d4a5b6e7f8091", [hashed]) is None
    assert rejection_of("https://b.example/other.jpg", None, [hashed]) is None


# -- the resolver honours pins and rejections -------------------------------------------------


def test_a_pin_is_served_first_as_pinned_quality_100_until_unpinned(world: World) -> None:
    first = world.resolve(DARK_KNIGHT)
    assert first.candidate is not None and first.candidate.image_url == BALE  # now cached

    other = f"{TMDB_IMAGES}/another-bale.jpg"
    outcome = world.run(lambda c: c.pin(DARK_KNIGHT, url=other, note="the cowl shot"))
    assert outcome.decision.decided_by == "tester" and outcome.decision.note == "the cowl shot"
    assert outcome.decision.image_hash is not None and outcome.decision.image_width == 300

    served = world.resolve(DARK_KNIGHT)  # the cached TMDB answer does not hide the pin
    assert served.candidate is not None
    assert (served.candidate.source, served.candidate.quality_score) == ("pinned", 100)
    assert served.candidate.image_url == other
    assert served.to_json()["source"] == "pinned"
    assert world.resolve(DARK_KNIGHT, network=False).candidate.image_url == other

    removed = world.run(lambda c: asyncio_value(c.unpin(DARK_KNIGHT)))
    assert [d.image_url for d in removed] == [other]
    after = world.resolve(DARK_KNIGHT)
    assert after.candidate is not None and after.candidate.image_url == BALE
    store = SqliteStore(world.settings.db_path)
    try:
        assert store.find("bruce wayne", "the dark knight", ["pinned"]) == []
    finally:
        store.close()


async def asyncio_value(value: object) -> object:
    return value


def test_pinning_a_dead_or_tiny_picture_is_refused_and_records_nothing(world: World) -> None:
    world.tmdb_images.gone.add("t/p/w500/dead.jpg")
    with pytest.raises(ImageRejected, match="dead"):
        world.run(lambda c: c.pin(DARK_KNIGHT, url=f"{TMDB_IMAGES}/dead.jpg"))
    world.tmdb_images.add("t/p/w500/tiny.jpg", picture_for("tiny", 40, 40))
    with pytest.raises(ImageRejected, match="too small"):
        world.run(lambda c: c.pin(DARK_KNIGHT, url=f"{TMDB_IMAGES}/tiny.jpg"))
    with pytest.raises(UsageError, match="exactly one"):
        world.run(lambda c: c.pin(DARK_KNIGHT))
    assert world.run(lambda c: asyncio_value(c.decisions(DARK_KNIGHT))) == []


def test_a_pinned_file_is_copied_into_the_static_directory(
    world: World, tmp_path: Path, static_dir: Path
) -> None:
    picture = tmp_path / "mine.jpg"
    picture.write_bytes(picture_for("mine", 200, 300))
    outcome = world.run(lambda c: c.pin(DARK_KNIGHT, path=picture))
    stored = Path(outcome.decision.image_url)
    assert stored.parent == (static_dir / "pinned").resolve()
    assert stored.read_bytes() == picture.read_bytes()
    picture.unlink()  # the pin does not depend on the original
    served = world.resolve(DARK_KNIGHT)
    assert served.candidate is not None and served.candidate.image_url == str(stored)
    assert served.candidate.source == "pinned"


def test_rejecting_the_served_picture_moves_the_cascade_on(world: World) -> None:
    assert world.resolve(BREAKING_BAD).candidate.image_url == WALTER_ART  # TVDB's art, cached

    outcome = world.run(lambda c: c.reject(BREAKING_BAD, note="a drawing"))
    assert outcome.decision.image_url == WALTER_ART and outcome.decision.note == "a drawing"
    assert outcome.decision.image_hash is not None  # fetched through the guarded download
    assert outcome.rows_removed == 1
    assert outcome.resolution.candidate is not None
    # The next candidate: TVDB's photo of the actor.
    assert outcome.resolution.candidate.image_url == WALTER_PHOTO

    outcome = world.run(lambda c: c.reject(BREAKING_BAD))  # that one too
    assert outcome.decision.image_url == WALTER_PHOTO
    assert outcome.resolution.candidate is not None
    assert outcome.resolution.candidate.image_url == CRANSTON  # TMDB TV, the next source

    again = world.resolve(BREAKING_BAD)  # a fresh resolver: the store and cache on disk
    assert again.candidate is not None and again.candidate.image_url == CRANSTON
    explained = [(a.source, a.outcome) for a in again.attempts]
    assert explained[-1] == ("cache", "accepted")
    fresh = world.resolve(BREAKING_BAD, refresh=True)
    assert ("tvdb", "rejected") in [(a.source, a.outcome) for a in fresh.attempts]
    assert fresh.candidate is not None and fresh.candidate.image_url == CRANSTON


def test_a_rejection_bypasses_a_cached_answer_serving_that_picture(world: World) -> None:
    assert world.resolve(DARK_KNIGHT).candidate.image_url == BALE
    store = SqliteStore(world.settings.db_path)
    try:  # recorded straight in the store: no re-resolution, the cache still holds BALE
        store.decisions.reject(decision(REJECTED, BALE, year=2008))
    finally:
        store.close()
    answer = world.resolve(DARK_KNIGHT)
    assert answer.status == "not_found" and not answer.cache_hit
    assert "rejected by a curator" in (answer.error or "")
    # A miss a rejection caused is not remembered: lifting it brings the picture back at once.
    assert world.run(lambda c: c.unreject(DARK_KNIGHT))
    assert world.resolve(DARK_KNIGHT).candidate.image_url == BALE


def test_the_same_picture_at_another_address_is_rejected_by_its_hash(world: World) -> None:
    world.run(lambda c: c.reject(DARK_KNIGHT, BALE))
    # TMDB now lists Bale with a new file name that serves the same picture.
    moved = "/moved-bale.jpg"
    original = "t/p/w500/qCpZn2e3dimwbryLnqxZuI88PTi.jpg"
    world.tmdb_images.same_as["t/p/w500/moved-bale.jpg"] = original
    cast = world.tmdb.movies[155]["cast"]
    world.tmdb.movies[155]["cast"] = [
        {**m, "profile_path": moved} if m["id"] == 3894 else m for m in cast
    ]
    answer = world.resolve(DARK_KNIGHT, refresh=True)
    assert answer.status == "not_found"
    rejected = [a for a in answer.attempts if a.outcome == "rejected"]
    assert rejected and "rejected by a curator by tester" in rejected[0].reason
    # A different picture at a new address is served.
    world.tmdb_images.same_as.clear()
    answer = world.resolve(DARK_KNIGHT, refresh=True)
    assert answer.candidate is not None and answer.candidate.image_url == f"{TMDB_IMAGES}{moved}"


def test_rejecting_nothing_or_a_pinned_picture_is_a_usage_error(world: World) -> None:
    with pytest.raises(UsageError, match="no picture to reject"):
        world.run(lambda c: c.reject(Query("Nobody", "The Dark Knight", 2008, "movie")))
    world.run(lambda c: c.pin(DARK_KNIGHT, url=BALE))
    with pytest.raises(UsageError, match="unpin it first"):
        world.run(lambda c: c.reject(DARK_KNIGHT))


# -- candidates --------------------------------------------------------------------------------


def test_candidates_list_the_same_persons_other_photos_numbered(world: World) -> None:
    world.tmdb.extra_profiles[3894] = ["/bale-2.jpg", "/bale-3.jpg"]

    async def listing(curator: Curator):  # type: ignore[no-untyped-def]
        return await curator.candidates(DARK_KNIGHT, sizes=True)

    found = world.run(listing)
    urls = [c.candidate.image_url for c in found.candidates]
    assert urls == [BALE, f"{TMDB_IMAGES}/bale-2.jpg", f"{TMDB_IMAGES}/bale-3.jpg"]
    assert [c.number for c in found.candidates] == [1, 2, 3]
    assert all(c.candidate.matched.person == "Christian Bale" for c in found.candidates)
    first = found.candidates[0]
    assert first.served and (first.width, first.height) == (500, 750)  # TMDB's w500 size
    assert any("pinned: no pinned picture" in note for note in found.notes)

    outcome = world.run(lambda c: c.pin(DARK_KNIGHT, number=3))
    assert outcome.decision.image_url == f"{TMDB_IMAGES}/bale-3.jpg"
    assert outcome.decision.person_name == "Christian Bale"
    assert outcome.resolution.candidate.image_url == f"{TMDB_IMAGES}/bale-3.jpg"
    with pytest.raises(UsageError, match="no candidate 9"):
        world.run(lambda c: c.pin(DARK_KNIGHT, number=9))


def test_tvdb_candidates_offer_the_character_art_and_the_actor_photo(world: World) -> None:
    world.run(lambda c: c.reject(BREAKING_BAD, WALTER_ART))

    found = world.run(lambda c: c.candidates(BREAKING_BAD))
    by_url = {c.candidate.image_url: c for c in found.candidates}
    assert list(by_url)[:2] == [WALTER_ART, WALTER_PHOTO]
    assert by_url[WALTER_ART].rejection is not None and not by_url[WALTER_ART].served
    assert by_url[WALTER_PHOTO].candidate.quality_score == 65 and by_url[WALTER_PHOTO].served
    assert CRANSTON in by_url and not by_url[CRANSTON].served  # TMDB TV's, after TVDB's


# -- maintenance leaves decisions alone --------------------------------------------------------


def test_cache_clear_keeps_pins_and_rejections(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from coverctl.cli.app import run

    world.run(lambda c: c.reject(BREAKING_BAD))
    world.run(lambda c: c.pin(DARK_KNIGHT, url=f"{TMDB_IMAGES}/chosen.jpg"))
    assert run(["cache", "clear", "--all"]) == 0
    capsys.readouterr()
    assert world.resolve(DARK_KNIGHT).candidate.image_url == f"{TMDB_IMAGES}/chosen.jpg"
    answer = world.resolve(BREAKING_BAD)
    assert answer.candidate is not None and answer.candidate.image_url == WALTER_PHOTO


def test_audit_fix_never_replaces_a_pinned_row_and_keeps_rejections(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from coverctl.maintenance.audit import AuditOptions, run_audit
    from coverctl.maintenance.fix import fix_findings
    from tests.conftest import FAST_RETRIES

    world.run(lambda c: c.pin(DARK_KNIGHT, url=f"{TMDB_IMAGES}/chosen.jpg"))
    world.run(lambda c: c.reject(BREAKING_BAD))  # now served: TVDB's actor photo (65: low)
    store = SqliteStore(world.settings.db_path)
    try:
        pinned = store.find("bruce wayne", "the dark knight", ["pinned"])[0]
        store.update_fields(pinned["id"], {"last_checked": "2025-01-01", "last_status": "http_404"})
        result = run_audit(store, AuditOptions(), world.settings)
        flagged = {f.source for f in result.findings}
        assert {"pinned", "tvdb"} <= flagged
        report = asyncio.run(
            fix_findings(
                result.findings,
                world.settings,
                store,
                limit=0,
                transport=world.router.transport(),
                policy=FAST_RETRIES,
            )
        )
        by_source = {o.finding.source: o for o in report.outcomes}
        assert by_source["pinned"].outcome == "kept"
        assert "Pinned by a curator" in by_source["pinned"].reason
        assert store.get(pinned["id"]) is not None
        # Re-resolving Walter White did not bring the rejected TVDB art back.
        assert by_source["tvdb"].new_url in (None, WALTER_PHOTO)
        urls = {r["image_url"] for r in store.find("walter white", "breaking bad")}
        assert WALTER_ART not in urls
    finally:
        store.close()
    assert world.resolve(DARK_KNIGHT).candidate.source == "pinned"
    assert world.resolve(BREAKING_BAD).candidate.image_url == WALTER_PHOTO


def test_unpin_of_one_scope_leaves_the_others_row(world: World) -> None:
    general = f"{TMDB_IMAGES}/general.jpg"
    only_2008 = f"{TMDB_IMAGES}/only-2008.jpg"
    world.run(lambda c: c.pin(replace(DARK_KNIGHT, year=None, media_type=None), url=general))
    world.run(lambda c: c.pin(DARK_KNIGHT, url=only_2008))
    assert world.resolve(DARK_KNIGHT).candidate.image_url == only_2008
    assert world.resolve(Query("Bruce Wayne", "The Dark Knight", 1966)).candidate.image_url == (
        general
    )
    # Unpinning the 1966 query removes the general pin only; 2008 keeps its own.
    removed = world.run(
        lambda c: asyncio_value(c.unpin(Query("Bruce Wayne", "The Dark Knight", 1966)))
    )
    assert [d.image_url for d in removed] == [general]
    store = SqliteStore(world.settings.db_path)
    try:
        rows = store.find(normalize("Bruce Wayne"), normalize("The Dark Knight"), ["pinned"])
        assert [r["image_url"] for r in rows] == [only_2008]
    finally:
        store.close()
