"""Running the review page: a socket bound to 127.0.0.1 only, a random token, uvicorn.

The socket is bound here, before the server starts, so the port (a free one unless asked) is
known and printed first, and nothing but the loopback address can ever be bound: there is no
option to listen elsewhere. `run()` serves until Ctrl-C (uvicorn shuts down cleanly, then the
interrupt is raised again for the caller); `serve_in_thread()` is for tests and embedding.
"""

from __future__ import annotations

import asyncio
import errno
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from coverctl.config import Settings
from coverctl.curation.review.app import ReviewState, build_app
from coverctl.curation.review.cards import ReviewCard
from coverctl.errors import UsageError

LOOPBACK: Final = "127.0.0.1"


def bind_loopback(port: int = 0, host: str = LOOPBACK) -> socket.socket:
    """A TCP socket bound to 127.0.0.1:`port` (0: a free port). Any other address is refused."""
    if host != LOOPBACK:
        raise UsageError(f"The review page listens on {LOOPBACK} only, not on {host}.")
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port number (1-65535, or 0 for a free one).")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"Port {port} is in use; choose another --port or omit it.") from None
        raise UsageError(f"Cannot listen on {LOOPBACK}:{port}: {exc.strerror or exc}.") from None
    # Listening now: the printed address answers (queued) even before uvicorn has started.
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ReviewServer:
    """One review page: its cards, token, socket and application."""

    def __init__(
        self,
        settings: Settings,
        cards: list[ReviewCard],
        *,
        origin_label: str = "",
        port: int = 0,
        by: str | None = None,
        allow_private: bool = False,
        transport: Any = None,
        policy: Any = None,
    ) -> None:
        self.socket = bind_loopback(port)
        self.port = int(self.socket.getsockname()[1])
        self.token = secrets.token_urlsafe(24)
        self.state = ReviewState(
            settings=settings,
            cards=cards,
            token=self.token,
            origin_label=origin_label,
            by=by,
            allow_private=allow_private,
            transport=transport,
            policy=policy,
        )
        hosts = [f"{LOOPBACK}:{self.port}", f"localhost:{self.port}"]
        self.app = build_app(self.state, hosts)
        self._server: Any = None

    @property
    def origin(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        """The address to open: it carries the token."""
        return f"{self.origin}/?token={self.token}"

    def _uvicorn(self) -> Any:
        import uvicorn

        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="on", access_log=False, server_header=False
        )
        self._server = uvicorn.Server(config)
        return self._server

    async def serve(self) -> None:
        """Serve until stopped (`stop()`, or Ctrl-C when running in the main thread)."""
        await self._uvicorn().serve(sockets=[self.socket])

    def run(self) -> None:
        """Serve in this thread until Ctrl-C; KeyboardInterrupt is raised after a clean stop."""
        try:
            asyncio.run(self.serve())
        finally:
            self.socket.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    @contextmanager
    def serve_in_thread(self) -> Iterator[ReviewServer]:
        """Serve in a background thread while the block runs; stop and wait on exit."""
        failure: list[BaseException] = []

        def target() -> None:
            try:
                asyncio.run(self.serve())
            except BaseException as exc:  # pragma: no cover - reported to the caller below
                failure.append(exc)

        thread = threading.Thread(target=target, name="coverctl-review", daemon=True)
        thread.start()
        try:
            self._wait_started(failure)
            yield self
        finally:
            self.stop()
            thread.join(timeout=30)
            self.socket.close()
        if failure:
            raise failure[0]

    def _wait_started(self, failure: list[BaseException]) -> None:
        import time

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if failure:
                raise failure[0]
            if self._server is not None and self._server.started:
                return
            time.sleep(0.01)
        raise RuntimeError("the review server did not start")
