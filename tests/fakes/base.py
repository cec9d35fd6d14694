"""A tiny HTTP fake framework: routes, scripted faults, a request log, loud failure on surprises.

A fake is used in-process through `httpx.MockTransport(fake.handle)`, or as a real local HTTP
server (`serve(fake)`) for the CLI and subprocess tests that configure a base URL.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

Handler = Callable[[httpx.Request, "re.Match[str]"], httpx.Response]


class UnexpectedRequest(AssertionError):
    """The code under test sent a request the fake was not told about."""


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


@dataclass
class Fault:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    exception: type[Exception] | None = None


class FakeService:
    """Base class: subclasses register routes in `__init__` with `self.route(...)`."""

    name = "fake"

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: dict[str, deque[Fault]] = {}
        self.requests: list[httpx.Request] = []
        self.request_times: list[float] = []
        self._lock = threading.Lock()
        self.latency = 0.0

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern + "$"), handler))

    def fail_next(
        self,
        path_pattern: str,
        status: int = 500,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        times: int = 1,
        exception: type[Exception] | None = None,
    ) -> None:
        """Make the next `times` requests whose path matches `path_pattern` answer this instead."""
        queue = self._faults.setdefault(path_pattern, deque())
        for _ in range(times):
            queue.append(Fault(status, body, headers or {}, raw, exception))

    def paths(self, method: str | None = None) -> list[str]:
        return [r.url.path for r in self.requests if method is None or r.method == method]

    def count(self, pattern: str) -> int:
        regex = re.compile(pattern)
        return sum(1 for r in self.requests if regex.search(r.url.path))

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            self.request_times.append(time.monotonic())
        path = request.url.path
        for pattern, queue in self._faults.items():
            if queue and re.search(pattern, path):
                fault = queue.popleft()
                if fault.exception is not None:
                    raise fault.exception("injected fault", request=request)  # type: ignore[call-arg]
                if fault.raw is not None:
                    return httpx.Response(fault.status, content=fault.raw, headers=fault.headers)
                return json_response(fault.status, fault.body, fault.headers)
        for method, regex, handler in self._routes:
            match = regex.match(path)
            if match and method == request.method:
                return handler(request, match)
        raise UnexpectedRequest(f"{self.name} fake got an unexpected {request.method} {path}")

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


@contextmanager
def serve(*fakes: FakeService, prefixes: tuple[str, ...] | None = None) -> Iterator[str]:
    """Run fakes as a real HTTP server on 127.0.0.1; yields the base URL.

    With several fakes, `prefixes` maps each to a path prefix (e.g. "/tmdb", "/tvdb").
    """
    prefixes = prefixes or tuple("" for _ in fakes)
    routing = list(zip(prefixes, fakes, strict=True))
    failures: list[str] = []

    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            for prefix, candidate in routing:
                if self.path.startswith(prefix):
                    fake = candidate
                    break
            else:  # pragma: no cover - a test wiring mistake
                self.send_error(599)
                return
            url = "http://fake" + self.path[len(prefix) :]
            request = httpx.Request(self.command, url, headers=dict(self.headers), content=body)
            if fake.latency:
                time.sleep(fake.latency)
            try:
                response = fake.handle(request)
            except UnexpectedRequest as exc:
                failures.append(str(exc))
                response = httpx.Response(599, text=str(exc))
            except httpx.TransportError:
                self.close_connection = True
                return
            content = response.read()
            try:
                self.send_response(response.status_code)
                for key, value in response.headers.items():
                    if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a timeout test): nothing to answer, and no traceback.
                self.close_connection = True

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _dispatch

    server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    server.daemon_threads = True
    # A short poll interval: shutdown() waits up to one interval (the default 0.5 s per test).
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
    if failures:
        raise UnexpectedRequest("; ".join(failures))


def parse_json_body(request: httpx.Request) -> Any:
    return json.loads(request.content or b"null")
