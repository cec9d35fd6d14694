"""A Supabase (PostgREST behind its API gateway) fake for CLI tests run through `serve()`.

It checks what the real service checks (the `apikey` header at the gateway, the JWT in
`Authorization` at PostgREST) and what an upsert needs (`on_conflict`, `Prefer:
resolution=merge-duplicates`, a JSON array of uniform objects), answers with the real error bodies,
and keeps upserted rows by their unique key. A request it does not expect fails loudly.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.fakes.base import FakeService, UnexpectedRequest, json_response

SERVICE_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2VydmljZS1zZWNyZXQ"
CONFLICT = "character_name,movie_title,source"

# What Supabase answers (gateway, then PostgREST) when the key is wrong.
INVALID_API_KEY_BODY = {
    "message": "Invalid API key",
    "hint": "Double check your Supabase `anon` or `service_role` API key.",
}
INVALID_JWT_BODY = {
    "code": "PGRST301",
    "details": None,
    "hint": None,
    "message": "JWSError JWSInvalidSignature",
}


class FakeSupabase(FakeService):
    name = "Supabase"

    def __init__(self, *, key: str = SERVICE_KEY) -> None:
        super().__init__()
        self.key = key
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.route("POST", r"/rest/v1/character_images", self._upsert)
        self.route("GET", r"/rest/v1/", self._root)

    def _denied(
        self, request: httpx.Request, *, gateway_only: bool = False
    ) -> httpx.Response | None:
        if request.headers.get("apikey") != self.key:
            return json_response(401, INVALID_API_KEY_BODY)
        if not gateway_only and request.headers.get("authorization") != f"Bearer {self.key}":
            return json_response(401, INVALID_JWT_BODY)
        return None

    def _root(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        return json_response(200, {"swagger": "2.0", "info": {"title": "PostgREST API"}})

    def _upsert(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        if request.url.params.get("on_conflict") != CONFLICT:
            raise UnexpectedRequest(f"upsert without on_conflict={CONFLICT}: {request.url}")
        prefer = {part.strip() for part in request.headers.get("prefer", "").split(",")}
        if "resolution=merge-duplicates" not in prefer:
            raise UnexpectedRequest(f"upsert without Prefer: resolution=merge-duplicates: {prefer}")
        if request.headers.get("content-type") != "application/json":
            raise UnexpectedRequest("upsert body is not declared as JSON")
        body = json.loads(request.content)
        if not isinstance(body, list) or not body:
            raise UnexpectedRequest("upsert body must be a non-empty JSON array")
        if len({tuple(row) for row in body}) != 1:
            # PostgREST: "All object keys must match" (PGRST102).
            return json_response(
                400,
                {
                    "code": "PGRST102",
                    "details": None,
                    "hint": None,
                    "message": "All object keys must match",
                },
            )
        for row in body:
            self.rows[(row["character_name"], row["movie_title"], row["source"])] = row
        return httpx.Response(201)
