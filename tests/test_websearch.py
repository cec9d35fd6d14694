"""Web image search against DuckDuckGo and image host fakes: the vqd flow, the permanent cache,
the identity guard, picture checks and rate limiting."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from coverctl.config import Settings
from coverctl.images import Use, combined_score, inspect_image
from coverctl.models import Query
from coverctl.sources.websearch import extract_vqd, mentions, search_text
from coverctl.store.cache import Cache
from coverctl.store.db import SqliteStore
from tests.fakes.duckduckgo import RATE_LIMITED_PAGE, VQD, FakeDuckDuckGo, image_result
from tests.fakes.images import (
    FakeImageHost,
    cut_jpeg,
    html_page,
    one_pixel,
    sharp_photo,
    soft_photo,
)
from tests.resolving import FAST_RATES, SourceHarness

BRUCE = Query("Bruce Wayne", "The Dark Knight", 2008, "movie")
WIKI = "https://batman.fandom.com/wiki/Bruce_Wayne_(The_Dark_Knight)"


@pytest.fixture
def ddg() -> FakeDuckDuckGo:
    return FakeDuckDuckGo()


@pytest.fixture
def images() -> FakeImageHost:
    return FakeImageHost("images.example.org")


@pytest.fixture
def make_harness(
    make_settings: Callable[..., Settings], ddg: FakeDuckDuckGo, images: FakeImageHost
) -> Callable[..., SourceHarness]:
    def build(**env: str) -> SourceHarness:
        settings = make_settings(**{**FAST_RATES, **env})
        return SourceHarness(settings, {"duckduckgo.com": ddg, images.host: images})

    return build


@pytest.fixture
def web(make_harness: Callable[..., SourceHarness]) -> SourceHarness:
    return make_harness()


def sharp_info():  # type: ignore[no-untyped-def]
    return inspect_image(sharp_photo(), Use.PROFILE)


@pytest.mark.parametrize("style", ["double", "single", "ampersand"])
def test_vqd_token_and_referer_lead_to_a_checked_web_picture(
    make_settings: Callable[..., Settings], images: FakeImageHost, style: str
) -> None:
    ddg = FakeDuckDuckGo(vqd_style=style)
    url = images.add("bruce.jpg", sharp_photo())
    ddg.results = [image_result("Bruce Wayne | Batman Wiki | Fandom", url, WIKI)]
    harness = SourceHarness(
        make_settings(**FAST_RATES), {"duckduckgo.com": ddg, images.host: images}
    )
    result = harness.resolve(BRUCE)
    assert result.status == "resolved"
    assert result.candidate is not None
    assert result.candidate.source == "web_search"
    assert result.candidate.image_url == url
    assert result.candidate.matched.external_id == WIKI
    page, search = ddg.requests
    assert page.url.path == "/" and page.url.params["q"] == search_text(BRUCE)
    assert search.url.path == "/i.js"
    assert search.url.params["vqd"] == VQD
    assert search.headers["referer"] == "https://duckduckgo.com/"


def test_query_text_quotes_the_character_and_names_title_and_year() -> None:
    assert search_text(BRUCE) == '"Bruce Wayne" The Dark Knight 2008 character'
    assert search_text(Query('Dwayne "The Rock"', "Moana")) == '"Dwayne The Rock" Moana character'


def test_web_picture_scores_30_adjusted_by_its_quality_and_is_stored_with_its_hash(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    ddg.results = [image_result("Bruce Wayne", images.add("b.jpg", sharp_photo()), WIKI)]
    result = web.resolve(BRUCE)
    info = sharp_info()
    assert result.candidate is not None
    assert result.candidate.quality_score == combined_score(30, info) != 30
    store = SqliteStore(web.settings.db_path)
    try:
        (row,) = store.find("bruce wayne", "the dark knight")
    finally:
        store.close()
    assert row["source"] == "web_search"
    assert (row["image_hash"], row["image_width"], row["image_height"]) == (info.phash, 600, 900)


def test_broken_pictures_are_rejected_and_the_best_valid_one_wins_not_the_first(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    ddg.results = [
        image_result("Bruce Wayne portrait", images.add("page.jpg", html_page()), WIKI),
        image_result("Bruce Wayne icon", images.add("dot.jpg", one_pixel()), WIKI),
        image_result("Bruce Wayne still", images.add("cut.jpg", cut_jpeg()), WIKI),
        image_result("Bruce Wayne thumbnail", images.add("soft.jpg", soft_photo()), WIKI),
        image_result("Bruce Wayne photo", images.add("sharp.jpg", sharp_photo()), WIKI),
    ]
    result = web.resolve(BRUCE)
    assert result.candidate is not None
    assert result.candidate.image_url == images.url("sharp.jpg")
    assert sorted(images.downloads()) == sorted(
        ["/page.jpg", "/dot.jpg", "/cut.jpg", "/soft.jpg", "/sharp.jpg"]
    )


def test_only_broken_pictures_is_not_found_with_the_rejection(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    ddg.results = [image_result("Bruce Wayne", images.add("page.jpg", html_page()), WIKI)]
    result = web.resolve(BRUCE)
    assert result.status == "not_found"
    assert "HTML page" in (result.error or "")
    assert result.unavailable_sources == []


def test_result_whose_title_does_not_name_the_character_is_never_downloaded(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    ddg.results = [
        image_result("Christian Bale at the premiere", images.add("bale.jpg", sharp_photo()), WIKI),
        image_result("Wayne Manor, Bruce's home", images.add("manor.jpg", sharp_photo()), WIKI),
        image_result("Bruce Wayne | Batman Wiki", images.add("bruce.jpg", soft_photo()), WIKI),
    ]
    result = web.resolve(BRUCE)
    assert result.candidate is not None
    assert result.candidate.image_url == images.url("bruce.jpg")
    assert images.downloads() == ["/bruce.jpg"]


def test_no_result_naming_the_character_is_not_found_without_downloads(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    ddg.results = [image_result("Christian Bale", images.add("bale.jpg", sharp_photo()), WIKI)]
    result = web.resolve(BRUCE)
    assert result.status == "not_found"
    assert "is titled with 'Bruce Wayne'" in (result.error or "")
    assert images.requests == []


def test_age_variant_of_the_character_is_not_taken(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    ddg.results = [
        image_result("Young Bruce Wayne (Gus Lewis)", images.add("gus.jpg", sharp_photo()), WIKI),
        image_result("Bruce Wayne (child) in the cave", images.add("kid.jpg", sharp_photo()), WIKI),
        image_result("Bruce Wayne | Batman Wiki", images.add("bruce.jpg", soft_photo()), WIKI),
    ]
    result = web.resolve(BRUCE)
    assert result.candidate is not None
    assert result.candidate.image_url == images.url("bruce.jpg")
    assert images.downloads() == ["/bruce.jpg"]


def test_one_word_name_also_needs_the_work_in_the_title_or_page(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    ddg.results = [
        image_result(
            "Woody Allen in 1995", images.add("allen.jpg", sharp_photo()), "https://news.example"
        ),
        image_result(
            "Woody - Sheriff",
            images.add("woody.jpg", soft_photo()),
            "https://toystory.fandom.com/wiki/Woody",
        ),
    ]
    result = web.resolve(Query("Woody", "Toy Story", 1995, "movie"))
    assert result.candidate is not None
    assert result.candidate.image_url == images.url("woody.jpg")
    assert images.downloads() == ["/woody.jpg"]


def test_actor_filter_requires_the_actor_in_the_result_title(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    ddg.results = [
        image_result("Bruce Wayne (Ben Affleck)", images.add("ben.jpg", sharp_photo()), WIKI),
        image_result("Bruce Wayne, Christian Bale", images.add("bale.jpg", soft_photo()), WIKI),
    ]
    result = web.resolve(Query("Bruce Wayne", "The Dark Knight", 2008, "movie", "Christian Bale"))
    assert result.candidate is not None
    assert result.candidate.image_url == images.url("bale.jpg")


def test_local_and_private_addresses_are_never_fetched(
    web: SourceHarness, ddg: FakeDuckDuckGo
) -> None:
    ddg.results = [
        image_result("Bruce Wayne", "http://127.0.0.1:8080/admin.jpg", WIKI),
        image_result("Bruce Wayne", "http://localhost/bruce.jpg", WIKI),
        image_result("Bruce Wayne", "http://[fd00::1]/bruce.jpg", WIKI),
        image_result("Bruce Wayne", "http://169.254.169.254/latest/meta-data", WIKI),
    ]
    # The router fails the test loudly on any request to those hosts.
    result = web.resolve(BRUCE)
    assert result.status == "not_found"
    assert "private or local network address" in (result.error or "")


def test_results_are_cached_forever_and_searched_once(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    ddg.results = [image_result("Bruce Wayne", images.add("b.jpg", sharp_photo()), WIKI)]
    first = web.resolve(BRUCE)
    sent = (len(ddg.requests), len(images.requests))
    assert sent == (2, 1)
    # A new Cache object on the same directory, without the resolution answers: the search and
    # the picture's verdict are still there, so nothing is sent at all.
    cache = Cache(web.settings.cache_dir)
    cache.clear(tiers=["resolution", "negative"])
    (search_key,) = list(cache.tier("search"))
    _, expires = cache.tier("search").get(search_key, expire_time=True)
    cache.close()
    assert expires is None
    second = web.resolve(BRUCE)
    assert not second.cache_hit
    assert second.candidate == first.candidate
    assert (len(ddg.requests), len(images.requests)) == sent
    # Past the 24 h verdict cache the picture is checked again, but DuckDuckGo is never asked.
    cache = Cache(web.settings.cache_dir)
    cache.clear(tiers=["resolution", "negative", "response"])
    cache.close()
    web.resolve(BRUCE)
    assert (len(ddg.requests), len(images.requests)) == (2, 2)


def test_empty_answer_is_not_kept_forever(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    assert web.resolve(BRUCE).status == "not_found"
    cache = Cache(web.settings.cache_dir)
    assert len(cache.tier("search")) == 0
    cache.clear(tiers=["negative"])  # as after the 24 h negative cache
    cache.close()
    ddg.results = [image_result("Bruce Wayne", images.add("b.jpg", sharp_photo()), WIKI)]
    assert web.resolve(BRUCE).status == "resolved"
    assert len(ddg.requests) == 4


@pytest.mark.parametrize(("path", "status"), [("/", 202), ("/", 403), ("/", 429), ("/i.js", 403)])
def test_rate_limit_answer_makes_it_unavailable_at_once_and_pauses_the_gate(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost, path: str, status: int
) -> None:
    ddg.results = [image_result("Bruce Wayne", images.add("b.jpg", sharp_photo()), WIKI)]
    ddg.fail_next(f"^{path}$", status, raw=RATE_LIMITED_PAGE, headers={"Content-Type": "text/html"})
    started = time.monotonic()
    first, second = web.resolve_many([BRUCE, Query("Joker", "The Dark Knight", 2008, "movie")])
    assert time.monotonic() - started < 2.0
    for result in (first, second):
        assert result.status == "not_found"
        assert result.unavailable_sources == ["web_search"]
        assert "rate limited" in (result.error or "")
    # One request met the rate limit; the second query sent nothing while the gate is paused.
    assert len(ddg.requests) == (1 if path == "/" else 2)
    assert images.requests == []
    assert web.last_resolver is not None
    gate = web.last_resolver.http.gate("duckduckgo")
    assert gate.paused_until - time.monotonic() > 50


def test_rate_limited_answer_is_not_remembered_as_not_found(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    ddg.results = [image_result("Bruce Wayne", images.add("b.jpg", sharp_photo()), WIKI)]
    ddg.fail_next("^/$", 403, raw=RATE_LIMITED_PAGE)
    assert web.resolve(BRUCE).status == "not_found"
    retried = web.resolve(BRUCE)  # a new process: no pause carried over
    assert retried.status == "resolved" and not retried.cache_hit


def test_picture_host_outage_is_unavailable_not_a_miss(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    ddg.results = [image_result("Bruce Wayne", images.add("b.jpg", sharp_photo()), WIKI)]
    images.fail_next("/b.jpg", 503, times=3)
    result = web.resolve(BRUCE)
    assert result.status == "not_found"
    assert result.unavailable_sources == ["web_search"]
    assert web.resolve(BRUCE).status == "resolved"


def test_turned_off_by_setting_sends_nothing_and_says_nothing(
    make_harness: Callable[..., SourceHarness], ddg: FakeDuckDuckGo
) -> None:
    harness = make_harness(COVERCTL_WEB_SEARCH="0")
    result = harness.resolve(BRUCE)
    assert result.status == "not_found"
    assert ddg.requests == []
    assert ("web_search", "skipped") in [(a.source, a.outcome) for a in result.attempts]
    assert harness.last_resolver is not None
    assert not any("duckduckgo" in n for n in harness.last_resolver.notices)


def test_page_without_vqd_token_makes_the_source_unavailable(
    web: SourceHarness, ddg: FakeDuckDuckGo
) -> None:
    ddg.fail_next("^/$", 200, raw=b"<html><body>new page layout</body></html>")
    result = web.resolve(BRUCE)
    assert result.unavailable_sources == ["web_search"]
    assert "vqd" in (result.error or "")


@pytest.mark.parametrize(
    ("page", "token"),
    [
        ('x vqd="4-123_abc" y', "4-123_abc"),
        ("x vqd='4-123' y", "4-123"),
        ("/d.js?q=a&vqd=4-999&p=1", "4-999"),
        ('vqd="<script>" vqd="4-5"', "4-5"),
        ("no token here", None),
    ],
)
def test_extract_vqd(page: str, token: str | None) -> None:
    assert extract_vqd(page) == token


@pytest.mark.parametrize(
    ("name", "title", "expected"),
    [
        ("Bruce Wayne", "Bruce Wayne | Batman Wiki", True),
        ("Bruce Wayne", "Young bruce wayne (2005)", True),
        ("Spider-Man", "Spiderman: Homecoming still", True),
        ("Spiderman", "The Amazing Spider-Man", True),
        ("The Joker", "Joker | Villains Wiki", True),
        ("Amélie Poulain", "Amelie Poulain - Wikipedia", True),
        ("Bruce Wayne", "Wayne Manor, Bruce's home", False),
        ("Ann", "Joanna Smith", False),
        ("Harry Potter", "Harry Styles with Potter fans", False),
    ],
)
def test_title_mention_guard(name: str, title: str, expected: bool) -> None:
    assert mentions(name, title) is expected


@pytest.mark.parametrize(
    ("name", "title", "expected"),
    [
        ("Bruce Wayne", "Young Bruce Wayne (2005)", False),
        ("Bruce Wayne", "Bruce Wayne (kid)", False),
        ("Young Bruce Wayne", "Young Bruce Wayne (2005)", True),
        ("Bruce Wayne", "Bruce Wayne and young Dick Grayson", True),
    ],
)
def test_plain_mention_excludes_age_variants(name: str, title: str, expected: bool) -> None:
    assert mentions(name, title, plain=True) is expected


def test_host_names_resolving_to_private_addresses_are_never_fetched(
    web: SourceHarness, ddg: FakeDuckDuckGo
) -> None:
    ddg.results = [
        image_result("Bruce Wayne", "https://internal.example/bruce.jpg", WIKI),
        image_result("Bruce Wayne", "https://mixed.example/bruce.jpg", WIKI),
    ]
    # Neither host is routed: a request to either would fail the test loudly.
    result = web.resolve(BRUCE)
    assert result.status == "not_found"
    assert "resolves to a private or local network address" in (result.error or "")


def test_redirect_to_a_private_address_is_refused_before_it_is_followed(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    url = images.add("bruce.jpg", sharp_photo())
    images.fail_next(r"bruce\.jpg", 302, headers={"Location": "http://169.254.169.254/latest/"})
    ddg.results = [image_result("Bruce Wayne", url, WIKI)]
    result = web.resolve(BRUCE)
    assert result.status == "not_found"
    assert "private or local network address" in (result.error or "")
    assert images.downloads() == ["/bruce.jpg"]


def test_redirect_to_a_public_picture_is_followed_hop_by_hop(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    url = images.add("old.jpg", sharp_photo())
    images.add("new.jpg", sharp_photo())
    images.fail_next(r"old\.jpg", 301, headers={"Location": "/new.jpg"})
    ddg.results = [image_result("Bruce Wayne", url, WIKI)]
    result = web.resolve(BRUCE)
    assert result.status == "resolved"
    assert images.downloads() == ["/old.jpg", "/new.jpg"]


def test_endless_redirects_are_given_up(
    web: SourceHarness, ddg: FakeDuckDuckGo, images: FakeImageHost
) -> None:
    url = images.add("loop.jpg", sharp_photo())
    images.fail_next(r"loop\.jpg", 302, headers={"Location": "/loop.jpg"}, times=10)
    ddg.results = [image_result("Bruce Wayne", url, WIKI)]
    result = web.resolve(BRUCE)
    assert result.status == "not_found"
    assert "redirects more than 3 times" in (result.error or "")
    assert len(images.downloads()) == 4


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::a9fe:a9fe]/x.jpg",  # NAT64 form of 169.254.169.254
        "http://[2002:a9fe:a9fe::]/x.jpg",  # 6to4 form of it
        "http://[fec0::1]/x.jpg",
        "http://[::127.0.0.1]/x.jpg",
    ],
)
def test_ipv6_spellings_of_private_addresses_are_refused(url: str) -> None:
    from coverctl.net.pictures import url_problem

    assert url_problem(url, untrusted=True) == (
        "The image URL points to a private or local network address."
    )


@pytest.mark.parametrize(
    ("query", "title", "page", "expected"),
    [
        (
            Query("Michael Scott", "The Office"),
            "Michael Scott (footballer) - Wikipedia",
            "https://en.wikipedia.org/wiki/Michael_Scott_(footballer)",
            False,
        ),
        (
            Query("Michael Scott", "The Office"),
            "Michael Scott | The Office Wiki",
            "https://theoffice.fandom.com/wiki/Michael_Scott",
            True,
        ),
        (Query("Joker", "Joker"), "Heath Ledger as the Joker", "https://example.org/joker", False),
        (
            Query("Joker", "Joker", 2019),
            "Joker (2019) Arthur Fleck still",
            "https://example.org/joker-2019",
            True,
        ),
    ],
)
def test_identity_guard_always_needs_the_work(
    query: Query, title: str, page: str, expected: bool
) -> None:
    from coverctl.sources.websearch import passes_identity_guard

    assert (
        passes_identity_guard(query, image_result(title, "https://img.example/a.jpg", page))
        is expected
    )
