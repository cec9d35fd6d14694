"""`--verify`: each provider's picture is downloaded and checked before it is accepted."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.images import Use, combined_score, inspect_image
from coverctl.models import Query
from coverctl.store.db import SqliteStore
from tests.fakes.base import serve
from tests.fakes.duckduckgo import FakeDuckDuckGo, image_result
from tests.fakes.hardcover import COVER_HOST, VALID_TOKEN, FakeHardcover
from tests.fakes.images import FakeImageHost, html_page, one_pixel, sharp_photo, soft_photo
from tests.fakes.tmdb import VALID_KEY, FakeTmdb
from tests.resolving import FAST_RATES, SourceHarness

DARK_KNIGHT = Query("Bruce Wayne", "The Dark Knight", 2008, "movie")
BALE_PHOTO = "t/p/w500/qCpZn2e3dimwbryLnqxZuI88PTi.jpg"


@pytest.fixture
def tmdb_images() -> FakeImageHost:
    return FakeImageHost("image.tmdb.org")


@pytest.fixture
def web_images() -> FakeImageHost:
    return FakeImageHost("images.example.org")


@pytest.fixture
def ddg() -> FakeDuckDuckGo:
    return FakeDuckDuckGo()


@pytest.fixture
def make_harness(
    make_settings: Callable[..., Settings],
    tmdb: FakeTmdb,
    tmdb_images: FakeImageHost,
    web_images: FakeImageHost,
    ddg: FakeDuckDuckGo,
) -> Callable[..., SourceHarness]:
    def build(**env: str) -> SourceHarness:
        values = {"TMDB_API_KEY": VALID_KEY, "COVERCTL_WEB_SEARCH": "0", **FAST_RATES}
        hosts = {
            "api.themoviedb.org": tmdb,
            tmdb_images.host: tmdb_images,
            web_images.host: web_images,
            "duckduckgo.com": ddg,
        }
        return SourceHarness(make_settings(**{**values, **env}), hosts)

    return build


@pytest.fixture
def movies(make_harness: Callable[..., SourceHarness]) -> SourceHarness:
    return make_harness()


def stored_row(harness: SourceHarness, character: str, title: str) -> dict[str, object]:
    store = SqliteStore(harness.settings.db_path)
    try:
        (row,) = store.find(character, title)
    finally:
        store.close()
    return row


def test_valid_picture_is_accepted_with_combined_score_hash_and_size(
    movies: SourceHarness, tmdb_images: FakeImageHost
) -> None:
    tmdb_images.add(BALE_PHOTO, sharp_photo())
    result = movies.resolve(DARK_KNIGHT, verify=True)
    info = inspect_image(sharp_photo(), Use.PROFILE)
    assert result.candidate is not None
    assert result.candidate.source == "tmdb"
    assert result.candidate.quality_score == combined_score(50, info) != 50
    assert result.candidate.image_hash == info.phash
    row = stored_row(movies, "bruce wayne", "the dark knight")
    assert (row["image_hash"], row["image_width"], row["image_height"]) == (info.phash, 600, 900)
    assert row["quality_score"] == combined_score(50, info)
    assert tmdb_images.downloads() == [f"/{BALE_PHOTO}"]


def test_html_served_as_an_image_is_rejected_and_the_cascade_continues(
    make_harness: Callable[..., SourceHarness],
    tmdb_images: FakeImageHost,
    web_images: FakeImageHost,
    ddg: FakeDuckDuckGo,
) -> None:
    tmdb_images.add(BALE_PHOTO, html_page(), content_type="image/jpeg")
    web_url = web_images.add("bruce.jpg", soft_photo())
    ddg.results = [
        image_result("Bruce Wayne | The Dark Knight | Batman Wiki", web_url, "https://wiki.example")
    ]
    harness = make_harness(COVERCTL_WEB_SEARCH="1")
    result = harness.resolve(DARK_KNIGHT, verify=True)
    assert result.candidate is not None
    assert result.candidate.source == "web_search"
    assert result.candidate.image_url == web_url
    outcomes = [(a.source, a.outcome) for a in result.attempts]
    assert outcomes[-2:] == [("tmdb_movie", "rejected"), ("web_search", "accepted")]
    rejected = result.attempts[-2].reason
    assert rejected.startswith("rejected: Christian Bale") and "HTML page" in rejected


def test_without_verify_nothing_is_downloaded(
    movies: SourceHarness, tmdb_images: FakeImageHost
) -> None:
    tmdb_images.add(BALE_PHOTO, html_page())
    result = movies.resolve(DARK_KNIGHT)
    assert result.candidate is not None and result.candidate.source == "tmdb"
    assert result.candidate.quality_score == 50 and result.candidate.image_hash is None
    assert tmdb_images.requests == []


def test_every_picture_rejected_is_not_found_with_the_reason(
    movies: SourceHarness, tmdb_images: FakeImageHost
) -> None:
    tmdb_images.add(BALE_PHOTO, one_pixel())
    result = movies.resolve(DARK_KNIGHT, verify=True)
    assert result.status == "not_found"
    assert "1×1 pixels" in (result.error or "")
    assert result.unavailable_sources == []


def test_dead_picture_url_is_rejected(movies: SourceHarness) -> None:
    result = movies.resolve(DARK_KNIGHT, verify=True)  # the image host has no such file: 404
    assert result.status == "not_found"
    assert "HTTP 404" in (result.error or "")


def test_picture_host_outage_is_unavailable_and_not_remembered(
    movies: SourceHarness, tmdb_images: FakeImageHost
) -> None:
    tmdb_images.add(BALE_PHOTO, sharp_photo())
    tmdb_images.fail_next(BALE_PHOTO, 503, times=3)
    first = movies.resolve(DARK_KNIGHT, verify=True)
    assert first.status == "not_found"
    assert first.unavailable_sources == ["tmdb_movie"]
    assert "could not download the image" in (first.error or "")
    assert movies.resolve(DARK_KNIGHT, verify=True).status == "resolved"


def test_an_unchecked_cached_answer_does_not_satisfy_verify(
    movies: SourceHarness, tmdb_images: FakeImageHost
) -> None:
    tmdb_images.add(BALE_PHOTO, html_page())
    assert movies.resolve(DARK_KNIGHT).status == "resolved"
    checked = movies.resolve(DARK_KNIGHT, verify=True)
    assert checked.status == "not_found" and not checked.cache_hit
    assert len(tmdb_images.requests) == 1


def test_book_cover_is_checked_as_a_poster(
    make_settings: Callable[..., Settings],
) -> None:
    covers = FakeImageHost(COVER_HOST)
    covers.default = (sharp_photo(100, 100), "image/jpeg")  # fine for a profile, not a poster
    settings = make_settings(HARDCOVER_API_KEY=VALID_TOKEN, COVERCTL_WEB_SEARCH="0", **FAST_RATES)
    harness = SourceHarness(settings, {"api.hardcover.app": FakeHardcover(), COVER_HOST: covers})
    result = harness.resolve(Query("Paul Atreides", "Dune", None, "book"), verify=True)
    assert result.status == "not_found"
    assert "92×138 minimum for a poster picture" in (result.error or "")


def test_cli_verify_flag_reports_the_checked_score(
    monkeypatch: pytest.MonkeyPatch,
    tmdb: FakeTmdb,
    tmdb_images: FakeImageHost,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tmdb_images.add(BALE_PHOTO, sharp_photo())
    with serve(tmdb, tmdb_images, prefixes=("/tmdb", "/img")) as url:
        monkeypatch.setenv("TMDB_API_URL", f"{url}/tmdb/3")
        monkeypatch.setenv("TMDB_IMAGE_BASE_URL", f"{url}/img/t/p")
        monkeypatch.setenv("TMDB_API_KEY", VALID_KEY)
        monkeypatch.setenv("COVERCTL_WEB_SEARCH", "0")
        code = run(["resolve", "Bruce Wayne", "-t", "The Dark Knight", "--verify", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["quality_score"] == combined_score(50, inspect_image(sharp_photo(), Use.PROFILE))


def test_batch_verify_rejects_a_broken_picture_and_keeps_the_good_one(
    monkeypatch: pytest.MonkeyPatch,
    tmdb: FakeTmdb,
    tmdb_images: FakeImageHost,
    capsys: pytest.CaptureFixture[str],
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    tmdb_images.add(BALE_PHOTO, sharp_photo())
    tmdb_images.add("t/p/w500/5Y9HnYYa9jF4NunY9lSgJGjSe8E.jpg", html_page(), "image/jpeg")
    source = tmp_path / "rows.csv"
    source.write_text(
        "character_name,title,year,media_type\n"
        "Bruce Wayne,The Dark Knight,2008,movie\n"
        "Joker,The Dark Knight,2008,movie\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    with serve(tmdb, tmdb_images, prefixes=("/tmdb", "/img")) as url:
        monkeypatch.setenv("TMDB_API_URL", f"{url}/tmdb/3")
        monkeypatch.setenv("TMDB_IMAGE_BASE_URL", f"{url}/img/t/p")
        monkeypatch.setenv("TMDB_API_KEY", VALID_KEY)
        monkeypatch.setenv("COVERCTL_WEB_SEARCH", "0")
        code = run(["batch", str(source), "--out", str(out), "--verify", "--quiet"])
    capsys.readouterr()
    bruce, joker = (json.loads(line) for line in out.read_text(encoding="utf-8").splitlines())
    assert code == 3
    assert bruce["status"] == "resolved"
    assert bruce["quality_score"] == combined_score(50, inspect_image(sharp_photo(), Use.PROFILE))
    assert joker["status"] == "not_found" and "HTML" in joker["error"]
