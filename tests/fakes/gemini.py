"""A Gemini API fake: `models/{model}:generateContent` with the real REST reply shape
(camelCase `inlineData`, `finishReason`, `promptFeedback`, `usageMetadata`) and Google's error
bodies `{"error": {"code", "message", "status", "details"}}`."""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx

from tests.fakes.base import FakeService, UnexpectedRequest, json_response, parse_json_body

BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
VALID_KEY = "AIzaSyGEMINI-SECRET-8d2f6b1a9c3e5f7a0b2d4f6"
INVALID_KEY_BODY = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    }
}
RESOURCE_EXHAUSTED_BODY = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"},
        ],
    }
}
UNAVAILABLE_BODY = {
    "error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
}


def image_reply(picture: bytes, mime: str = "image/png", text: str | None = None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if text is not None:
        parts.append({"text": text})
    parts.append({"inlineData": {"mimeType": mime, "data": base64.b64encode(picture).decode()}})
    return {
        "candidates": [
            {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": 1290,
            "candidatesTokenCount": 1290,
            "totalTokenCount": 2580,
        },
        "modelVersion": "gemini-2.5-flash-image",
        "responseId": "w4FnaPqvL8fYz7IPn8yQ4Ac",
    }


def refused_reply(reason: str = "IMAGE_SAFETY") -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model"}, "finishReason": reason, "index": 0}],
        "usageMetadata": {"promptTokenCount": 1290, "totalTokenCount": 1290},
        "modelVersion": "gemini-2.5-flash-image",
    }


def blocked_prompt_reply(reason: str = "PROHIBITED_CONTENT") -> dict[str, Any]:
    return {
        "promptFeedback": {"blockReason": reason},
        "usageMetadata": {"promptTokenCount": 1290, "totalTokenCount": 1290},
        "modelVersion": "gemini-2.5-flash-image",
    }


class FakeGemini(FakeService):
    name = "Gemini"

    def __init__(self, *, key: str = VALID_KEY) -> None:
        super().__init__()
        self.key = key
        self.reply: dict[str, Any] | None = None  # set by the test
        self.route("POST", r"/v1beta/models/(?P<model>[\w.-]+):generateContent", self._generate)
        self.route("GET", r"/v1beta/models", self._models)

    def _denied(self, request: httpx.Request) -> httpx.Response | None:
        if request.headers.get("x-goog-api-key") != self.key:
            return json_response(400, INVALID_KEY_BODY)
        return None

    def _generate(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        body = parse_json_body(request)
        parts = body["contents"][0]["parts"]
        inline = [p for p in parts if "inline_data" in p or "inlineData" in p]
        if len(inline) != 1 or not any("text" in p for p in parts):
            raise UnexpectedRequest("Gemini fake: expected one picture and one text part")
        if self.reply is None:
            raise UnexpectedRequest("Gemini fake: the test set no reply")
        return json_response(200, self.reply)

    def _models(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        return json_response(
            200,
            {
                "models": [
                    {
                        "name": "models/gemini-2.5-flash-image",
                        "displayName": "Nano Banana",
                        "supportedGenerationMethods": ["generateContent", "countTokens"],
                    }
                ],
                "nextPageToken": "Ch5tb2RlbHMvZ2VtaW5pLTIuNS1mbGFzaC1pbWFnZQ==",
            },
        )
