"""An image host fake: serves real picture bytes (and the broken things real hosts serve) by path.

The picture helpers are cached: bytes are immutable and generating them is the slow part.

Unknown paths get a 404 HTML page, as a CDN does; the request log shows what was downloaded.
"""

from __future__ import annotations

import re
from functools import cache

import httpx

from tests.fakes.base import FakeService
from tests.imagegen import html_bytes, jpeg_bytes, truncated_jpeg

NOT_FOUND_PAGE = b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>"


@cache
def sharp_photo(width: int = 600, height: int = 900, seed: int = 1) -> bytes:
    """A detailed picture: high intrinsic quality, so a high combined score."""
    return jpeg_bytes(width, height, "scene", seed=seed)


@cache
def soft_photo(width: int = 160, height: int = 240, seed: int = 2) -> bytes:
    """A small, blurred but valid picture: passes the check with a low combined score."""
    return jpeg_bytes(width, height, "scene", seed=seed, blur=3.0)


@cache
def one_pixel() -> bytes:
    return jpeg_bytes(1, 1, "flat")


@cache
def html_page() -> bytes:
    return html_bytes()


@cache
def cut_jpeg() -> bytes:
    return truncated_jpeg(300, 450)


class FakeImageHost(FakeService):
    name = "image host"

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host
        self.files: dict[str, tuple[bytes, str]] = {}
        self.default: tuple[bytes, str] | None = None  # served for any other path when set
        self.route("GET", r"/(?P<path>.*)", self._get)

    def add(self, path: str, data: bytes, content_type: str = "image/jpeg") -> str:
        """Serve `data` at `path`; returns its URL."""
        path = path.lstrip("/")
        self.files[path] = (data, content_type)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"https://{self.host}/{path.lstrip('/')}"

    def downloads(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def _get(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        found = self.files.get(match["path"], self.default)
        if found is None:
            return httpx.Response(
                404, content=NOT_FOUND_PAGE, headers={"Content-Type": "text/html"}
            )
        data, content_type = found
        return httpx.Response(200, content=data, headers={"Content-Type": content_type})
