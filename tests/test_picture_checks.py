"""Picture checks by default (issue 13): sources whose picture URLs are often dead (TVDB artwork,
Hardcover covers) have the answer's picture downloaded and checked before it is served; a broken
picture falls back to the same source's next candidate, then to the next source. `--verify`
checks every source's picture, `--no-verify` none (web search always checks its own).

Real picture bytes (Pillow) behind image-host fakes; TVDB and TMDB fakes with the real shapes.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from coverctl.batch import BatchOptions, plan_batch, resume_command, run_batch
from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.constants import IMAGE_HOST_CONCURRENCY, PictureChecks
from coverctl.images import Use, combined_score, inspect_image
from coverctl.models import Query, Resolution
from coverctl.net.http import HttpClient, RetryPolicy
from coverctl.net.pictures import check_image
from coverctl.resolver import ResolveOptions, close_resolver, open_resolver
from tests.conftest import FAST_RETRIES
from tests.fakes.base import FakeService, serve
from tests.fakes.hardcover import COVER_HOST, VALID_TOKEN, FakeHardcover, cover, cover_host
from tests.fakes.images import FakeImageHost, cut_jpeg, html_page, one_pixel, sharp_photo
from tests.fakes.routing import HostRouter
from tests.fakes.tmdb import VALID_KEY, FakeTmdb
from tests.fakes.tvdb import ARTWORK_HOST, VALID_API_KEY, FakeTvdb, artwork_host
from tests.resolving import FAST_RATES, SourceHarness

WALTER = Query("Walter White", "Breaking Bad", 2008, "tv")
WALTER_ART = "banners/v4/actor/250827/photo/6c9b7e.jpg"  # character artwork, quality 70
WALTER_PHOTO = "banners/v4/people/250827/photo/p.jpg"  # Bryan Cranston's TVDB photo, 65
CRANSTON_TMDB = "t/p/w500/7Jahy5LZX2Fo8fGJltMreAI49hC.jpg"  # TMDB TV profile, 45
TMDB_IMAGES = "image.tmdb.org"
IMAGE_GATE = f"image_fetch:{ARTWORK_HOST}"


def url(host: str, path: str) -> str:
    return f"https://{host}/{path}"


def break_picture(host: FakeImageHost, path: str, how: str) -> None:
    """Make `path` on `host` serve a broken picture, as real hosts do."""
    if how == "404":
        del host.files[path]  # the host's 404 with an HTML body
    elif how == "truncated":
        host.add(path, cut_jpeg())
    elif how == "html":
        host.add(path, html_page(), "image/jpeg")
    elif how == "1x1":
        host.add(path, one_pixel())
    else:  # pragma: no cover - a test typo
        raise ValueError(how)


@pytest.fixture
def art() -> FakeImageHost:
    return artwork_host()


@pytest.fixture
def tmdb_images() -> FakeImageHost:
    host = FakeImageHost(TMDB_IMAGES)
    host.add(CRANSTON_TMDB, sharp_photo(seed=7))
    return host


@pytest.fixture
def hosts(
    tvdb: FakeTvdb, tmdb: FakeTmdb, art: FakeImageHost, tmdb_images: FakeImageHost
) -> dict[str, FakeService]:
    return {
        "api4.thetvdb.com": tvdb,
        "api.themoviedb.org": tmdb,
        ARTWORK_HOST: art,
        TMDB_IMAGES: tmdb_images,
    }


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        TVDB_API_KEY=VALID_API_KEY, TMDB_API_KEY=VALID_KEY, COVERCTL_WEB_SEARCH="0", **FAST_RATES
    )


@pytest.fixture
def tv(settings: Settings, hosts: dict[str, FakeService]) -> SourceHarness:
    return SourceHarness(settings, hosts)


def outcomes(result: Resolution) -> list[tuple[str, str]]:
    return [(a.source, a.outcome) for a in result.attempts if a.source not in LOCAL_STEPS]


LOCAL_STEPS = ("local", "stored_ai")


# --- default checks: the same source's next candidate first -------------------------------------


def test_a_good_tvdb_artwork_is_checked_once_and_served_with_its_quality(
    tv: SourceHarness, art: FakeImageHost
) -> None:
    result = tv.resolve(WALTER)
    assert result.candidate is not None
    assert result.candidate.image_url == url(ARTWORK_HOST, WALTER_ART)
    assert result.candidate.quality_score == 70  # the default checks leave the score alone
    info = inspect_image(art.files[WALTER_ART][0], Use.PROFILE)
    assert result.candidate.image_hash == info.phash
    assert art.downloads() == [f"/{WALTER_ART}"]  # the photo was not needed


@pytest.mark.parametrize("how", ["404", "truncated", "1x1", "html"])
def test_a_broken_tvdb_artwork_falls_back_to_the_actors_tvdb_photo(
    tv: SourceHarness, art: FakeImageHost, tmdb: FakeTmdb, how: str
) -> None:
    break_picture(art, WALTER_ART, how)
    result = tv.resolve(WALTER)
    assert result.status == "resolved" and result.candidate is not None
    assert result.candidate.source == "tvdb"
    assert result.candidate.image_url == url(ARTWORK_HOST, WALTER_PHOTO)
    assert result.candidate.quality_score == 65
    assert result.candidate.matched.person == "Bryan Cranston"
    assert outcomes(result) == [("tvdb", "rejected"), ("tvdb", "accepted")]
    assert "as 'Walter White' (quality 70)" in result.attempts[-2].reason
    assert art.downloads() == [f"/{WALTER_ART}", f"/{WALTER_PHOTO}"]
    assert tmdb.requests == []  # TVDB answered: the cascade did not move on


def test_both_tvdb_pictures_broken_moves_to_tmdb_tv_with_each_rejection_explained(
    tv: SourceHarness, art: FakeImageHost, tmdb_images: FakeImageHost
) -> None:
    break_picture(art, WALTER_ART, "404")
    break_picture(art, WALTER_PHOTO, "truncated")
    result = tv.resolve(WALTER)
    assert result.candidate is not None
    assert result.candidate.source == "tmdb"
    assert result.candidate.image_url == url(TMDB_IMAGES, CRANSTON_TMDB)
    assert result.candidate.quality_score == 45
    assert outcomes(result) == [
        ("tvdb", "rejected"),
        ("tvdb", "rejected"),
        ("tmdb_tv", "accepted"),
    ]
    rejected = [a.reason for a in result.attempts if a.outcome == "rejected"]
    assert "quality 70" in rejected[0] and "HTTP 404" in rejected[0]
    assert "quality 65" in rejected[1]
    assert tmdb_images.requests == []  # TMDB is trusted by default: not downloaded


def test_every_picture_rejected_is_a_clean_miss_remembered_without_downloading_again(
    tv: SourceHarness, art: FakeImageHost, tmdb: FakeTmdb
) -> None:
    tmdb.tv = {}
    break_picture(art, WALTER_ART, "404")
    break_picture(art, WALTER_PHOTO, "1x1")
    first = tv.resolve(WALTER)
    assert first.status == "not_found" and first.unavailable_sources == []
    assert "HTTP 404" in (first.error or "") and "1×1" in (first.error or "")
    downloads = len(art.requests)
    second = tv.resolve(WALTER)
    assert second.status == "not_found" and second.cache_hit
    assert len(art.requests) == downloads


def test_an_image_host_outage_is_unavailable_and_not_remembered_as_a_miss(
    tv: SourceHarness, art: FakeImageHost, tmdb: FakeTmdb
) -> None:
    tmdb.tv = {}
    art.fail_next(r"/banners/", 503, times=6)  # both pictures, each tried 3 times
    first = tv.resolve(WALTER)
    assert first.status == "not_found"
    assert first.unavailable_sources == ["tvdb"]
    assert "could not download the image" in (first.error or "")
    second = tv.resolve(WALTER)
    assert second.status == "resolved" and not second.cache_hit
    assert second.candidate is not None and second.candidate.quality_score == 70


def test_a_verdict_is_cached_by_url_so_another_question_does_not_download_again(
    tv: SourceHarness, art: FakeImageHost
) -> None:
    break_picture(art, WALTER_ART, "truncated")
    first = tv.resolve(WALTER)
    downloads = art.downloads()
    # The same role asked another way (pinned to the actor): another resolution, same pictures.
    second = tv.resolve(Query("Walter White", "Breaking Bad", 2008, "tv", "Bryan Cranston"))
    assert first.candidate is not None and second.candidate is not None
    assert (
        second.candidate.image_url == first.candidate.image_url == url(ARTWORK_HOST, WALTER_PHOTO)
    )
    assert not second.cache_hit
    assert art.downloads() == downloads == [f"/{WALTER_ART}", f"/{WALTER_PHOTO}"]


def test_concurrent_questions_sharing_a_picture_download_it_once(
    tv: SourceHarness, art: FakeImageHost
) -> None:
    queries = [
        WALTER,
        Query("Walter White", "Breaking Bad", 2008, "tv", "Bryan Cranston"),
        Query("walter  white", "Breaking Bad", None, "tv"),
    ]
    results = tv.gather(queries)
    assert {r.candidate.image_url for r in results if r.candidate} == {
        url(ARTWORK_HOST, WALTER_ART)
    }
    assert art.downloads() == [f"/{WALTER_ART}"]


def test_a_hardcover_cover_that_is_gone_is_not_served(
    make_settings: Callable[..., Settings],
) -> None:
    covers = cover_host()
    path = httpx.URL(cover(312460)["url"]).path.lstrip("/")  # Dune's cover
    del covers.files[path]  # gone: the host answers 404 with an HTML page
    settings = make_settings(HARDCOVER_API_KEY=VALID_TOKEN, COVERCTL_WEB_SEARCH="0", **FAST_RATES)
    books = SourceHarness(settings, {"api.hardcover.app": FakeHardcover(), COVER_HOST: covers})
    dune = Query("Paul Atreides", "Dune", None, "book")
    result = books.resolve(dune)
    assert result.status == "not_found"
    assert "HTTP 404" in (result.error or "") and result.unavailable_sources == []
    unchecked = books.resolve(dune, verify="none")
    assert unchecked.status == "resolved" and unchecked.candidate is not None
    assert unchecked.candidate.image_url == covers.url(path)


# --- --no-verify and --verify --------------------------------------------------------------------


def test_no_verify_serves_the_broken_artwork_without_downloading_it(
    tv: SourceHarness, art: FakeImageHost
) -> None:
    # The documented trade-off: --no-verify is faster and may serve a dead picture.
    break_picture(art, WALTER_ART, "404")
    result = tv.resolve(WALTER, verify="none")
    assert result.candidate is not None
    assert result.candidate.image_url == url(ARTWORK_HOST, WALTER_ART)
    assert result.candidate.quality_score == 70
    assert art.requests == []


def test_verify_checks_tmdb_too_and_scores_the_picture(
    tv: SourceHarness, art: FakeImageHost, tmdb_images: FakeImageHost
) -> None:
    break_picture(art, WALTER_ART, "404")
    break_picture(art, WALTER_PHOTO, "404")
    result = tv.resolve(WALTER, verify="all")
    assert result.candidate is not None and result.candidate.source == "tmdb"
    info = inspect_image(tmdb_images.files[CRANSTON_TMDB][0], Use.PROFILE)
    assert result.candidate.quality_score == combined_score(45, info)
    assert tmdb_images.downloads() == [f"/{CRANSTON_TMDB}"]


def test_verify_true_still_means_every_picture(tv: SourceHarness, art: FakeImageHost) -> None:
    result = tv.resolve(WALTER, verify=True)
    info = inspect_image(art.files[WALTER_ART][0], Use.PROFILE)
    assert result.candidate is not None
    assert result.candidate.quality_score == combined_score(70, info)


def test_verify_keeps_the_best_passing_picture_of_a_source(
    tv: SourceHarness, art: FakeImageHost
) -> None:
    # A poor artwork (small and blurred) scores below what the actor's sharp photo can reach:
    # with --verify both are checked and the better picture wins; by default the first passes.
    from tests.fakes.images import soft_photo

    art.add(WALTER_ART, soft_photo(100, 150))
    poor = inspect_image(soft_photo(100, 150), Use.PROFILE)
    sharp = inspect_image(art.files[WALTER_PHOTO][0], Use.PROFILE)
    assert combined_score(70, poor) < combined_score(65, sharp)  # the premise
    verified = tv.resolve(WALTER, verify="all")
    assert verified.candidate is not None
    assert verified.candidate.image_url == url(ARTWORK_HOST, WALTER_PHOTO)
    assert verified.candidate.quality_score == combined_score(65, sharp)
    checked = tv.resolve(WALTER)
    assert checked.candidate is not None
    assert checked.candidate.image_url == url(ARTWORK_HOST, WALTER_ART)


def test_cached_answers_are_kept_apart_by_the_checks_they_passed(
    tv: SourceHarness, art: FakeImageHost
) -> None:
    break_picture(art, WALTER_ART, "404")
    unchecked = tv.resolve(WALTER, verify="none")
    assert unchecked.candidate is not None
    assert unchecked.candidate.image_url == url(ARTWORK_HOST, WALTER_ART)
    # An unchecked answer is never served where the default checks are due ...
    checked = tv.resolve(WALTER)
    assert not checked.cache_hit and checked.candidate is not None
    assert checked.candidate.image_url == url(ARTWORK_HOST, WALTER_PHOTO)
    # ... and an answer the default checks passed is not served to --verify either.
    verified = tv.resolve(WALTER, verify="all")
    assert not verified.cache_hit
    assert tv.resolve(WALTER).cache_hit
    assert art.downloads() == [f"/{WALTER_ART}", f"/{WALTER_PHOTO}"]  # verdicts were reused


def test_a_tmdb_movie_answer_is_shared_by_the_default_checks_and_no_verify(
    tv: SourceHarness, tmdb_images: FakeImageHost
) -> None:
    # TMDB is trusted: for a movie both policies check nothing, so they share cached answers
    # (and keep the cache keys they had before default checks existed).
    knight = Query("Bruce Wayne", "The Dark Knight", 2008, "movie")
    assert not tv.resolve(knight, verify="none").cache_hit
    assert tv.resolve(knight).cache_hit
    assert tmdb_images.requests == []


def test_an_unknown_policy_is_a_usage_error() -> None:
    from coverctl.errors import UsageError

    with pytest.raises(UsageError, match="default, all, none"):
        ResolveOptions(verify="sometimes")


# --- downloads go to image hosts, never through the API's gate ----------------------------------


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_tvdb_api_pause_does_not_hold_up_artwork_downloads(
    settings: Settings, hosts: dict[str, FakeService], tvdb: FakeTvdb, art: FakeImageHost
) -> None:
    # TVDB answers 429 with a Retry-After far beyond patience: its gate is paused for everyone.
    tvdb.fail_next(
        r"/search", 429, {"message": "Too Many Requests"}, headers={"Retry-After": "900"}
    )

    async def scenario() -> None:
        resolver = open_resolver(
            settings, transport=HostRouter(hosts).transport(), policy=FAST_RETRIES
        )
        try:
            result = await resolver.resolve(WALTER)
            assert result.unavailable_sources == ["tvdb"]  # answered by TMDB TV instead
            assert resolver.http.gate("tvdb").paused_until > 0
            # A download from TVDB's artwork host goes out at once, under its own gate.
            info = await check_image(resolver.context, url(ARTWORK_HOST, WALTER_ART), Use.PROFILE)
            assert info.width == 300
            image_gate = resolver.http.gate(IMAGE_GATE)
            assert image_gate.paused_until == 0 and image_gate.stats.requests == 1
        finally:
            await close_resolver(resolver)

    run_async(scenario())
    assert art.downloads() == [f"/{WALTER_ART}"]


def test_an_artwork_host_pause_does_not_hold_up_the_tvdb_api(
    settings: Settings, hosts: dict[str, FakeService], tvdb: FakeTvdb, art: FakeImageHost
) -> None:
    art.fail_next(r"/banners/", 429, headers={"Retry-After": "900"})

    async def scenario() -> None:
        resolver = open_resolver(
            settings, transport=HostRouter(hosts).transport(), policy=FAST_RETRIES
        )
        try:
            first = await resolver.resolve(WALTER)
            # The artwork host asked to wait far too long: TVDB's pictures cannot be checked.
            assert first.unavailable_sources == ["tvdb"]
            assert first.candidate is not None and first.candidate.source == "tmdb"
            # The TVDB API itself is not paused: another series is searched and read at once.
            searches = tvdb.count(r"/search")
            second = await resolver.resolve(Query("Seiya", "Saint Seiya", None, "tv"))
            assert tvdb.count(r"/search") == searches + 1 and tvdb.count(r"/series/79212") == 1
            assert second.unavailable_sources == ["tvdb"]  # its artwork is on the paused host
            api = resolver.http.gate("tvdb")
            assert api.paused_until == 0 and api.stats.rate_limited == 0
            assert resolver.http.gate(IMAGE_GATE).stats.rate_limited == 1
        finally:
            await close_resolver(resolver)

    run_async(scenario())


def test_a_dead_image_host_opens_its_own_breaker_not_the_apis(
    settings: Settings, hosts: dict[str, FakeService], tvdb: FakeTvdb, art: FakeImageHost
) -> None:
    art.fail_next(r"/banners/", 503, times=100)
    policy = RetryPolicy(
        attempts=1, wait_initial=0.001, wait_max=0.001, wait_jitter=0.0, breaker_threshold=2
    )

    async def scenario() -> None:
        resolver = open_resolver(settings, transport=HostRouter(hosts).transport(), policy=policy)
        try:
            await resolver.resolve(WALTER)
            await resolver.resolve(Query("Seiya", "Saint Seiya", None, "tv"))
            assert resolver.http.gate(IMAGE_GATE).circuit_open
            api = resolver.http.gate("tvdb")
            assert not api.circuit_open and api.stats.failures == 0
            assert api.stats.breaker_opened == 0
        finally:
            await close_resolver(resolver)

    run_async(scenario())
    assert tvdb.count(r"/series/79212") == 1  # the API was still asked after the host died


def test_each_image_host_has_its_own_in_flight_limit_and_apis_have_none() -> None:
    in_flight: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        in_flight[host] += 1
        peak[host] = max(peak[host], in_flight[host])
        await release.wait()
        in_flight[host] -= 1
        return httpx.Response(200, content=b"ok")

    async def scenario() -> None:
        http = HttpClient(
            rates={"image_fetch": 10_000.0, "tvdb": 10_000.0},
            bursts={"image_fetch": 1000, "tvdb": 1000},
            transport=httpx.MockTransport(handler),
        )
        gates = {"a.example": "image_fetch:a.example", "b.example": "image_fetch:b.example"}
        gates["api.example"] = "tvdb"
        tasks = [
            asyncio.create_task(http.request(gate, "GET", f"https://{host}/{i}"))
            for host, gate in gates.items()
            for i in range(3 * IMAGE_HOST_CONCURRENCY)
        ]
        # Let every task run as far as it can: the limited ones stop at their host's limit.
        for _ in range(200):
            await asyncio.sleep(0)
        snapshot = dict(in_flight)
        release.set()
        await asyncio.gather(*tasks)
        await http.aclose()
        assert snapshot == {
            "a.example": IMAGE_HOST_CONCURRENCY,
            "b.example": IMAGE_HOST_CONCURRENCY,
            "api.example": 3 * IMAGE_HOST_CONCURRENCY,
        }

    run_async(scenario())
    assert peak["a.example"] == peak["b.example"] == IMAGE_HOST_CONCURRENCY


# --- batch: downloads once per picture, counted apart; the dry run estimates them ---------------


def tv_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["character_name,title,media_type,actor"]
    lines += [f"{name},Breaking Bad,tv,{actor}" for name, actor in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


BATCH_ROWS = [
    ("Walter White", ""),
    ("Jesse Pinkman", ""),
    ("Skyler White", ""),
    ("Walter White", "Bryan Cranston"),  # another question, the same pictures
    ("walter white", ""),  # the same question
    ("Jesse Pinkman", "Aaron Paul"),
    ("Skyler White", "Anna Gunn"),
    ("Walter White", ""),
]


def test_batch_over_tvdb_rows_downloads_each_picture_once_and_counts_downloads_apart(
    tmp_path: Path, settings: Settings, hosts: dict[str, FakeService], art: FakeImageHost
) -> None:
    break_picture(art, WALTER_ART, "truncated")
    source = tv_rows(tmp_path / "in.csv", BATCH_ROWS)
    out = tmp_path / "out.jsonl"
    summary = run_batch(
        source,
        settings,
        BatchOptions(out=out, concurrency=8),
        transport=HostRouter(hosts).transport(),
        policy=FAST_RETRIES,
    )
    results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["status"] for r in results] == ["resolved"] * len(BATCH_ROWS)
    walter = {r["image_url"] for r in results if r["character_name"].lower() == "walter white"}
    assert walter == {url(ARTWORK_HOST, WALTER_PHOTO)}
    assert all(count == 1 for count in Counter(art.downloads()).values())
    assert sorted(art.downloads()) == sorted(
        [
            f"/{WALTER_ART}",
            f"/{WALTER_PHOTO}",
            "/banners/person/250828/jesse.jpg",
            "/banners/skyler.jpg",
        ]
    )
    assert summary.provider_calls == {"tvdb": 3}  # login, search, series: no download in it
    assert summary.picture_downloads == 4
    data = summary.to_json()
    assert data["provider_calls"] == {"tvdb": 3}
    assert data["picture_downloads"] == 4
    assert data["picture_downloads_by_host"] == {ARTWORK_HOST: 4}


def test_dry_run_counts_picture_downloads_apart_from_api_calls(
    tmp_path: Path, settings: Settings
) -> None:
    source = tv_rows(tmp_path / "in.csv", BATCH_ROWS)
    movie = tmp_path / "movie.csv"
    movie.write_text(
        "character_name,title,media_type\nBruce Wayne,The Dark Knight,movie\n", encoding="utf-8"
    )

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"dry run sent {request.url}")

    def plan(path: Path, **options: Any) -> Any:
        return plan_batch(
            path, settings, BatchOptions(**options), transport=httpx.MockTransport(refuse)
        )

    questions = 6  # two rows ask what row 1 asks
    checked = plan(source)
    assert checked.expected_calls == {"tvdb": 2}
    assert checked.expected_downloads == {"tvdb": questions}
    assert checked.max_downloads == {"tvdb": 2 * questions}  # art, then the actor's photo
    assert checked.to_json()["picture_checks"] == "default"
    everything = plan(source, verify="all")
    assert everything.max_downloads == {"tvdb": 2 * questions, "tmdb": questions}
    assert plan(source, verify="none").max_downloads == {}
    assert plan(movie).max_downloads == {}  # TMDB is trusted by default
    assert plan(movie, verify="all").expected_downloads == {"tmdb": 1}


# --- the command line ----------------------------------------------------------------------------


def test_cli_flags_and_help_say_what_is_checked(
    monkeypatch: pytest.MonkeyPatch,
    tvdb: FakeTvdb,
    art: FakeImageHost,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert run(["resolve", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--verify" in text and "--no-verify" in text
    assert "web search results are always checked" in text
    break_picture(art, WALTER_ART, "404")
    # One local server for TVDB's API and its artwork host (relative artwork paths).
    with serve(tvdb, art, prefixes=("/tvdb", "/art")) as base:
        monkeypatch.setenv("TVDB_API_URL", f"{base}/tvdb/v4")
        monkeypatch.setenv("TVDB_ARTWORK_URL", f"{base}/art")
        monkeypatch.setenv("TVDB_API_KEY", VALID_API_KEY)
        monkeypatch.setenv("COVERCTL_WEB_SEARCH", "0")
        monkeypatch.setenv("COVERCTL_RATE_IMAGE_FETCH", "1000")
        tvdb.series = {
            81189: {
                **tvdb.series[81189],
                "characters": [
                    {**c, "image": f"/{WALTER_ART}", "personImgURL": f"/{WALTER_PHOTO}"}
                    for c in tvdb.series[81189]["characters"][:1]
                ],
            }
        }
        args = ["resolve", "Walter White", "-t", "Breaking Bad", "-m", "tv", "--json"]
        assert run(args) == 0
        checked = json.loads(capsys.readouterr().out)
        assert run([*args, "--no-verify"]) == 0
        unchecked = json.loads(capsys.readouterr().out)
        rows = tv_rows(tmp_path / "in.csv", [("Walter White", "Bryan Cranston")])  # not cached
        assert run(["batch", str(rows), "--dry-run"]) == 0
        dry_run = " ".join(capsys.readouterr().out.split())
    assert checked["image_url"] == f"{base}/art/{WALTER_PHOTO}" and checked["quality_score"] == 65
    assert unchecked["image_url"] == f"{base}/art/{WALTER_ART}"
    assert "picture checks (TVDB, Hardcover and web pictures): ~1 downloads expected" in dry_run


def test_resume_command_keeps_the_picture_check_flag(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    assert "--verify" not in resume_command(source, BatchOptions())
    assert resume_command(source, BatchOptions(verify=PictureChecks.ALL)).endswith(
        "--verify --resume"
    )
    assert resume_command(source, BatchOptions(verify="none")).endswith("--no-verify --resume")
