"""The review page in headless Chromium: real thumbnails, keyboard shortcuts, a reject that
re-resolves, a pin that survives a restart and wins in `resolve`, and the page refusing requests
without its token or from another site. Providers and image hosts are fakes (one transport)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.curation.review.cards import cards_from_results
from coverctl.curation.review.server import ReviewServer
from coverctl.models import Query
from tests.conftest import FAST_RETRIES
from tests.curation_world import BALE, BREAKING_BAD, DARK_KNIGHT, TMDB_IMAGES, WALTER_PHOTO, World
from tests.fakes.base import FakeService, serve

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.browser

JOKER = Query("Joker", "The Dark Knight", 2008, "movie")
JESSE = Query("Jesse Pinkman", "Breaking Bad", None, "tv")
NOBODY = Query("Nobody", "The Dark Knight", 2008, "movie")
QUERIES = [DARK_KNIGHT, JOKER, BREAKING_BAD, JESSE, NOBODY]
LEDGER_2 = f"{TMDB_IMAGES}/ledger-2.jpg"


@pytest.fixture
def world(provider_settings: Settings) -> World:
    world = World(provider_settings)
    world.tmdb.extra_profiles[1810] = ["/ledger-2.jpg"]
    return world


@pytest.fixture
def results(world: World, tmp_path: Path) -> Path:
    """A batch's output: the real resolutions of five rows (one not found)."""
    lines = []
    for row, query in enumerate(QUERIES, start=1):
        resolution = world.resolve(query)
        resolution.row = row
        lines.append(json.dumps(resolution.to_json()))
    path = tmp_path / "out.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def start(world: World, results: Path) -> ReviewServer:
    return ReviewServer(
        world.settings,
        cards_from_results(results),
        origin_label=str(results),
        transport=world.router.transport(),
        policy=FAST_RETRIES,
        by="tester",
    )


@pytest.fixture
def page(world: World, results: Path, browser: WebDriver) -> Iterator[ReviewServer]:
    server = start(world, results)
    with server.serve_in_thread():
        browser.get_log("browser")  # this test's messages only
        browser.get(server.url)
        yield server
    browser.get_log("browser")  # and none left for the next test (the browser is shared)


def images_shown(browser: WebDriver, selector: str) -> list[list[Any]]:
    from tests.browser import images_shown as shown

    return shown(browser, selector)


def wait(browser: WebDriver, condition: Any, timeout: float = 20) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.05).until(condition)


def card(browser: WebDriver, card_id: str) -> WebElement:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.ID, f"card-{card_id}")


def thumbnails_loaded(browser: WebDriver) -> list[list[Any]]:
    shown = images_shown(browser, "article.card img.th:not([hidden])")
    return shown if shown and all(s[1] > 0 for s in shown) else []


def press(browser: WebDriver, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(browser)
    for key in keys:
        chain.send_keys(key)
    chain.perform()


def changed(browser: WebDriver, card_id: str, version: int) -> Any:
    return lambda _: int(card(browser, card_id).get_attribute("data-version") or 0) >= version


def test_cards_show_real_thumbnails_and_say_why_when_there_is_none(
    page: ReviewServer, browser: WebDriver, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    shown = wait(browser, lambda _: thumbnails_loaded(browser))
    assert len(shown) == 4  # four rows have a picture; "Nobody" was not found
    assert all(s[1] == 107 and s[2] == 160 for s in shown), shown  # the real previews
    assert all(s[3] > 60 for s in shown), shown  # photo-like pixels, not a flat placeholder
    nobody = card(browser, "c5")
    assert nobody.get_attribute("data-status") == "not_found"
    assert "not found" in nobody.find_element(By.CSS_SELECTOR, ".problems").text
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "article.card h2")]
    assert names == ["Bruce Wayne", "Joker", "Walter White", "Jesse Pinkman", "Nobody"]
    person = card(browser, "c1").find_element(By.CSS_SELECTOR, ".person").text
    assert person == "Christian Bale"
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []  # nothing blocked by the CSP, no failed load, no script error
    shot = tmp_path / "review.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_filters_narrow_the_cards(page: ReviewServer, browser: WebDriver) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    def visible() -> list[str]:
        cards = browser.find_elements(By.CSS_SELECTOR, "article.card")
        return [c.get_attribute("data-id") or "" for c in cards if c.is_displayed()]

    Select(browser.find_element(By.ID, "filter-source")).select_by_value("tvdb")
    assert visible() == ["c3", "c4"]
    Select(browser.find_element(By.ID, "filter-source")).select_by_value("")
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("not_found")
    assert visible() == ["c5"] and browser.find_element(By.ID, "shown").text == "1"
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("")
    Select(browser.find_element(By.ID, "filter-problem")).select_by_value("not_found")
    assert visible() == ["c5"]


def test_rejecting_re_resolves_the_row_and_shows_the_new_picture(
    page: ReviewServer, browser: WebDriver, world: World
) -> None:
    from selenium.webdriver.common.by import By

    wait(browser, lambda _: thumbnails_loaded(browser))
    walter = card(browser, "c3")
    before = walter.find_element(By.CSS_SELECTOR, "img.th").get_attribute("src")
    walter.find_element(By.CSS_SELECTOR, "button[data-act=reject]").click()
    wait(browser, changed(browser, "c3", 1))
    assert walter.get_attribute("data-url") == WALTER_PHOTO  # the next candidate: TVDB's photo
    assert walter.get_attribute("data-decision") == "rejected"
    assert walter.find_element(By.CSS_SELECTOR, ".source").text == "tvdb"
    assert walter.find_element(By.CSS_SELECTOR, ".score").text == "65"
    wait(
        browser,
        lambda _: walter.find_element(By.CSS_SELECTOR, "img.th").get_attribute("src") != before,
    )
    (shown,) = wait(
        browser, lambda _: [s for s in images_shown(browser, "#card-c3 img.th") if s[1] > 0]
    )
    assert shown[1] == 107 and shown[3] > 60  # a real picture again: the new one
    # The resolver agrees, with a fresh process's view of the store.
    assert world.resolve(BREAKING_BAD).candidate.image_url == WALTER_PHOTO


def test_keyboard_moves_accepts_rejects_and_pins_an_alternative(
    page: ReviewServer, browser: WebDriver, world: World
) -> None:
    from selenium.webdriver.common.by import By

    def current() -> str:
        return browser.find_element(By.CSS_SELECTOR, "article.card.cur").get_attribute("data-id")

    assert current() == "c1"
    press(browser, "j", "j")
    assert current() == "c3"
    press(browser, "k")
    assert current() == "c2"
    press(browser, "n")
    assert current() == "c3"
    press(browser, "k", "k")
    assert current() == "c1"

    press(browser, "a")  # accept: Bale's picture is pinned
    wait(browser, changed(browser, "c1", 1))
    assert card(browser, "c1").get_attribute("data-decision") == "pinned"
    assert card(browser, "c1").find_element(By.CSS_SELECTOR, ".source").text == "pinned"

    press(browser, "j", "o")  # Joker: open the alternatives
    wait(browser, lambda _: browser.find_element(By.ID, "panel").get_attribute("data-loaded"))
    figures = browser.find_elements(By.CSS_SELECTOR, "#panel figure.alt")
    assert [f.get_attribute("data-url") for f in figures][-1] == LEDGER_2
    wait(browser, lambda _: len(thumbnails_in_panel(browser)) == len(figures))
    press(browser, str(len(figures)))  # pin the last one by its number
    wait(browser, changed(browser, "c2", 1))
    joker = card(browser, "c2")
    assert joker.get_attribute("data-url") == LEDGER_2
    assert joker.get_attribute("data-decision") == "pinned"
    assert not browser.find_element(By.ID, "panel").is_displayed()

    press(browser, "j", "r")  # Walter White: reject from the keyboard
    wait(browser, changed(browser, "c3", 1))
    assert card(browser, "c3").get_attribute("data-url") == WALTER_PHOTO

    assert world.resolve(DARK_KNIGHT).candidate.image_url == BALE
    assert world.resolve(DARK_KNIGHT).candidate.source == "pinned"
    assert world.resolve(JOKER).candidate.image_url == LEDGER_2


def thumbnails_in_panel(browser: WebDriver) -> list[list[Any]]:
    return [s for s in images_shown(browser, "#panel img.th") if s[1] > 0]


def test_a_pin_survives_a_restart_and_wins_in_resolve(
    world: World, results: Path, browser: WebDriver, capsys: pytest.CaptureFixture[str]
) -> None:
    from selenium.webdriver.common.by import By

    first = start(world, results)
    with first.serve_in_thread():
        browser.get(first.url)
        card(browser, "c2").find_element(By.CSS_SELECTOR, "button[data-act=alternatives]").click()
        wait(browser, lambda _: browser.find_element(By.ID, "panel").get_attribute("data-loaded"))
        last = browser.find_elements(By.CSS_SELECTOR, "#panel figure.alt button")[-1]
        last.click()
        wait(browser, changed(browser, "c2", 1))

    second = start(world, results)  # a new server: a new port and token, the same store
    assert second.token != first.token
    with second.serve_in_thread():
        browser.get(second.url)
        joker = card(browser, "c2")
        assert joker.get_attribute("data-url") == LEDGER_2
        assert joker.get_attribute("data-decision") == "pinned"
        from selenium.common.exceptions import WebDriverException

        with pytest.raises(WebDriverException, match="CONNECTION_REFUSED"):
            browser.get(first.url)  # the old address is gone with its server

    browser.get_log("browser")  # the refused connection: not the next test's business
    code = run(["resolve", "Joker", "--title", "The Dark Knight", "--no-network", "--json"])
    resolved = json.loads(capsys.readouterr().out)
    assert code == 0 and resolved["source"] == "pinned" and resolved["quality_score"] == 100
    assert resolved["image_url"] == LEDGER_2


def test_the_page_refuses_requests_without_its_token_or_from_another_site(
    page: ReviewServer, browser: WebDriver, world: World
) -> None:
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(page.origin + "/")
    assert "Forbidden" in browser.find_element(By.TAG_NAME, "body").text

    # Another site's page posts a form to the review page, with the token it somehow learnt.
    attacker = FakeService()
    form = (
        "<!DOCTYPE html><html><body><form id=f method=POST "
        f'action="{page.origin}/api/cards/c1/reject">'
        f'<input name=token value="{page.token}"></form>'
        "<script>document.getElementById('f').submit()</script></body></html>"
    )
    attacker.route("GET", "/", lambda request, match: _html(form))
    browser.get(page.url)  # the curator has the page open (and its cookie)
    with serve(attacker) as evil:  # same site (127.0.0.1), another origin (port)
        browser.get(evil + "/")
        wait(browser, lambda _: browser.current_url.startswith(page.origin))
        assert "Forbidden" in browser.find_element(By.TAG_NAME, "body").text
    assert world.run(lambda c: _value(c.decisions(DARK_KNIGHT))) == []
    assert world.resolve(DARK_KNIGHT).candidate.image_url == BALE


def _html(text: str) -> Any:
    import httpx

    return httpx.Response(200, text=text, headers={"Content-Type": "text/html"})


async def _value(value: object) -> object:
    return value
