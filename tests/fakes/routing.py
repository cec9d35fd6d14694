"""One httpx transport that sends each host to its fake and fails on any other host."""

from __future__ import annotations

import httpx

from tests.fakes.base import FakeService, UnexpectedRequest


class HostRouter:
    def __init__(self, routes: dict[str, FakeService]) -> None:
        self.routes = routes

    def handle(self, request: httpx.Request) -> httpx.Response:
        fake = self.routes.get(request.url.host)
        if fake is None:
            raise UnexpectedRequest(f"request to an unexpected host: {request.url.host}")
        return fake.handle(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)
