"""A session-scoped headless Chromium for tests marked ``browser``.

Uses Debian's ``chromium`` and ``chromium-driver`` packages (never a downloaded browser). Use it
from a test module with ``pytest_plugins = ["tests.browser"]`` or from the root conftest.
The browser gets a throw-away profile and config/cache directories, and flags that stop it from
reaching the network on its own (updates, sync, metrics, safe browsing).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = "bash scripts/install-browser.sh"
WINDOW_SIZE = (1280, 900)

CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",  # needed when running as root (CI containers)
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # No traffic the test did not ask for:
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
    "--force-device-scale-factor=1",
    f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}",
)


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed; run: {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """A selenium Chrome WebDriver on headless Chromium, shared by the session."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    home = tmp_path_factory.mktemp("chromium")
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "SE_AVOID_STATS": "true",
    }
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={home / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(str(CHROMEDRIVER), env=env, log_output=str(home / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()


# For each <img> matching a CSS selector: [loaded, natural width, natural height, the spread
# (max - min) of its red channel over a 32×48 sample]. A real photo-like picture has a large
# spread; a blank, a flat placeholder or a broken image has none.
_IMAGE_REPORT = """
return Array.from(document.querySelectorAll(arguments[0])).map(img => {
  if (!img.complete || !img.naturalWidth) return [img.complete, 0, 0, 0];
  const c = document.createElement('canvas'); c.width = 32; c.height = 48;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0, 32, 48);
  const d = g.getImageData(0, 0, 32, 48).data; let lo = 255, hi = 0;
  for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
  return [true, img.naturalWidth, img.naturalHeight, hi - lo];
});
"""


def images_shown(driver: WebDriver, selector: str = "img") -> list[list[int | bool]]:
    """What the browser really shows for each image matching `selector` (see _IMAGE_REPORT)."""
    found = driver.execute_script(_IMAGE_REPORT, selector)
    assert isinstance(found, list)
    return found
