"""A Replicate HTTP API fake: create a prediction (with `Prefer: wait`), poll it, cancel it.

Each created prediction walks through `plan` (one status per answer: the create reply first, then
one per poll). Errors are problem+json as the real API sends them. Nothing here costs money; a
test that expects no generation asserts `creations() == 0`.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx

from tests.fakes.base import FakeService, UnexpectedRequest, json_response, parse_json_body

BASE_URL = "https://api.replicate.com/v1"
VALID_TOKEN = "r8_Kx3vTEST0123456789abcdefghijklmnopqrs"
DELIVERY_HOST = "replicate.delivery"

UNAUTHENTICATED_BODY = {
    "title": "Unauthenticated",
    "detail": "You did not pass a valid authentication token",
    "status": 401,
}
THROTTLED_BODY = {"detail": "Request was throttled. Expected available in 1 second.", "status": 429}
NOT_FOUND_BODY = {
    "title": "Not found",
    "detail": "The requested resource could not be found.",
    "status": 404,
}
PROBLEM_JSON = {"Content-Type": "application/problem+json"}


class FakeReplicate(FakeService):
    name = "Replicate"

    def __init__(self, *, token: str = VALID_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.plan: list[str] = ["succeeded"]
        self.error = "CUDA error: out of memory"
        self.inline_output: bytes | None = None  # answer with a data: URI instead of a URL
        self.predictions: dict[str, dict[str, Any]] = {}
        self._steps: dict[str, list[str]] = {}
        self.route("POST", r"/v1/models/(?P<owner>[^/]+)/(?P<name>[^/]+)/predictions", self._create)
        self.route("GET", r"/v1/predictions/(?P<id>\w+)", self._get)
        self.route("POST", r"/v1/predictions/(?P<id>\w+)/cancel", self._cancel)

    def creations(self) -> int:
        """Predictions asked for (each one costs money on the real service)."""
        return sum(
            1 for r in self.requests if r.method == "POST" and r.url.path.endswith("/predictions")
        )

    def output_url(self, prediction_id: str) -> str:
        return f"https://{DELIVERY_HOST}/xezq/{prediction_id}/out-0.jpg"

    def _denied(self, request: httpx.Request) -> httpx.Response | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return json_response(401, UNAUTHENTICATED_BODY, PROBLEM_JSON)
        return None

    def _body(self, prediction_id: str) -> dict[str, Any]:
        prediction = self.predictions[prediction_id]
        status = self._steps[prediction_id][0]
        prediction["status"] = status
        if status == "succeeded":
            prediction["output"] = [
                self.output_url(prediction_id)
                if self.inline_output is None
                else "data:image/jpeg;base64," + base64.b64encode(self.inline_output).decode()
            ]
            prediction["completed_at"] = "2025-01-01T00:00:02.1Z"
            prediction["metrics"] = {"image_count": 1, "predict_time": 0.61, "total_time": 0.74}
        elif status == "failed":
            prediction["error"] = self.error
            prediction["completed_at"] = "2025-01-01T00:00:02.1Z"
        elif status == "processing":
            prediction["started_at"] = "2025-01-01T00:00:00.5Z"
            prediction["logs"] = "Using seed: 1234\n0%|          | 0/4"
        return dict(prediction)

    def _create(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        body = parse_json_body(request)
        if not isinstance(body, dict) or set(body) != {"input"} or "prompt" not in body["input"]:
            raise UnexpectedRequest(f"Replicate fake: unexpected prediction body {body!r}")
        prediction_id = f"q{len(self.predictions) + 1:03d}ab7zxrj0cm2ma1e8tkgq"
        self._steps[prediction_id] = list(self.plan)
        self.predictions[prediction_id] = {
            "id": prediction_id,
            "model": f"{match['owner']}/{match['name']}",
            "version": "dp-4d0bcc010b3049749a251855f12800be",
            "input": body["input"],
            "logs": "",
            "output": None,
            "data_removed": False,
            "error": None,
            "status": "starting",
            "created_at": "2025-01-01T00:00:00.0Z",
            "urls": {
                "cancel": f"{BASE_URL}/predictions/{prediction_id}/cancel",
                "get": f"{BASE_URL}/predictions/{prediction_id}",
                "stream": f"https://stream.replicate.com/v1/files/{prediction_id}",
                "web": f"https://replicate.com/p/{prediction_id}",
            },
        }
        return json_response(201, self._body(prediction_id))

    def _get(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        prediction_id = match["id"]
        if prediction_id not in self.predictions:
            return json_response(404, NOT_FOUND_BODY, PROBLEM_JSON)
        steps = self._steps[prediction_id]
        if len(steps) > 1:
            steps.pop(0)
        return json_response(200, self._body(prediction_id))

    def _cancel(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        prediction_id = match["id"]
        self._steps[prediction_id] = ["canceled"]
        return json_response(200, self._body(prediction_id))
