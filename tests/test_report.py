"""The HTML audit report: pure rendering tests, then the page in a real headless Chromium."""

from __future__ import annotations

import io
import os
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
from PIL import Image, ImageDraw, ImageStat

from coverctl.maintenance.audit import Finding
from coverctl.maintenance.report import ReportCard, render_report, write_report

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

pytest_plugins = ["tests.browser"]

HOSTILE_NAME = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
HOSTILE_TITLE = '"><svg onload="window.__pwned=3">'


def make_card(n: int = 0, thumbnail: bytes | None = None, **overrides: Any) -> ReportCard:
    """A card for the audit's finding on row `n` (`overrides` are the finding's fields)."""
    fields: dict[str, Any] = {
        "row_id": str(n),
        "character_name": f"Character {n}",
        "title": f"Title {n}",
        "source": "tmdb",
        "quality_score": 50,
        "image_url": f"https://image.tmdb.org/t/p/w500/{n}.jpg",
        "last_checked": "2025-01-20T03:00:00Z",
        "last_status": "200",
        "year": None,
        "media_type": None,
        "person_name": None,
        "updated_at": None,
        "problems": ("low_quality",),
        "details": ("Quality score 50 is below the bar of 70.",),
    }
    fields.update(overrides)
    return ReportCard(Finding(**fields), thumbnail)


def thumbnail_jpeg(shade: int, size: tuple[int, int] = (120, 160)) -> bytes:
    """A small, colourful JPEG, different for each shade."""
    ramp = Image.linear_gradient("L").resize(size)
    flat = Image.new("L", size, shade)
    image = Image.merge("RGB", (ramp, flat, ramp.point(lambda v: 255 - v)))
    ImageDraw.Draw(image).ellipse((25, 35, 95, 125), fill=(255, shade, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


class PageParser(HTMLParser):
    """Collects every start tag with its attributes, and the text inside elements by id."""

    VOID = frozenset({"meta", "img", "br", "hr", "input", "link", "source"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag not in self.VOID:
            self._open.append(attributes.get("id"))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element_id in filter(None, self._open):
            self.text_by_id[element_id] = self.text_by_id.get(element_id, "") + data + " "


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    return parser


def words(text: str) -> str:
    return " ".join(text.split())


# -- pure rendering ------------------------------------------------------------------------------


def test_hostile_values_are_rendered_as_inert_text() -> None:
    card = make_card(
        1,
        character_name=HOSTILE_NAME,
        title=HOSTILE_TITLE,
        source='tmdb" onmouseover="x',
        problems=("dead_link", "<b>bold</b>"),
        details=("<iframe src=//evil.example>",),
        last_status="<i>",
    )
    page = render_report([card], title="<script>t()</script>")
    tags = parse(page).tags

    assert [tag for tag, _ in tags].count("script") == 1  # only the page's own filter script
    assert not [t for t in tags if t[0] in {"img", "svg", "iframe", "i"}]
    assert "<b>bold" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert not [name for _, attrs in tags for name in attrs if name.startswith("on")]
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    article = next(attrs for tag, attrs in tags if tag == "article")
    assert article["data-source"] == 'tmdb" onmouseover="x'  # round-trips as one value


def test_only_http_image_urls_become_links() -> None:
    page = render_report(
        [
            make_card(1, image_url="javascript:alert(1)"),
            make_card(2, image_url="https://example.org/a.jpg"),
        ]
    )
    hrefs = [attrs.get("href") for tag, attrs in parse(page).tags if tag == "a"]
    assert hrefs == ["https://example.org/a.jpg"]
    assert "javascript:alert(1)" in page  # still shown, as text


def test_header_counts_cards_problems_and_sources() -> None:
    cards = [
        make_card(1, source="tmdb", problems=("dead_link", "low_quality")),
        make_card(2, source="tmdb", problems=("dead_link",)),
        make_card(3, source="tvdb", problems=("duplicate_image",)),
    ]
    parsed = parse(render_report(cards, summary={"rows checked": 5210}))

    assert words(parsed.text_by_id["problem-counts"]) == (
        "Problems dead link 2 low quality 1 duplicate image 1"
    )
    assert words(parsed.text_by_id["source-counts"]) == "Sources tmdb 2 tvdb 1"
    stats = [attrs for tag, attrs in parsed.tags if attrs.get("class") == "stat"]
    assert len(stats) == 2
    page = render_report(cards, summary={"rows checked": 5210})
    assert "<b>3</b><span>cards</span>" in page
    assert "<b>5210</b><span>rows checked</span>" in page


def test_filters_offer_all_plus_each_value_present() -> None:
    cards = [
        make_card(1, source="tvdb", problems=("dead_link",)),
        make_card(2, source="tmdb", problems=("never_checked", "dead_link")),
    ]
    tags = parse(render_report(cards)).tags
    options = [attrs["value"] for tag, attrs in tags if tag == "option"]
    assert options == ["", "tmdb", "tvdb", "", "dead_link", "never_checked"]
    articles = [attrs for tag, attrs in tags if tag == "article"]
    assert [a["data-problems"] for a in articles] == ["dead_link", "never_checked dead_link"]


def test_no_cards_says_no_problems_found() -> None:
    page = render_report([])
    assert "No problems found" in page
    assert "<article" not in page
    assert "<b>0</b><span>cards</span>" in page


def test_thumbnail_bytes_are_embedded_and_nothing_remote_is_loaded() -> None:
    cards = [
        make_card(1, thumbnail=thumbnail_jpeg(10)),
        make_card(2, thumbnail=None),
        make_card(3, thumbnail=b"not an image"),
    ]
    page = render_report(cards)
    tags = parse(page).tags

    sources = [attrs["src"] for tag, attrs in tags if tag == "img"]
    assert len(sources) == 1
    assert sources[0] is not None and sources[0].startswith("data:image/jpeg;base64,/9j/")
    assert page.count('class="th ph"') == 2  # placeholders for no bytes and for junk bytes

    # Attributes that make the browser fetch something; <a href> only navigates when clicked.
    loading = {"src", "srcset", "poster", "data", "background", "action", "formaction"}
    for tag, attrs in tags:
        for name, value in attrs.items():
            if name in loading or (name == "href" and tag != "a"):
                assert value is not None and value.startswith("data:"), (tag, name, value)
    assert "url(" not in page and "@import" not in page
    csp = next(a["content"] for t, a in tags if a.get("http-equiv") == "Content-Security-Policy")
    assert csp is not None and "default-src 'none'" in csp and "img-src data:" in csp


def test_ten_thousand_cards_render_quickly() -> None:
    cards = [
        make_card(
            n,
            source=("tmdb", "tvdb", "hardcover")[n % 3],
            problems=("low_quality", "dead_link")[: 1 + n % 2],
            details=("Quality score 50 is below 70.", "HTTP 404 on 2025-01-20.")[: 1 + n % 2],
        )
        for n in range(10_000)
    ]
    started = time.perf_counter()
    page = render_report(cards)
    elapsed = time.perf_counter() - started

    assert page.count("<article ") == 10_000
    assert elapsed < 1.0, f"rendering 10k cards took {elapsed:.2f} s"
    assert len(page) / 10_000 < 1200, "per-card markup grew too large"


def test_write_report_replaces_the_file_atomically(tmp_path: Path) -> None:
    tmp_path = tmp_path / "reports"
    tmp_path.mkdir()
    target = tmp_path / "report.html"
    write_report(target, [make_card(1)], generated_at=datetime(2025, 1, 21, tzinfo=UTC))
    first = target.read_text(encoding="utf-8")
    assert "2025-01-21T00:00:00+00:00" in first

    with (
        mock.patch("coverctl.maintenance.report.os.replace", side_effect=OSError("disk full")),
        pytest.raises(OSError, match="disk full"),
    ):
        write_report(target, [])

    assert target.read_text(encoding="utf-8") == first
    assert os.listdir(tmp_path) == ["report.html"]  # no temp file left behind


# -- in a real browser ---------------------------------------------------------------------------

SOURCES = ("tmdb", "tvdb", "hardcover")
KINDS = ("low_quality", "dead_link", "wrong_source", "duplicate_image", "never_checked")


def browser_cards() -> list[ReportCard]:
    """12 cards: 3 sources, several problem kinds, 9 real JPEG thumbnails, 3 placeholders."""
    cards = []
    for n in range(12):
        extra: tuple[str, ...] = () if n % 3 else ("dead_link",)
        problems = tuple(dict.fromkeys((KINDS[n % 5], *extra)))
        cards.append(
            make_card(
                n,
                character_name=HOSTILE_NAME if n == 7 else f"Character {n}",
                title=HOSTILE_TITLE if n == 7 else f"Title {n}",
                source=SOURCES[n % 3],
                quality_score=None if n == 5 else 30 + 5 * n,
                problems=problems,
                details=tuple(f"Detail about {k} for card {n}." for k in problems),
                thumbnail=thumbnail_jpeg(20 * n) if n % 4 else None,
            )
        )
    return cards


@pytest.fixture(scope="module")
def report_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(path, browser_cards(), summary={"rows checked": 240})
    return path.as_uri()


def visible_cards(driver: WebDriver) -> int:
    count = driver.execute_script(
        "return [...document.querySelectorAll('article.card')]"
        ".filter(e => e.checkVisibility()).length"
    )
    assert isinstance(count, int)
    return count


def choose(driver: WebDriver, select_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, select_id)).select_by_value(value)


@pytest.mark.browser
def test_browser_shows_every_card_and_runs_no_injected_script(
    browser: WebDriver, report_url: str
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(report_url)
    cards = browser.find_elements(By.CSS_SELECTOR, "article.card")
    assert len(cards) == 12 and all(card.is_displayed() for card in cards)
    assert visible_cards(browser) == 12
    assert browser.find_element(By.ID, "shown").text == "12"
    assert browser.execute_script("return window.__pwned === undefined")
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "article.card h2")]
    assert HOSTILE_NAME in names  # shown literally, as text
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []  # no CSP violation, no failed load, no script error


@pytest.mark.browser
def test_browser_filters_by_source_then_problem(browser: WebDriver, report_url: str) -> None:
    from selenium.webdriver.common.by import By

    cards = [card.finding for card in browser_cards()]
    browser.get(report_url)

    choose(browser, "filter-source", "tvdb")
    expected = sum(c.source == "tvdb" for c in cards)
    assert visible_cards(browser) == expected == 4
    assert browser.find_element(By.ID, "shown").text == str(expected)

    choose(browser, "filter-source", "")
    choose(browser, "filter-problem", "dead_link")
    expected = sum("dead_link" in c.problems for c in cards)
    assert visible_cards(browser) == expected > 0

    choose(browser, "filter-source", "tmdb")
    expected = sum("dead_link" in c.problems and c.source == "tmdb" for c in cards)
    assert visible_cards(browser) == expected > 0

    choose(browser, "filter-problem", "")
    choose(browser, "filter-source", "")
    assert visible_cards(browser) == 12


@pytest.mark.browser
def test_browser_screenshot_shows_a_rendered_page(
    browser: WebDriver, report_url: str, tmp_path: Path
) -> None:
    browser.get(report_url)
    decoded = browser.execute_script(
        "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)"
    )
    assert len(decoded) == sum(c.thumbnail is not None for c in browser_cards()) == 9
    assert all(width == 120 for width in decoded), decoded

    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    with Image.open(shot) as image:
        assert image.size[0] >= 1000
        small = image.convert("RGB").resize((160, 112))
        colours = small.getcolors(maxcolors=small.width * small.height) or []
        stddev = ImageStat.Stat(small.convert("L")).stddev[0]
    # A blank or unstyled page is one or two flat colours; the report has a dark header,
    # coloured badges and photo thumbnails.
    assert len(colours) > 200, len(colours)
    assert stddev > 20, stddev
    assert max(colours)[0] < 0.7 * small.width * small.height
