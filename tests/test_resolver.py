"""The cascade's order and bookkeeping, against fakes and real local files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from coverctl.constants import Source
from coverctl.models import Candidate, ExternalIds, Query, Resolution
from coverctl.names import normalize
from coverctl.resolver import (
    LIVE_STEPS,
    PINNED_STEP,
    ResolutionPlan,
    ResolveOptions,
    close_resolver,
    image_record,
    provider_steps,
)
from coverctl.store.db import ImageRecord, SqliteStore
from coverctl.store.decisions import PINNED, REJECTED, Decision
from tests.conftest import ResolverHarness
from tests.fakes.images import FakeImageHost
from tests.fakes.tmdb import FakeTmdb

DARK_KNIGHT = Query("Bruce Wayne", "The Dark Knight", 2008, "movie")


def jpeg_bytes(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 60, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_local_override_file_wins_without_any_request(
    harness: ResolverHarness, static_dir: Path, tmdb: FakeTmdb
) -> None:
    path = static_dir / "characters" / "character_specific_image_bruce_wayne.jpg"
    path.write_bytes(jpeg_bytes(200, 300))
    result = harness.resolve(DARK_KNIGHT)
    assert result.candidate is not None
    assert result.candidate.source == "character_specific"
    assert result.candidate.quality_score == 100
    assert result.candidate.image_url == str(path.resolve())
    assert tmdb.requests == []


@pytest.mark.parametrize(
    "name",
    ["character_specific_image_bruce_wayne.png", "bruce_wayne_profile.jpg", "bruce_wayne.png"],
)
def test_every_design_file_pattern_is_found(
    harness: ResolverHarness, static_dir: Path, name: str
) -> None:
    (static_dir / name).write_bytes(jpeg_bytes(100, 100))
    result = harness.resolve(DARK_KNIGHT)
    assert result.candidate is not None and result.candidate.image_url.endswith(name)


def test_local_file_is_served_through_backend_url_when_set(
    make_settings, static_dir: Path, tmdb: FakeTmdb
) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.routing import HostRouter

    (static_dir / "characters" / "bruce_wayne.jpg").write_bytes(jpeg_bytes(100, 100))
    settings = make_settings(BACKEND_URL="https://backend.example/")
    result = ResolverHarness(settings, HostRouter({})).resolve(DARK_KNIGHT)
    assert result.candidate is not None
    assert (
        result.candidate.image_url
        == "https://backend.example/api/image-no-auth/characters/bruce_wayne.jpg"
    )


def test_media_actor_override_replaces_the_tmdb_photo_of_the_matched_person(
    harness: ResolverHarness, static_dir: Path
) -> None:
    (static_dir / "155_3894.jpg").write_bytes(jpeg_bytes(100, 100))
    result = harness.resolve(DARK_KNIGHT)
    assert result.candidate is not None
    assert result.candidate.source == "character_specific"
    assert result.candidate.matched.person == "Christian Bale"
    assert result.candidate.image_url.endswith("155_3894.jpg")


def test_actor_override_is_used_only_for_the_matched_actor(
    harness: ResolverHarness, static_dir: Path
) -> None:
    (static_dir / "actor_specific_image_heath_ledger.jpg").write_bytes(jpeg_bytes(100, 100))
    bruce = harness.resolve(DARK_KNIGHT)
    joker = harness.resolve(Query("Joker", "The Dark Knight", 2008, "movie"))
    assert bruce.candidate is not None and bruce.candidate.source == "tmdb"
    assert joker.candidate is not None and joker.candidate.image_url.endswith(
        "actor_specific_image_heath_ledger.jpg"
    )


def test_stored_ai_image_beats_providers(harness: ResolverHarness, tmdb: FakeTmdb) -> None:
    store = SqliteStore(harness.settings.db_path)
    store.upsert(
        ImageRecord(
            "Bruce Wayne",
            "The Dark Knight",
            "bruce wayne",
            "the dark knight",
            "/image/anonymous_123.jpg",
            "ai_generated",
            80,
        )
    )
    store.close()
    result = harness.resolve(DARK_KNIGHT)
    assert result.candidate is not None
    assert result.candidate.source == "ai_generated" and result.candidate.quality_score == 80
    assert result.candidate.image_url == "/api/image-no-auth/anonymous_123.jpg"
    assert tmdb.requests == []


def test_provider_row_with_tmp_in_url_is_not_taken_for_ai(harness: ResolverHarness) -> None:
    store = SqliteStore(harness.settings.db_path)
    store.upsert(
        ImageRecord(
            "Bruce Wayne",
            "The Dark Knight",
            "bruce wayne",
            "the dark knight",
            "https://image.tmdb.org/t/p/w500/tmpxyz.jpg",
            "tmdb",
            50,
        )
    )
    store.close()
    result = harness.resolve(DARK_KNIGHT)
    assert result.candidate is not None and result.candidate.source == "tmdb"
    assert not result.cache_hit


def test_resolution_is_recorded_in_the_store(harness: ResolverHarness) -> None:
    harness.resolve(DARK_KNIGHT)
    store = SqliteStore(harness.settings.db_path)
    rows = store.find("bruce wayne", "the dark knight")
    assert len(rows) == 1
    assert rows[0]["source"] == "tmdb" and rows[0]["person_name"] == "Christian Bale"
    assert rows[0]["external_character_id"] == "3894" and rows[0]["year"] == 2008


def test_clean_miss_is_cached_negatively(harness: ResolverHarness, tmdb: FakeTmdb) -> None:
    query = Query("Gandalf", "The Dark Knight", 2008, "movie")
    first = harness.resolve(query)
    sent = len(tmdb.requests)
    second = harness.resolve(query)
    assert first.status == second.status == "not_found"
    assert second.cache_hit and len(tmdb.requests) == sent


def test_explain_lists_each_source_with_its_outcome(harness: ResolverHarness, tvdb) -> None:  # type: ignore[no-untyped-def]
    tvdb.series = {}
    result = harness.resolve(Query("Walter White", "Breaking Bad", None, "tv"))
    outcomes = [(a.source, a.outcome) for a in result.attempts]
    # In plan order; web search (turned off here) comes after the accepted step, so is not listed.
    assert outcomes == [
        ("local", "no_match"),
        ("stored_ai", "no_match"),
        ("tvdb", "no_match"),
        ("tmdb_tv", "accepted"),
    ]


def test_explain_lists_skipped_sources_in_plan_order(harness: ResolverHarness, tmdb, tvdb) -> None:  # type: ignore[no-untyped-def]
    tmdb.tv = {}
    tvdb.series = {}
    result = harness.resolve(Query("Walter White", "Breaking Bad", None, "tv"))
    outcomes = [(a.source, a.outcome) for a in result.attempts]
    assert outcomes == [
        ("local", "no_match"),
        ("stored_ai", "no_match"),
        ("tvdb", "no_match"),
        ("tmdb_tv", "no_match"),
        ("web_search", "skipped"),
    ]


def test_no_network_never_calls_providers(harness: ResolverHarness, tmdb: FakeTmdb) -> None:
    result = harness.resolve(DARK_KNIGHT, network=False)
    assert result.status == "not_found"
    assert tmdb.requests == []


def test_no_network_still_answers_from_the_cache(harness: ResolverHarness, tmdb: FakeTmdb) -> None:
    online = harness.resolve(DARK_KNIGHT)
    sent = len(tmdb.requests)
    offline = harness.resolve(DARK_KNIGHT, network=False)
    assert offline.status == "resolved" and offline.cache_hit
    assert offline.candidate == online.candidate
    assert len(tmdb.requests) == sent


def test_no_network_miss_is_not_remembered(harness: ResolverHarness) -> None:
    assert harness.resolve(DARK_KNIGHT, network=False).status == "not_found"
    assert harness.resolve(DARK_KNIGHT).status == "resolved"


@pytest.mark.parametrize(
    ("media_type", "steps"),
    [
        ("movie", ["tmdb_movie", "web_search"]),
        ("tv", ["tvdb", "tmdb_tv", "web_search"]),
        ("book", ["hardcover", "web_search"]),
        (None, ["tmdb_movie", "tvdb", "tmdb_tv", "hardcover", "web_search"]),
    ],
)
def test_sources_follow_the_contract_for_each_media_type(
    media_type: str | None, steps: list[str]
) -> None:
    assert provider_steps(media_type, generate=False) == steps
    assert provider_steps(media_type, generate=True) == [*steps, "generate"]


def test_stored_ai_image_of_another_year_or_medium_is_not_served(harness: ResolverHarness) -> None:
    store = SqliteStore(harness.settings.db_path)
    store.upsert(
        ImageRecord(
            "Joker",
            "Batman",
            "joker",
            "batman",
            "/image/anonymous_89.jpg",
            "ai_generated",
            80,
            media_type="movie",
            year=1989,
        )
    )
    store.close()
    other_year = harness.resolve(Query("Joker", "Batman", 1966, "movie"), network=False)
    other_medium = harness.resolve(Query("Joker", "Batman", None, "tv"), network=False)
    same = harness.resolve(Query("Joker", "Batman", 1989, "movie"), network=False)
    assert other_year.status == other_medium.status == "not_found"
    assert same.candidate is not None and same.candidate.source == "ai_generated"


# --- a dry run predicts what a run does --------------------------------------------------------

PREDICTED = [
    DARK_KNIGHT,  # TMDB answers
    Query("Bruce Wayne", "The Dark Knight"),  # no media type: every provider in turn
    Query("Gandalf", "The Dark Knight", 2008, "movie"),  # a clean miss, remembered
    Query("Walter White", "Breaking Bad", None, "tv"),  # TVDB, its picture checked by default
    Query("Joker", "The Dark Knight", 2008, "movie", ids=ExternalIds(tmdb_id=155)),  # by id
    Query("Alfred Pennyworth", "The Dark Knight", 2008, "movie"),  # a local override file
    Query("Rachel Dawes", "The Dark Knight", 2008, "movie"),  # a curator's pin
]
# In this order on one store and cache, so later option sets meet earlier answers (--no-network
# after a run with the network on, --verify after the default checks...).
OPTION_SPREAD: list[dict[str, Any]] = [
    {"network": False},
    {},
    {"network": False},
    {"verify": "all"},
    {"verify": "none"},
    {"generate": True},
    {"refresh": True},
    {"network": False, "verify": "all"},
]


def asked(resolution: Resolution) -> list[str]:
    """The remote steps `resolve` asked, in order (a step may log several attempts)."""
    steps: list[str] = []
    for attempt in resolution.attempts:
        if attempt.source in (PINNED_STEP, *LIVE_STEPS, "cache") or attempt.outcome == "skipped":
            continue
        if attempt.source not in steps:
            steps.append(attempt.source)
    return steps


def test_plan_predicts_what_resolve_then_does(
    harness: ResolverHarness, static_dir: Path, tmdb: FakeTmdb
) -> None:
    (static_dir / "characters" / "alfred_pennyworth.jpg").write_bytes(jpeg_bytes(100, 100))
    images = FakeImageHost("image.tmdb.org")
    images.default = (jpeg_bytes(300, 450), "image/jpeg")
    harness.router.routes[images.host] = images
    seen: set[str | None] = set()
    rachel = PREDICTED[-1]
    pin = Candidate(f"{images.url('pinned.jpg')}", Source.PINNED, 100)

    async def run() -> None:
        for number, options in enumerate(OPTION_SPREAD):
            resolver = harness.open(refresh=options.get("refresh", False))
            if number == 0:
                resolver.store.decisions.pin(
                    decision(PINNED, rachel, pin), image_record(rachel, pin)
                )
            try:
                for query in PREDICTED * 2:  # the second time, maybe from the cache
                    plan = await resolver.plan(query, ResolveOptions(**options))
                    resolution = await resolver.resolve(query, ResolveOptions(**options))
                    seen.add(plan.answered_by)
                    check_prediction(plan, resolution, options)
                    if number == 1 and query == DARK_KNIGHT and resolution.candidate:
                        # A curator rejects the cached answer: no run may serve it again.
                        rejected = decision(REJECTED, query, resolution.candidate)
                        resolver.store.decisions.reject(rejected)
            finally:
                await close_resolver(resolver)

    asyncio.run(run())
    # The spread met every kind of answer, so the checks above were not vacuous.
    assert seen == {"pinned", "local", "cache", "negative_cache", None}


def decision(kind: str, query: Query, candidate: Candidate) -> Decision:
    return Decision(
        kind=kind,
        character_name=query.character_name,
        movie_title=query.title,
        character_key=normalize(query.character_name),
        title_key=normalize(query.title),
        image_url=candidate.image_url,
    )


def check_prediction(plan: ResolutionPlan, resolution: Resolution, options: Any) -> None:
    where = f"{plan.query} with {options}"
    steps = asked(resolution)
    if plan.answered_by in (PINNED_STEP, *LIVE_STEPS):
        assert resolution.status == "resolved" and not resolution.cache_hit, where
        assert resolution.attempts[-1].source == plan.answered_by, where
        assert plan.steps == steps == [], where
    elif plan.answered_by is not None:
        found = "resolved" if plan.answered_by == "cache" else "not_found"
        assert (resolution.status, resolution.cache_hit) == (found, True), where
        assert plan.steps == steps == [], where
    else:
        assert not resolution.cache_hit, where
        if resolution.status == "not_found":
            assert steps == plan.steps, where
        else:  # the cascade stops at the first answer
            assert steps and steps == plan.steps[: len(steps)], where
    if not options.get("network", True):
        assert steps == [], where
