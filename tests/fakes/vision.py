"""An OpenAI-compatible chat-completions fake (OpenAI, Ollama's /v1, llama.cpp's server): the
real reply shape, `choices[0].message.content` holding the model's text, and OpenAI's error
bodies `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.fakes.base import FakeService, UnexpectedRequest, json_response, parse_json_body

VALID_KEY = "sk-proj-visionSECRET4f7a1c9e2b8d3f6a0c5e7b9d1f3a5c7e"
INVALID_KEY_BODY = {
    "error": {
        "message": "Incorrect API key provided: sk-proj-****. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}
RATE_LIMIT_BODY = {
    "error": {
        "message": "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, "
        "Used 3, Requested 1. Please try again in 20s.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
QUOTA_BODY = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}


def completion(
    content: str | None, *, refusal: str | None = None, finish: str = "stop"
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": refusal,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 1120, "completion_tokens": 18, "total_tokens": 1138},
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
    }


class FakeVision(FakeService):
    name = "vision chat API"

    def __init__(self, *, key: str | None = VALID_KEY) -> None:
        super().__init__()
        self.key = key
        self.reply: dict[str, Any] = completion(
            json.dumps({"title": "The Dark Knight", "year": 2008, "media_type": "movie"})
        )
        self.models = ["gpt-4o-mini", "gpt-4o"]
        self.route("POST", r"/v1/chat/completions", self._chat)
        self.route("GET", r"/v1/models", self._models)

    def _models(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if self.key is not None and request.headers.get("authorization") != f"Bearer {self.key}":
            return json_response(401, INVALID_KEY_BODY)
        return json_response(200, models_reply(*self.models))

    def _chat(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if self.key is not None and request.headers.get("authorization") != f"Bearer {self.key}":
            return json_response(401, INVALID_KEY_BODY)
        body = parse_json_body(request)
        content = body["messages"][0]["content"]
        images = [part for part in content if part.get("type") == "image_url"]
        if len(images) != 1 or not images[0]["image_url"]["url"].startswith(
            "data:image/jpeg;base64,"
        ):
            raise UnexpectedRequest("vision fake: expected one JPEG data URL in the message")
        return json_response(200, self.reply)


def models_reply(*names: str) -> dict[str, Any]:
    """GET /models as OpenAI (and Ollama's /v1) answer it."""
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 1721172741, "owned_by": "system"}
            for name in names
        ],
    }
