"""Check that stored image URLs are alive, without letting a URL reach into the local network.

``check_links`` streams ``(key, url)`` pairs and yields one ``LinkResult`` per pair as checks
finish. It reads its input lazily and keeps at most ``concurrency`` checks in flight, and at most
``per_host`` requests in flight to one host, so 100k URLs cost bounded memory. A single bad URL
never raises: every failure becomes a status.

How one URL is checked
    Only ``http`` and ``https`` are fetched; any other scheme is ``refused_scheme`` without I/O.
    A ``HEAD`` goes first; if the server answers 403, 405 or 501 to it, a ranged
    ``GET`` (``Range: bytes=0-1023``) follows and at most ``MAX_BODY_BYTES`` of the answer are
    read. Redirects are followed by hand, at most ``max_redirects`` hops, each hop vetted like the
    first request. The link is alive only when the final answer is 2xx (206 included) with an
    ``image/*`` content type; 2xx ``text/html`` is a ``soft_404``, other 2xx is ``not_image``.

The SSRF guard
    Every request (the first and every redirect hop) goes through the network guard,
    :mod:`coverctl.net.guard`: before it is sent the host is vetted (``Guard.vet``: resolved
    through the injected ``resolve`` or the system resolver, cached and shared) and refused as
    ``refused_private`` when it is a local name or ANY address it is or resolves to is not public;
    a name without an address is a ``dns_error``. When ``check_links`` builds its own client, the
    connection goes through the guard's ``GuardedTransport``, which connects only to the vetted
    addresses (no DNS rebinding) while TLS and the Host header keep the name. With a
    caller-supplied ``client`` the guard still runs before every hop, but the connection uses
    that client's own transport.

    ``allow_private=True`` turns the address checks off. ``allow_hosts`` exempts exact entries,
    either ``"host"`` or ``"host:port"`` (IPv6 as ``"[::1]:8080"``), from them: tests allow the
    local test server's ``127.0.0.1:<port>`` and nothing else, so a redirect to
    ``http://localhost:<port>/``, ``http://127.0.0.2/`` or ``http://169.254.169.254/`` still goes
    through the real guard and is refused before any connection is attempted. Every outgoing
    TCP connection of the built-in client goes through ``coverctl.net.guard.open_tcp``; tests
    replace it to record (and forbid) connection attempts.

Connections
    The built-in client keeps connections alive per origin, through the guard's transport (one
    single-connection pool per concurrent request: see ``coverctl.net.guard``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Collection,
    Iterable,
)
from dataclasses import asdict, dataclass
from typing import Any, Final, cast

import httpx

from coverctl.errors import AddressRefused, UsageError
from coverctl.net.guard import (
    AllowRules,
    Guard,
    GuardedTransport,
    NameNotResolved,
    Resolve,
    host_port,
    is_public_address,
    system_resolve,
)

# is_public_address and system_resolve are re-exported: their home is coverctl.net.guard.
__all__ = [
    "LinkResult",
    "Status",
    "check_link",
    "check_links",
    "is_public_address",
    "system_resolve",
]

USER_AGENT: Final = "coverctl-linkcheck/0.1"
RANGE_HEADER: Final = "bytes=0-1023"
MAX_BODY_BYTES: Final = 4096
REDIRECT_CODES: Final = frozenset({301, 302, 303, 307, 308})
HEAD_FALLBACK_CODES: Final = frozenset({403, 405, 501})


class Status:
    """Values of ``LinkResult.status`` (``http_<code>`` for other 4xx/5xx answers)."""

    OK: Final = "ok"
    SOFT_404: Final = "soft_404"
    NOT_IMAGE: Final = "not_image"
    REFUSED_SCHEME: Final = "refused_scheme"
    REFUSED_PRIVATE: Final = "refused_private"
    TOO_MANY_REDIRECTS: Final = "too_many_redirects"
    TIMEOUT: Final = "timeout"
    CONNECTION_ERROR: Final = "connection_error"
    DNS_ERROR: Final = "dns_error"
    INVALID_URL: Final = "invalid_url"


@dataclass(frozen=True)
class LinkResult:
    """What checking one URL found.

    ``final_url`` is the URL the check stopped at (a refused redirect target included), ``None``
    when the input could not be parsed. ``http_status`` and ``content_type`` (media type only,
    lower case) come from the last response received, if any.
    """

    key: str
    url: str
    alive: bool
    status: str
    http_status: int | None
    final_url: str | None
    content_type: str | None
    elapsed_ms: int
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Ends of a check


class _Stop(Exception):
    """Ends a check with a status; never leaves this module."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


# --------------------------------------------------------------------------------------------
# One check


class _Trace:
    """What a check has seen so far, for the result."""

    def __init__(self) -> None:
        self.final_url: str | None = None
        self.http_status: int | None = None
        self.content_type: str | None = None


def _parse(raw: str, *, redirect: bool = False) -> httpx.URL:
    what = "Redirect target" if redirect else "URL"
    if not isinstance(raw, str) or not raw.strip():
        raise _Stop(Status.INVALID_URL, f"{what} is empty.")
    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise _Stop(Status.INVALID_URL, f"{what} is not a valid URL ({exc}).") from None
    if url.scheme not in ("http", "https"):
        scheme = url.scheme or "none"
        raise _Stop(
            Status.REFUSED_SCHEME,
            f"{what} scheme {scheme!r} refused: only http and https are checked.",
        )
    if not url.raw_host:
        raise _Stop(Status.INVALID_URL, f"{what} has no host.")
    return url


def _media_type(response: httpx.Response) -> str | None:
    value = response.headers.get("content-type")
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower() or None


def _classify(response: httpx.Response, media_type: str | None) -> tuple[str, str]:
    code = response.status_code
    if not 200 <= code < 300:
        reason = f" {response.reason_phrase}" if response.reason_phrase else ""
        return f"http_{code}", f"Server answered {code}{reason}."
    if media_type is None:
        return Status.NOT_IMAGE, f"Server answered {code} without a content type."
    if media_type.startswith("image/"):
        return Status.OK, f"Image is reachable ({media_type})."
    if media_type in ("text/html", "application/xhtml+xml"):
        return Status.SOFT_404, f"Server answered {code} with a web page, not an image."
    return Status.NOT_IMAGE, f"Server answered {code} with {media_type}, not an image."


class _Slot:
    __slots__ = ("semaphore", "users")

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.users = 0


class _Checker:
    """Shared state of one run: client, guard, per-host slots, settings."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        guard: Guard,
        *,
        per_host: int,
        timeout: float,
        max_redirects: int,
    ) -> None:
        self._client = client
        self._guard = guard
        self._per_host = per_host
        self._timeout = timeout
        self._max_redirects = max_redirects
        # An entry lives only while a request holds or awaits it, so the map stays small.
        self._slots: dict[str, _Slot] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        *,
        concurrency: int,
        per_host: int,
        allow_private: bool,
        allow_hosts: Collection[str],
        timeout: float,
        max_redirects: int,
        client: httpx.AsyncClient | None,
        resolve: Resolve | None,
    ) -> AsyncIterator[_Checker]:
        if concurrency < 1 or per_host < 1:
            raise UsageError("concurrency and per_host must be at least 1.")
        if not timeout > 0 or timeout == float("inf"):
            raise UsageError("timeout must be a positive number of seconds.")
        if max_redirects < 0:
            raise UsageError("max_redirects cannot be negative.")
        rules = AllowRules.parse(allow_hosts, allow_private=allow_private)
        guard = Guard(rules, resolve=resolve)
        make = functools.partial(
            cls, guard=guard, per_host=per_host, timeout=timeout, max_redirects=max_redirects
        )
        if client is not None:
            yield make(client)
            return
        async with httpx.AsyncClient(
            transport=GuardedTransport(guard),
            headers={"User-Agent": USER_AGENT, "Accept": "image/*,*/*;q=0.5"},
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
        ) as own:
            yield make(own)

    @contextlib.asynccontextmanager
    async def _host_slot(self, host: str, port: int) -> AsyncIterator[None]:
        key = f"{host}:{port}"
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(self._per_host)
        slot.users += 1
        try:
            async with slot.semaphore:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._slots[key]

    async def check(self, key: str, url: str) -> LinkResult:
        """Check one URL; never raises except on cancellation."""
        started = time.perf_counter()
        trace = _Trace()
        try:
            status, detail = await self._follow(url, trace)
        except _Stop as stop:
            status, detail = stop.status, stop.detail
        except AddressRefused as refused:
            status, detail = Status.REFUSED_PRIVATE, refused.message
        except NameNotResolved as failure:
            status, detail = Status.DNS_ERROR, str(failure)
        except (TimeoutError, httpx.TimeoutException):
            status, detail = Status.TIMEOUT, f"No answer within {self._timeout:g} s."
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            status, detail = Status.INVALID_URL, f"URL cannot be requested ({exc})."
        except (httpx.HTTPError, OSError) as exc:
            status = Status.CONNECTION_ERROR
            detail = f"Connection failed ({type(exc).__name__}: {exc or 'no detail'})."
        except Exception as exc:  # one bad URL must not end the run
            status = Status.CONNECTION_ERROR
            detail = f"Check failed unexpectedly ({type(exc).__name__}: {exc})."
        return LinkResult(
            key=key,
            url=url,
            alive=status == Status.OK,
            status=status,
            http_status=trace.http_status,
            final_url=trace.final_url,
            content_type=trace.content_type,
            elapsed_ms=round((time.perf_counter() - started) * 1000),
            detail=detail,
        )

    async def _follow(self, raw_url: str, trace: _Trace) -> tuple[str, str]:
        url = _parse(raw_url)
        method = "HEAD"
        hops = 0
        while True:
            trace.final_url = str(url)
            host, port = host_port(url)
            try:
                async with asyncio.timeout(self._timeout):
                    await self._guard.vet(host, port)
            except TimeoutError:
                raise _Stop(Status.DNS_ERROR, f"DNS lookup for {host} timed out.") from None
            async with self._host_slot(host, port), asyncio.timeout(self._timeout):
                response = await self._request(method, url)
            trace.http_status = response.status_code
            trace.content_type = _media_type(response)
            location = response.headers.get("location")
            if response.status_code in REDIRECT_CODES and location:
                if hops >= self._max_redirects:
                    return Status.TOO_MANY_REDIRECTS, f"More than {self._max_redirects} redirects."
                hops += 1
                try:
                    target = str(url.join(location))
                except (httpx.InvalidURL, ValueError, UnicodeError):
                    target = location
                trace.final_url = target
                url = _parse(target, redirect=True)
                continue
            if method == "HEAD" and response.status_code in HEAD_FALLBACK_CODES:
                method = "GET"
                continue
            return _classify(response, trace.content_type)

    async def _request(self, method: str, url: httpx.URL) -> httpx.Response:
        headers = {"Range": RANGE_HEADER} if method == "GET" else None
        request = self._client.build_request(method, url, headers=headers, timeout=self._timeout)
        response = await self._client.send(request, stream=True, follow_redirects=False)
        try:
            # A short body is read to the end so the connection can be reused; an image that
            # ignores Range is cut off after MAX_BODY_BYTES.
            if not response.is_stream_consumed:  # a mock transport may have read it already
                received = 0
                raw = cast(AsyncGenerator[bytes, None], response.aiter_raw())
                async with contextlib.aclosing(raw) as chunks:
                    async for chunk in chunks:
                        received += len(chunk)
                        if received >= MAX_BODY_BYTES:
                            break
        finally:
            await response.aclose()
        return response


# --------------------------------------------------------------------------------------------
# Public entry points


async def _aiter(
    items: Iterable[tuple[str, str]] | AsyncIterable[tuple[str, str]],
) -> AsyncGenerator[tuple[str, str], None]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def check_links(
    items: Iterable[tuple[str, str]] | AsyncIterable[tuple[str, str]],
    *,
    concurrency: int = 50,
    per_host: int = 8,
    allow_private: bool = False,
    allow_hosts: Collection[str] = (),
    timeout: float = 10.0,
    max_redirects: int = 5,
    client: httpx.AsyncClient | None = None,
    resolve: Resolve | None = None,
) -> AsyncIterator[LinkResult]:
    """Check ``(key, url)`` pairs, yielding results in completion order.

    ``timeout`` bounds each DNS lookup and each request (connect, headers and the few body
    bytes read), not the wait for a per-host slot. ``client`` must not follow redirects on its
    own (requests are sent with ``follow_redirects=False`` anyway); when omitted, a client with
    the address-pinning transport is created and closed here. Raises ``UsageError`` for bad
    settings before checking anything.
    """
    async with _Checker.open(
        concurrency=concurrency,
        per_host=per_host,
        allow_private=allow_private,
        allow_hosts=allow_hosts,
        timeout=timeout,
        max_redirects=max_redirects,
        client=client,
        resolve=resolve,
    ) as checker:
        source = _aiter(items)
        running: set[asyncio.Task[LinkResult]] = set()
        finished: asyncio.Queue[asyncio.Task[LinkResult]] = asyncio.Queue()
        exhausted = False
        try:
            while True:
                while not exhausted and len(running) < concurrency:
                    try:
                        key, url = await anext(source)
                    except StopAsyncIteration:
                        exhausted = True
                        break
                    task = asyncio.create_task(checker.check(key, url))
                    task.add_done_callback(finished.put_nowait)
                    running.add(task)
                if not running:
                    return
                task = await finished.get()
                running.discard(task)
                yield task.result()
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            await source.aclose()


async def check_link(
    url: str,
    *,
    key: str | None = None,
    allow_private: bool = False,
    allow_hosts: Collection[str] = (),
    timeout: float = 10.0,
    max_redirects: int = 5,
    client: httpx.AsyncClient | None = None,
    resolve: Resolve | None = None,
) -> LinkResult:
    """Check one URL with the same rules as ``check_links``; ``key`` defaults to the URL."""
    async with _Checker.open(
        concurrency=1,
        per_host=1,
        allow_private=allow_private,
        allow_hosts=allow_hosts,
        timeout=timeout,
        max_redirects=max_redirects,
        client=client,
        resolve=resolve,
    ) as checker:
        return await checker.check(url if key is None else key, url)
