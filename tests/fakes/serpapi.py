"""A SerpApi fake: the Image API upload and the Google Lens search, with SerpApi's real shapes.

Errors are `{"error": "…"}` with the documented statuses (401 invalid key, 429 throughput or
searches run out); "no results" is HTTP 200 with an `error` text, as the real service answers.
Each search the fake answers would be billed by SerpApi: tests count them with `searches()`.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from typing import Any

import httpx

from tests.fakes.base import FakeService, UnexpectedRequest, json_response

BASE_URL = "https://serpapi.com"
VALID_KEY = "serpSECRET0c4f2a9e7b1d3a5c7e9f1b3d5a7c9e1f3b5d7a9c1e3f5b7d9a1c3e5f7b9d1"
INVALID_KEY_BODY = {
    "error": "Invalid API key. Your API key should be here: https://serpapi.com/manage-api-key"
}
OUT_OF_SEARCHES_BODY = {
    "error": "Your account has run out of searches. Upgrade your plan at https://serpapi.com/pricing"
}
THROUGHPUT_BODY = {
    "error": "Your account has exceeded the hourly throughput limit. Please try again later."
}
NO_RESULTS_ERROR = "Google Lens hasn't returned any results for this query."
MAX_UPLOAD = 500 * 1024


def lens_reply(image_url: str, *, search_id: str = "6568a1e47b9a6f2b3c4d5e6f") -> dict[str, Any]:
    """A Google Lens search reply shaped like SerpApi's (trimmed to a few entries)."""
    return {
        "search_metadata": {
            "id": search_id,
            "status": "Success",
            "json_endpoint": f"https://serpapi.com/searches/5f1c2d3e/{search_id}.json",
            "created_at": "2026-11-30 11:32:46 UTC",
            "processed_at": "2026-11-30 11:32:46 UTC",
            "google_lens_url": f"https://lens.google.com/uploadbyurl?url={image_url}",
            "raw_html_file": f"https://serpapi.com/searches/5f1c2d3e/{search_id}.html",
            "total_time_taken": 3.25,
        },
        "search_parameters": {"engine": "google_lens", "url": image_url, "hl": "en"},
        "knowledge_graph": [
            {
                "title": "The Dark Knight",
                "subtitle": "2008 film",
                "link": "https://www.google.com/search?q=The+Dark+Knight&kgmid=/m/02qr69m",
                "thumbnail": "https://encrypted-tbn0.gstatic.com/images?q=tbn:ANd9GcQkg",
            }
        ],
        "visual_matches": [
            {
                "position": 1,
                "title": "The Dark Knight (2008) - Christian Bale as Bruce Wayne - IMDb",
                "link": "https://www.imdb.com/title/tt0468569/mediaviewer/rm4023877632/",
                "source": "IMDb",
                "source_icon": "https://encrypted-tbn2.gstatic.com/favicon-tbn?q=tbn:imdb",
                "thumbnail": "https://encrypted-tbn1.gstatic.com/images?q=tbn:ANd9GcR1",
                "thumbnail_width": 183,
                "thumbnail_height": 275,
                "image": "https://m.media-amazon.com/images/M/MV5BMTMxNTMwODM0NF5BMl5BanBnXkFtZTcwODAyMTk2Mw@@.jpg",
                "image_width": 1000,
                "image_height": 1500,
            },
            {
                "position": 2,
                "title": "Batman Begins / The Dark Knight wallpaper",
                "link": "https://wall.example.org/batman-dark-knight",
                "source": "wall.example.org",
                "source_icon": "https://encrypted-tbn3.gstatic.com/favicon-tbn?q=tbn:wall",
                "thumbnail": "https://encrypted-tbn2.gstatic.com/images?q=tbn:ANd9GcR2",
                "thumbnail_width": 300,
                "thumbnail_height": 168,
            },
        ],
        "related_content": [
            {
                "query": "Christian Bale Batman",
                "link": "https://www.google.com/search?q=Christian+Bale+Batman",
                "thumbnail": "https://encrypted-tbn0.gstatic.com/images?q=tbn:rel",
                "serpapi_link": "https://serpapi.com/search.json?engine=google&q=Christian+Bale+Batman",
            }
        ],
    }


def no_results_reply(image_url: str) -> dict[str, Any]:
    reply = lens_reply(image_url)
    for key in ("knowledge_graph", "visual_matches", "related_content"):
        reply.pop(key)
    reply["error"] = NO_RESULTS_ERROR
    return reply


def form_fields(request: httpx.Request) -> dict[str, bytes]:
    """The fields of a multipart/form-data body (name -> raw bytes)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise UnexpectedRequest(f"SerpApi fake: upload is {content_type!r}, not multipart")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.content
    )
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload
    return fields


class FakeSerpApi(FakeService):
    name = "SerpApi"

    def __init__(self, *, key: str = VALID_KEY) -> None:
        super().__init__()
        self.key = key
        self.replies: dict[str, dict[str, Any]] = {}  # image URL or image_id -> reply
        self.uploads: dict[str, bytes] = {}  # image_id -> uploaded bytes
        self.route("POST", r"/image", self._upload)
        self.route("GET", r"/search\.json", self._search)
        self.route("GET", r"/account\.json", self._account)
        self.searches_left = 5958

    def searches(self) -> int:
        return self.count(r"/search\.json$")

    def _upload(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        fields = form_fields(request)
        if fields.get("api_key", b"").decode() != self.key:
            return json_response(401, INVALID_KEY_BODY)
        image = fields.get("image")
        if not image:
            return json_response(400, {"error": "Missing image file."})
        if len(image) > MAX_UPLOAD:
            return json_response(400, {"error": "Image file size exceeds the 500 KB limit."})
        image_id = f"xokJFnic22FmYZ6Sb{len(self.uploads):04d}"
        self.uploads[image_id] = image
        return json_response(200, {"message": "Image uploaded successfully.", "image_id": image_id})

    def _account(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if request.url.params.get("api_key") != self.key:
            return json_response(401, INVALID_KEY_BODY)
        return json_response(
            200,
            {
                "account_id": "5f1c2d3e4a5b6c7d8e9f0a1b",
                "api_key": self.key,
                "account_email": "ops@example.com",
                "account_status": "Active",
                "plan_id": "developer",
                "plan_name": "Developer Plan",
                "plan_monthly_price": 75.0,
                "searches_per_month": 5000,
                "plan_searches_left": self.searches_left,
                "extra_credits": 0,
                "total_searches_left": self.searches_left,
                "this_month_usage": 5000 - self.searches_left,
                "this_hour_searches": 3,
                "last_hour_searches": 0,
                "account_rate_limit_per_hour": 1000,
            },
        )

    def _search(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        params = request.url.params
        if params.get("api_key") != self.key:
            return json_response(401, INVALID_KEY_BODY)
        if params.get("engine") != "google_lens":
            raise UnexpectedRequest(f"SerpApi fake: unexpected engine {params.get('engine')!r}")
        target = params.get("url") or params.get("image_id")
        if not target:
            return json_response(400, {"error": "Missing query `url` parameter."})
        reply = self.replies.get(target)
        if reply is None:
            return json_response(200, no_results_reply(target))
        return json_response(200, reply)
