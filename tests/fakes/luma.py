"""A Luma Dream Machine API fake: create a video generation, poll it; Luma's real shapes.

Each generation walks through `plan` (one state per answer: the create reply first, then one
per poll). A completed generation's `assets.video` points at `video_base`, where a test serves
the MP4. Nothing here costs money; tests count `creations()` (each one is billed for real).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests.fakes.base import FakeService, UnexpectedRequest, json_response, parse_json_body

BASE_URL = "https://api.lumalabs.ai/dream-machine/v1"
VALID_KEY = "luma-SECRET-7f3e9a1c-2b4d-4e6f-8a0b-1c3d5e7f9a2b"
VIDEO_HOST = "storage.cdn-luma.com"
UNAUTHORIZED_BODY = {"detail": "Invalid API key"}
RATE_LIMIT_BODY = {"detail": "Rate limit exceeded: too many concurrent generations"}
CREDITS_BODY = {"detail": "Insufficient credits: please add credits to your account"}
# The smallest MP4 a player accepts as a file type: an `ftyp` box, then media data.
MP4_BYTES = (
    b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x10mdat" + bytes(8) * 64
)


class FakeLuma(FakeService):
    name = "Luma"

    def __init__(self, *, key: str = VALID_KEY, video_base: str = f"https://{VIDEO_HOST}") -> None:
        super().__init__()
        self.key = key
        self.video_base = video_base
        self.plan: list[str] = ["queued", "dreaming", "completed"]
        self.failure_reason = "400: prompt not allowed because advanced moderation failed"
        self.generations: dict[str, dict[str, Any]] = {}
        self._steps: dict[str, list[str]] = {}
        self.route("POST", r"/dream-machine/v1/generations/video", self._create)
        self.route("GET", r"/dream-machine/v1/generations/(?P<id>[\w-]+)", self._get)
        self.route("GET", r"/dream-machine/v1/credits", self._credits)

    def creations(self) -> int:
        return sum(1 for r in self.requests if r.method == "POST")

    def polls(self, generation_id: str) -> int:
        return sum(1 for r in self.requests if r.url.path.endswith(f"/generations/{generation_id}"))

    def _denied(self, request: httpx.Request) -> httpx.Response | None:
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return json_response(401, UNAUTHORIZED_BODY)
        return None

    def _body(self, generation_id: str) -> dict[str, Any]:
        generation = self.generations[generation_id]
        state = self._steps[generation_id][0]
        generation["state"] = state
        if state == "completed":
            generation["assets"] = {
                "video": f"{self.video_base}/dream_machine/{generation_id}/watermarked_video0.mp4",
                "image": f"{self.video_base}/dream_machine/{generation_id}/video_0_thumb.jpg",
                "progress_video": None,
            }
        elif state == "failed":
            generation["failure_reason"] = self.failure_reason
        return dict(generation)

    def _create(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        body = parse_json_body(request)
        frame = (body.get("keyframes") or {}).get("frame0") or {}
        if frame.get("type") != "image" or not str(frame.get("url", "")).startswith("http"):
            raise UnexpectedRequest(f"Luma fake: keyframes.frame0 is not an image URL: {body!r}")
        generation_id = str(uuid.uuid4())
        self._steps[generation_id] = list(self.plan)
        self.generations[generation_id] = {
            "id": generation_id,
            "generation_type": "video",
            "state": "queued",
            "failure_reason": None,
            "created_at": "2026-12-04T10:00:00.000Z",
            "assets": None,
            "model": body.get("model"),
            "request": {"generation_type": "video", **body, "callback_url": None},
        }
        return json_response(201, self._body(generation_id))

    def _get(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        generation_id = match["id"]
        if generation_id not in self.generations:
            return json_response(404, {"detail": "Generation not found"})
        steps = self._steps[generation_id]
        if len(steps) > 1:
            steps.pop(0)
        return json_response(200, self._body(generation_id))

    def _credits(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        return json_response(200, {"credit_balance": 1250.0})
