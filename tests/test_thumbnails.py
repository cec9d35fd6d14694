"""Thumbnails: made with Pillow from real picture bytes, fetched once through the guarded
download and cached by URL; a picture without one says why. Then `audit --html` embedding them
(real HTTP on 127.0.0.1), checked in headless Chromium."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image, ImageChops, ImageStat

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.constants import THUMBNAIL_PX
from coverctl.curation.thumbnails import Thumbnail, thumbnail, thumbnails
from coverctl.images import Use, make_thumbnail
from coverctl.resolver import close_resolver, open_resolver
from coverctl.store.db import SqliteStore
from tests.conftest import FAST_RETRIES
from tests.curation_world import PictureHost, picture_for
from tests.fakes.base import serve
from tests.fakes.routing import HostRouter
from tests.imagegen import html_bytes, jpeg_bytes, png_bytes
from tests.seed import seed_row

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

pytest_plugins = ["tests.browser"]

HOST = "pictures.example"


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# -- making one --------------------------------------------------------------------------------


def test_a_thumbnail_is_a_small_webp_of_the_same_picture() -> None:
    original = jpeg_bytes(800, 1200, "scene", seed=7)
    data, mime = make_thumbnail(original, THUMBNAIL_PX)
    assert mime == "image/webp" and data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert len(data) < len(original) / 10
    small = decoded(data)
    assert small.size == (107, 160)  # the aspect ratio is kept
    # The same picture, smaller: compare with a plain Pillow downscale of the original.
    reference = decoded(original).resize(small.size).convert("L")
    diff = ImageStat.Stat(ImageChops.difference(small.convert("L"), reference)).mean[0]
    assert diff < 12, diff


def test_transparency_is_shown_on_white_and_small_pictures_are_not_enlarged() -> None:
    clear = Image.new("RGBA", (100, 60), (0, 0, 0, 0))
    buffer = io.BytesIO()
    clear.save(buffer, "PNG")
    data, _ = make_thumbnail(buffer.getvalue(), THUMBNAIL_PX)
    small = decoded(data).convert("RGB")
    assert small.size == (100, 60)
    assert min(ImageStat.Stat(small).mean) > 245  # white, not black


# -- fetching and caching ----------------------------------------------------------------------


@pytest.fixture
def host() -> PictureHost:
    pictures = PictureHost(HOST)
    pictures.add("page.jpg", html_bytes(), "image/jpeg")
    pictures.add("tiny.jpg", jpeg_bytes(40, 40), "image/jpeg")
    pictures.add("dot.png", png_bytes(8, 8), "image/png")
    pictures.gone.add("gone.jpg")
    return pictures


def previews(
    settings: Settings, host: PictureHost, urls: list[str], **options: Any
) -> dict[str, Thumbnail]:
    async def main() -> dict[str, Thumbnail]:
        router = HostRouter({HOST: host})
        resolver = open_resolver(settings, transport=router.transport(), policy=FAST_RETRIES)
        try:
            return await thumbnails(resolver.context, urls, **options)
        finally:
            await close_resolver(resolver)

    return asyncio.run(main())


def url(path: str) -> str:
    return f"https://{HOST}/{path}"


def test_each_picture_is_fetched_once_and_kept_in_the_thumbnail_tier(
    make_settings: Any, host: PictureHost
) -> None:
    settings = make_settings()
    first = previews(settings, host, [url("a.jpg"), url("a.jpg"), url("b.jpg")])
    assert host.downloads() == ["/a.jpg", "/b.jpg"]
    a = first[url("a.jpg")]
    assert a.problem is None and a.mime == "image/webp" and a.size == "300×450"
    assert a.image_hash is not None and len(a.image_hash) == 16
    assert decoded(a.data or b"").size == (107, 160)
    again = previews(settings, host, [url("a.jpg")])  # a new process: from the cache
    assert host.downloads() == ["/a.jpg", "/b.jpg"]
    assert again[url("a.jpg")].data == a.data


def test_a_picture_without_a_thumbnail_says_why(
    make_settings: Any, host: PictureHost, tmp_path: Path
) -> None:
    settings = make_settings()
    host.fail_next(r"^/flaky\.jpg$", 503, times=5)
    found = previews(
        settings,
        host,
        [url(p) for p in ("gone.jpg", "page.jpg", "tiny.jpg", "dot.png", "flaky.jpg")]
        + ["http://127.0.0.1:9/x.jpg", str(tmp_path / "missing.jpg")],
    )
    problems = {u.rsplit("/", 1)[-1]: t.problem for u, t in found.items()}
    assert problems == {
        "gone.jpg": "dead",
        "page.jpg": "not an image",
        "tiny.jpg": None,  # a preview, but too small for a profile picture:
        "dot.png": "too small",
        "flaky.jpg": "unreachable",
        "x.jpg": "refused",
        "missing.jpg": "missing file",
    }
    tiny = found[url("tiny.jpg")]
    assert tiny.data is not None and tiny.problem_for(Use.PROFILE) is not None
    assert tiny.problem_for(Use.PROFILE)[0] == "too small"  # type: ignore[index]
    assert tiny.problem_for(Use.ANY) is None
    assert "HTTP 404" in (found[url("gone.jpg")].detail or "")
    assert "/x.jpg" not in host.downloads()  # refused before any request
    # An outage is not a verdict: asked again next time. A dead link is remembered for a day.
    previews(settings, host, [url("flaky.jpg"), url("gone.jpg")])
    assert host.downloads().count("/flaky.jpg") == 6  # 3 failures, 2 more, then a success
    assert host.downloads().count("/gone.jpg") == 1


def test_local_files_and_backend_addresses_are_read_from_disk(
    make_settings: Any, host: PictureHost, static_dir: Path
) -> None:
    settings = make_settings(BACKEND_URL="https://backend.example")
    picture = static_dir / "characters" / "joker.jpg"
    picture.write_bytes(picture_for("joker"))
    found = previews(
        settings,
        host,
        [str(picture), "https://backend.example/api/image-no-auth/characters/joker.jpg"],
    )
    assert all(t.problem is None and t.size == "300×450" for t in found.values())
    assert host.downloads() == []


def test_untrusted_is_the_default_for_a_single_thumbnail(make_settings: Any) -> None:
    async def main() -> Thumbnail:
        resolver = open_resolver(make_settings(), policy=FAST_RETRIES)
        try:
            return await thumbnail(resolver.context, "http://10.0.0.7/secret.jpg")
        finally:
            await close_resolver(resolver)

    assert asyncio.run(main()).problem == "refused"


# -- audit --html ------------------------------------------------------------------------------


@pytest.fixture
def served_pictures() -> Iterator[tuple[PictureHost, str]]:
    pictures = PictureHost("127.0.0.1")
    pictures.gone.add("gone.jpg")
    pictures.add("page.jpg", html_bytes(), "image/jpeg")
    with serve(pictures) as base:
        yield pictures, base


@pytest.fixture
def audit_report(
    make_settings: Any,
    served_pictures: tuple[PictureHost, str],
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> tuple[Path, dict[str, Any]]:
    base = served_pictures[1]
    store = SqliteStore(make_settings().db_path)
    try:
        for n in range(4):
            seed_row(store, f"Extra {n}", "Crowd", f"{base}/p/{n}.jpg", "web_search", 30)
        seed_row(store, "Ghost", "Crowd", f"{base}/gone.jpg", "web_search", 30)
        seed_row(store, "Page", "Crowd", f"{base}/page.jpg", "web_search", 30)
    finally:
        store.close()
    path = tmp_path_factory.mktemp("audit") / "audit.html"
    code = run(["audit", "--html", str(path), "--allow-private", "--json", "--limit", "0"])
    out, _ = capsys.readouterr()
    assert code == 3
    return path, json.loads(out)


def test_audit_html_embeds_real_thumbnails_of_remote_pictures(
    audit_report: tuple[Path, dict[str, Any]],
) -> None:
    page = audit_report[0].read_text(encoding="utf-8")
    assert page.count('<img class="th" src="data:image/webp;base64,') == 4
    assert ">dead</span>" in page and ">not an image</span>" in page
    assert 'src="http' not in page  # nothing is loaded from the network when viewing it


def test_without_allow_private_loopback_pictures_are_refused(
    make_settings: Any,
    served_pictures: tuple[PictureHost, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pictures, base = served_pictures
    store = SqliteStore(make_settings().db_path)
    try:
        seed_row(store, "Extra", "Crowd", f"{base}/p/1.jpg", "web_search", 30)
    finally:
        store.close()
    code = run(["audit", "--html", str(tmp_path / "a.html"), "--quiet"])
    capsys.readouterr()
    assert code == 3 and pictures.downloads() == []
    assert ">refused</span>" in (tmp_path / "a.html").read_text(encoding="utf-8")


@pytest.mark.browser
def test_audit_report_shows_the_real_pictures_in_a_browser(
    browser: WebDriver, audit_report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    from tests.browser import images_shown

    browser.get(audit_report[0].as_uri())
    shown = images_shown(browser)
    assert [s[:3] for s in shown] == [[True, 107, 160]] * 4
    # Each thumbnail shows a picture, not a flat box.
    assert all(s[3] > 60 for s in shown), shown
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    assert browser.save_screenshot(str(tmp_path / "audit-thumbnails.png"))
