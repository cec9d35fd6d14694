"""A real HTTP/1.1 server on 127.0.0.1 for the link-checker tests and benchmark.

``ImageServer`` runs in a background thread and is used as a context manager::

    with ImageServer(latency=0.05) as server:
        server.url("/img/ok.jpg")        # http://127.0.0.1:<port>/img/ok.jpg
        server.requests                  # every request received, in order
        server.max_in_flight             # most requests handled at the same time

Two front ends share the routes, the request log and the in-flight counters: ``"asyncio"``
(default; one event loop, cheap at hundreds of concurrent connections) and ``"threaded"``
(stdlib ``ThreadingHTTPServer``, a thread per connection).

Routes (any query string is allowed; ``?delay=S`` adds S seconds before answering):

``/img/<name>``          200 image/jpeg, a real 8x8 JPEG
``/missing.jpg``         404
``/nohead.jpg``          HEAD -> 405 (``?head=403`` for 403); GET -> 200 image/png, Range -> 206
``/soft404.jpg``         200 text/html "Page not found"
``/data.json``           200 application/json
``/noctype.jpg``         200 without a Content-Type
``/status/<code>``       that status
``/redirect/<n>``        302 chain of n hops (relative Locations) ending at /img/ok.jpg
``/loop``                302 to itself
``/to-loopback``         302 to http://localhost:<port>/img/ok.jpg (``?host=127.0.0.2``, ``?port=``)
``/to-metadata``         302 to http://169.254.169.254/latest/meta-data/
``/to-file``             302 to file:///etc/passwd
``/slow.jpg``            answers after ``slow_seconds``
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

JPEG_BYTES = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYW"
    "ICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgo"
    "KCgoKCgoKCgoKCgoKCgoKCj/wAARCAAIAAgDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL"
    "/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJico"
    "KSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKz"
    "tLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAEC"
    "AwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYk"
    "NOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJma"
    "oqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDh"
    "KKKK88/Xz//Z"
)
PNG_BYTES = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFElEQVR4nGM8IWfDgA0wYRUdtBIA5+ABMmcf2iwAAAAA"
    "SUVORK5CYII="
)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    target: str  # path and query, as sent
    host: str  # the Host header
    range: str | None
    at: float  # time.monotonic() when the request arrived

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    delay: float = 0.0


def _ranged(body: bytes, range_header: str | None, content_type: str) -> Reply:
    """200 with the whole body, or 206 with the single ``bytes=a-b`` range asked for."""
    if range_header and range_header.startswith("bytes="):
        first, _, last = range_header.removeprefix("bytes=").partition("-")
        if first.isdigit():
            start = int(first)
            end = min(int(last) if last.isdigit() else len(body) - 1, len(body) - 1)
            if start <= end:
                headers = {
                    "Content-Type": content_type,
                    "Content-Range": f"bytes {start}-{end}/{len(body)}",
                }
                return Reply(206, headers, body[start : end + 1])
    return Reply(200, {"Content-Type": content_type}, body)


class ImageServer:
    def __init__(
        self,
        *,
        latency: float = 0.0,
        slow_seconds: float = 5.0,
        backend: str = "asyncio",
        backlog: int = 1024,
    ) -> None:
        if backend not in ("asyncio", "threaded"):
            raise ValueError("backend must be 'asyncio' or 'threaded'")
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.backend = backend
        self._backlog = backlog
        self._lock = threading.Lock()
        self._log: list[LoggedRequest] = []
        self._in_flight = 0
        self._in_flight_by_host: Counter[str] = Counter()
        self.max_in_flight = 0
        self.max_in_flight_by_host: Counter[str] = Counter()
        self.port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._httpd: ThreadingHTTPServer | None = None

    # ---- public helpers ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def reset(self) -> None:
        with self._lock:
            self._log.clear()
            self.max_in_flight = 0
            self.max_in_flight_by_host.clear()

    # ---- routes --------------------------------------------------------------------------

    def route(self, method: str, target: str, headers: dict[str, str]) -> Reply:
        parts = urlsplit(target)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        reply = self._route(method, path, query, headers)
        reply.delay += self.latency + float(query.get("delay", 0))
        return reply

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> Reply:
        html = {"Content-Type": "text/html; charset=utf-8"}
        if path.startswith("/img/"):
            return Reply(200, {"Content-Type": "image/jpeg"}, JPEG_BYTES)
        if path == "/missing.jpg":
            return Reply(404, html, b"<h1>Not Found</h1>")
        if path == "/nohead.jpg":
            if method == "HEAD":
                return Reply(int(query.get("head", 405)), {"Allow": "GET"})
            return _ranged(PNG_BYTES, headers.get("range"), "image/png")
        if path == "/soft404.jpg":
            return Reply(200, html, b"<html><body>Page not found</body></html>")
        if path == "/data.json":
            return Reply(200, {"Content-Type": "application/json"}, b'{"error": "none"}')
        if path == "/noctype.jpg":
            return Reply(200, {}, JPEG_BYTES)
        if path.startswith("/status/"):
            return Reply(int(path.rsplit("/", 1)[1]), html, b"<h1>status</h1>")
        if path.startswith("/redirect/"):
            n = int(path.rsplit("/", 1)[1])
            return Reply(302, {"Location": str(n - 1) if n > 1 else "/img/ok.jpg"})
        if path == "/loop":
            return Reply(302, {"Location": "/loop"})
        if path == "/to-loopback":
            host = query.get("host", "localhost")
            port = query.get("port", str(self.port))
            return Reply(302, {"Location": f"http://{host}:{port}/img/ok.jpg"})
        if path == "/to-metadata":
            return Reply(302, {"Location": "http://169.254.169.254/latest/meta-data/"})
        if path == "/to-file":
            return Reply(302, {"Location": "file:///etc/passwd"})
        if path == "/slow.jpg":
            return Reply(200, {"Content-Type": "image/jpeg"}, JPEG_BYTES, self.slow_seconds)
        return Reply(404, html, b"<h1>Not Found</h1>")

    # ---- bookkeeping shared by both front ends -------------------------------------------

    def _begin(self, method: str, target: str, headers: dict[str, str]) -> tuple[Reply, str]:
        host = headers.get("host", "")
        reply = self.route(method, target, headers)
        with self._lock:
            self._log.append(
                LoggedRequest(method, target, host, headers.get("range"), time.monotonic())
            )
            self._in_flight += 1
            self._in_flight_by_host[host] += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self.max_in_flight_by_host[host] = max(
                self.max_in_flight_by_host[host], self._in_flight_by_host[host]
            )
        return reply, host

    def _end(self, host: str) -> None:
        with self._lock:
            self._in_flight -= 1
            self._in_flight_by_host[host] -= 1

    @staticmethod
    def _serialize(reply: Reply, head_only: bool, close: bool) -> bytes:
        try:
            phrase = http.HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [f"HTTP/1.1 {reply.status} {phrase}"]
        headers = dict(reply.headers)
        headers["Content-Length"] = str(len(reply.body))
        headers["Connection"] = "close" if close else "keep-alive"
        lines += [f"{k}: {v}" for k, v in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + reply.body

    # ---- asyncio front end ---------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, version = request_line.split(" ", 2)
                headers = {}
                for line in header_lines:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                reply, host = self._begin(method, target, headers)
                try:
                    if reply.delay:
                        await asyncio.sleep(reply.delay)
                    writer.write(self._serialize(reply, method == "HEAD", close))
                    await writer.drain()
                finally:
                    self._end(host)
                if close:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except ValueError:
            pass
        finally:
            writer.close()

    def _run_loop(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def main() -> None:
            self._stop_event = asyncio.Event()
            tasks: set[asyncio.Task[None]] = set()

            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                task = asyncio.current_task()
                assert task is not None
                tasks.add(task)
                try:
                    await self._serve_connection(reader, writer)
                except asyncio.CancelledError:
                    pass  # server shutting down; asyncio's stream callback dislikes cancelled tasks
                finally:
                    tasks.discard(task)

            server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=self._backlog)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            async with server:
                await self._stop_event.wait()
                server.close()
                for task in list(tasks):
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    # ---- threaded front end --------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    self.rfile.read(length)
                reply, host = owner._begin(self.command, self.path, headers)
                try:
                    if reply.delay:
                        time.sleep(reply.delay)
                    close = headers.get("connection", "").lower() == "close"
                    self.wfile.write(owner._serialize(reply, self.command == "HEAD", close))
                    self.wfile.flush()
                    self.close_connection = close
                finally:
                    owner._end(host)

            do_GET = _answer
            do_HEAD = _answer

        return Handler

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> ImageServer:
        if self.backend == "asyncio":
            ready = threading.Event()
            self._thread = threading.Thread(target=self._run_loop, args=(ready,), daemon=True)
            self._thread.start()
            if not ready.wait(10):
                raise RuntimeError("image server did not start")
        else:
            server_class = type(
                "_Server",
                (ThreadingHTTPServer,),
                {"request_queue_size": self._backlog, "daemon_threads": True},
            )
            httpd = server_class(("127.0.0.1", 0), self._handler_class())
            self._httpd = httpd
            self.port = httpd.server_address[1]
            self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._loop is not None and self._stop_event is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop_event.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> ImageServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def guard_network(monkeypatch: Any, allow: Callable[[str, int], bool]) -> list[tuple[str, int]]:
    """Record every connection the network guard attempts and refuse those `allow` rejects;
    resolve numeric hosts only (no DNS query ever leaves). Returns the attempt log."""
    import socket

    from coverctl.net import guard

    attempts: list[tuple[str, int]] = []
    real_open = guard.open_tcp

    async def recording_open(backend: Any, address: str, port: int, *args: Any) -> Any:
        attempts.append((address, port))
        if not allow(address, port):
            raise OSError(f"tests never connect to {address}:{port}")
        return await real_open(backend, address, port, *args)

    real_getaddrinfo = socket.getaddrinfo

    def numeric_only(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        return real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    monkeypatch.setattr(guard, "open_tcp", recording_open)
    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    return attempts
