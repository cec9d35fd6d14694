"""A DuckDuckGo image search fake: the search page with its vqd token, then i.js with the results.

`i.js` fails loudly (UnexpectedRequest) without the page's vqd token or the Referer header, as the
real endpoint refuses such requests.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx

from tests.fakes.base import FakeService, UnexpectedRequest, json_response

BASE_URL = "https://duckduckgo.com"
VQD = "4-211234567890123456789012345678901234"

# How the token appears in the page; DuckDuckGo has used each of these.
VQD_STYLES = {
    "double": 'vqd="{token}"',
    "single": "vqd='{token}'",
    "ampersand": "/d.js?q=x&t=D&l=us-en&s=0&vqd={token}&p=1",
}


def search_page(token: str, style: str = "double") -> str:
    marker = VQD_STYLES[style].format(token=token)
    return (
        "<!DOCTYPE html><html lang='en-US'><head><meta charset='utf-8'>"
        "<title>at DuckDuckGo</title></head><body><div id='links'></div>"
        f"<script type='text/javascript'>DDG.deep.initialize('{marker}', '');</script>"
        "</body></html>"
    )


RATE_LIMITED_PAGE = (
    b"<!DOCTYPE html><html><body><p>If this error persists, please let us know: "
    b"ops@duckduckgo.com</p></body></html>"
)


def image_result(
    title: str, image: str, page: str, width: int = 800, height: int = 1200
) -> dict[str, Any]:
    """One i.js result as the real endpoint returns it."""
    return {
        "height": height,
        "image": image,
        "image_token": "9b6d1f0e2c3a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0",
        "source": "Bing",
        "thumbnail": "https://tse2.mm.bing.net/th?id=OIP.Zx1b2C3d4E5f6G7h8I9j0kHaLH&pid=Api",
        "thumbnail_token": "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d",
        "title": title,
        "url": page,
        "width": width,
    }


class FakeDuckDuckGo(FakeService):
    name = "DuckDuckGo"

    def __init__(self, *, base_url: str = BASE_URL, vqd_style: str = "double") -> None:
        super().__init__()
        self.base_url = base_url
        self.vqd_style = vqd_style
        self.results: list[dict[str, Any]] = []
        self.route("GET", r"/", self._page)
        self.route("GET", r"/i\.js", self._images)

    def _page(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if not request.url.params.get("q"):
            raise UnexpectedRequest("DuckDuckGo fake: search page requested without q")
        return httpx.Response(
            200,
            text=search_page(VQD, self.vqd_style),
            headers={"Content-Type": "text/html; charset=UTF-8"},
        )

    def _images(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        params = request.url.params
        if params.get("vqd") != VQD:
            raise UnexpectedRequest(f"DuckDuckGo fake: i.js without the page's vqd ({params})")
        if request.headers.get("referer") != f"{self.base_url}/":
            raise UnexpectedRequest("DuckDuckGo fake: i.js without the Referer header")
        if params.get("o") != "json" or not params.get("q"):
            raise UnexpectedRequest(f"DuckDuckGo fake: i.js with unexpected parameters {params}")
        q = params["q"]
        return json_response(
            200,
            {
                "ads": None,
                "next": f"i.js?q={quote(q)}&o=json&p=2&s=100&u=bing&f=,,,,&l=us-en&vqd={VQD}",
                "query": q,
                "queryEncoded": quote(q),
                "response_type": "images",
                "results": self.results,
                "vqd": {q: VQD},
            },
        )

    def queries(self) -> list[str]:
        return [r.url.params["q"] for r in self.requests if r.url.path == "/i.js"]
