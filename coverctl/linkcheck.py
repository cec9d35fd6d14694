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
    Before every request (the first and every redirect hop) ``_Guard.vet`` resolves the host
    (``loop.getaddrinfo`` by default, or the injected ``resolve``) and refuses it as
    ``refused_private`` when the name is ``localhost``/``*.localhost`` or ANY address it resolves
    to is not public (see ``is_public_address``). IP literals, including the numeric forms the OS
    accepts such as ``2130706433`` or ``0x7f.1``, are checked directly without a lookup.
    Answers are cached (``DNS_TTL``, failures ``DNS_NEGATIVE_TTL``) and shared by concurrent
    checks, so 100k URLs on a few hosts cost a few lookups.

    When ``check_links`` builds its own client, the connection itself goes through
    ``_PinnedBackend``: it vets the host again (a cache hit) and connects only to the vetted
    addresses, never to a fresh DNS answer, so a rebinding name cannot swap in a private address
    between the check and the connection. TLS still uses the host name for SNI and certificate
    checks. With a caller-supplied ``client`` the guard still runs before every hop, but the
    connection uses that client's own resolution.

    ``allow_private=True`` turns the address checks off. ``allow_hosts`` exempts exact entries,
    either ``"host"`` or ``"host:port"`` (IPv6 as ``"[::1]:8080"``), from them: tests allow the
    local test server's ``127.0.0.1:<port>`` and nothing else, so a redirect to
    ``http://localhost:<port>/``, ``http://127.0.0.2/`` or ``http://169.254.169.254/`` still goes
    through the real guard and is refused before any connection is attempted. Every outgoing
    TCP connection of the built-in client goes through ``_open_tcp``; tests replace it to record
    (and forbid) connection attempts.

Connections
    The built-in client keeps connections alive per origin. It does not use one big httpcore
    pool (whose bookkeeping is quadratic in its size and dominated the CPU profile at 100
    connections) but one single-connection pool per concurrent request, see ``_PinnedTransport``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
)
from dataclasses import asdict, dataclass
from typing import Any, Final, cast

import httpcore
import httpx

from coverctl.errors import UsageError

__all__ = ["LinkResult", "Status", "check_link", "check_links", "is_public_address"]

USER_AGENT: Final = "coverctl-linkcheck/0.1"
RANGE_HEADER: Final = "bytes=0-1023"
MAX_BODY_BYTES: Final = 4096
KEEPALIVE_EXPIRY: Final = 5.0
DNS_TTL: Final = 60.0
DNS_NEGATIVE_TTL: Final = 10.0
DNS_CACHE_SIZE: Final = 4096
REDIRECT_CODES: Final = frozenset({301, 302, 303, 307, 308})
HEAD_FALLBACK_CODES: Final = frozenset({403, 405, 501})
LOCAL_NAMES: Final = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

Resolve = Callable[[str], Awaitable[list[str]]]


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
# Address rules


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _is_global(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return addr.is_global and not (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
    )


def is_public_address(ip: str) -> bool:
    """True when ``ip`` is a globally routable unicast address a link may point at.

    False for loopback, private, shared (100.64/10), link-local (169.254/16, the cloud metadata
    address included), multicast, reserved and unspecified addresses, their IPv6 counterparts
    (::1, ::, fc00::/7, fe80::/10, fec0::/10, ff00::/8) and IPv6 forms that embed a non-public
    IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``).
    Also False for anything that is not an IP address.
    """
    try:
        addr = ipaddress.ip_address(ip.strip().strip("[]"))
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return _is_global(addr.ipv4_mapped)
        if addr in _NAT64:
            return _is_global(ipaddress.IPv4Address(int(addr) & 0xFFFF_FFFF))
        if addr.sixtofour is not None and not _is_global(addr.sixtofour):
            return False
        if addr.is_site_local:
            return False
    return _is_global(addr)


def _ip_literal(host: str) -> str | None:
    """The address ``host`` denotes if it is an IP literal in any form the OS accepts."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        # AI_NUMERICHOST never touches DNS; it accepts 2130706433, 0x7f.1, 0177.0.0.1, 127.1...
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    return str(infos[0][4][0]) if infos else None


def _is_local_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name in LOCAL_NAMES or name.endswith(".localhost")


# --------------------------------------------------------------------------------------------
# The guard


class _Stop(Exception):
    """Ends a check with a status; never leaves this module."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Refused(_Stop):
    def __init__(self, detail: str) -> None:
        super().__init__(Status.REFUSED_PRIVATE, detail)


class _DnsFailure(_Stop):
    def __init__(self, detail: str) -> None:
        super().__init__(Status.DNS_ERROR, detail)


async def system_resolve(host: str) -> list[str]:
    """The addresses `host` resolves to, from the system resolver."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class _DnsCache:
    """Resolves names once per ``DNS_TTL``, sharing one lookup among concurrent callers."""

    def __init__(self, resolve: Resolve) -> None:
        self._resolve = resolve
        self._entries: OrderedDict[str, tuple[float, list[str] | str]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[list[str] | str]] = {}

    async def lookup(self, host: str) -> list[str]:
        entry = self._entries.get(host)
        if entry is not None and entry[0] > time.monotonic():
            self._entries.move_to_end(host)
            answer = entry[1]
        else:
            future = self._pending.get(host)
            if future is None:
                future = asyncio.ensure_future(self._lookup(host))
                self._pending[host] = future
                future.add_done_callback(functools.partial(self._store, host))
            answer = await asyncio.shield(future)
        if isinstance(answer, str):
            raise _DnsFailure(answer)
        return answer

    async def _lookup(self, host: str) -> list[str] | str:
        """The addresses, or a sentence saying why there are none."""
        try:
            addresses = list(dict.fromkeys(await self._resolve(host)))
        except socket.gaierror as exc:
            return f"DNS lookup for {host} failed ({exc.strerror or exc})."
        except Exception as exc:
            return f"DNS lookup for {host} failed ({type(exc).__name__}: {exc})."
        if not addresses:
            return f"DNS lookup for {host} returned no address."
        return addresses

    def _store(self, host: str, future: asyncio.Future[list[str] | str]) -> None:
        self._pending.pop(host, None)
        if future.cancelled():
            return
        answer = future.result()
        ttl = DNS_NEGATIVE_TTL if isinstance(answer, str) else DNS_TTL
        self._entries[host] = (time.monotonic() + ttl, answer)
        self._entries.move_to_end(host)
        while len(self._entries) > DNS_CACHE_SIZE:
            self._entries.popitem(last=False)


def _parse_allow_hosts(entries: Collection[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Split ``allow_hosts`` into bare hosts and ``host:port`` pairs, normalised."""
    hosts: set[str] = set()
    pairs: set[str] = set()
    for raw in entries:
        entry = raw.strip().lower()
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            port = rest.removeprefix(":")
        elif entry.count(":") == 1:
            host, _, port = entry.partition(":")
        else:
            host, port = entry, ""
        if not host or (port and not port.isdigit()):
            raise UsageError(f"Bad allow_hosts entry {raw!r}: use host or host:port.")
        if port:
            pairs.add(f"{host}:{int(port)}")
        else:
            hosts.add(host)
    return frozenset(hosts), frozenset(pairs)


class _Guard:
    """Decides which addresses a connection to ``host:port`` may use."""

    def __init__(
        self, *, allow_private: bool, allow_hosts: Collection[str], resolve: Resolve | None
    ) -> None:
        self._allow_private = allow_private
        self._hosts, self._pairs = _parse_allow_hosts(allow_hosts)
        self._dns = _DnsCache(resolve or system_resolve)

    def _exempt(self, host: str, port: int) -> bool:
        host = host.lower()
        return self._allow_private or host in self._hosts or f"{host}:{port}" in self._pairs

    async def vet(self, host: str, port: int) -> list[str]:
        """The addresses to connect to; raises ``_Refused`` or ``_DnsFailure``."""
        exempt = self._exempt(host, port)
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            if not exempt and _is_local_name(host):
                raise _Refused(f"Host {host} is a local name; refused.")
            addresses = await self._dns.lookup(host)
        if not exempt:
            blocked = [a for a in addresses if not is_public_address(a)]
            if blocked:
                shown = host if literal is not None else f"{host} ({', '.join(blocked[:3])})"
                raise _Refused(f"Host {shown} is not a public address; refused.")
        return addresses


# --------------------------------------------------------------------------------------------
# Transport that connects only to vetted addresses


async def _open_tcp(
    backend: httpcore.AsyncNetworkBackend,
    address: str,
    port: int,
    timeout: float | None,
    local_address: str | None,
    socket_options: Iterable[Any] | None,
) -> httpcore.AsyncNetworkStream:
    """Open one TCP connection. The single exit to the network; tests replace it."""
    return await backend.connect_tcp(
        address,
        port,
        timeout=timeout,
        local_address=local_address,
        socket_options=socket_options,
    )


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, guard: _Guard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._guard.vet(host, port)
        error: Exception = httpcore.ConnectError(f"No address to connect to for {host}.")
        for address in addresses:
            try:
                return await _open_tcp(
                    self._inner, address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are not used by the link checker.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """Loading the CA bundle takes tens of milliseconds; do it once per process."""
    return httpx.create_ssl_context()


class _PinnedPool(httpx.AsyncHTTPTransport):
    """httpx's own transport over an httpcore pool that keeps one connection, via the guard."""

    def __init__(self, backend: _PinnedBackend, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=None,
            max_keepalive_connections=1,
            keepalive_expiry=KEEPALIVE_EXPIRY,
            network_backend=backend,
        )


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that gives its pool back when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                self._release()
                self._release = None


class _PinnedTransport(httpx.AsyncBaseTransport):
    """One single-connection ``_PinnedPool`` per concurrent request.

    httpcore's pool does O(connections²) work per request: one pool of 100 connections spent
    more CPU on bookkeeping than on HTTP. Here each request borrows a free pool, preferring one
    whose kept-alive connection goes to the same origin, and gives it back when its response is
    closed, so keep-alive still works and pools are created only as concurrency demands.
    """

    def __init__(self, guard: _Guard) -> None:
        self._backend = _PinnedBackend(guard)
        self._ssl_context = _default_ssl_context()
        self._pools: list[_PinnedPool] = []
        # Free pools, least recently released first, with the origin each last talked to.
        self._free: dict[int, str] = {}
        self._free_by_origin: dict[str, dict[int, None]] = {}

    def _borrow(self, origin: str) -> int:
        same = self._free_by_origin.get(origin)
        if same:
            index = next(iter(same))
        elif self._free:
            index = next(iter(self._free))
        else:
            self._pools.append(_PinnedPool(self._backend, self._ssl_context))
            return len(self._pools) - 1
        previous = self._free.pop(index)
        bucket = self._free_by_origin[previous]
        del bucket[index]
        if not bucket:
            del self._free_by_origin[previous]
        return index

    def _give_back(self, index: int, origin: str) -> None:
        self._free[index] = origin
        self._free_by_origin.setdefault(origin, {})[index] = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = f"{url.scheme}://{url.raw_host.decode('ascii')}:{url.port}"
        index = self._borrow(origin)
        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            self._give_back(index, origin)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(response.stream, lambda: self._give_back(index, origin)),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


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


def _host_port(url: httpx.URL) -> tuple[str, int]:
    host = url.raw_host.decode("ascii")
    return host, url.port or (443 if url.scheme == "https" else 80)


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
        guard: _Guard,
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
        if isinstance(allow_hosts, str):
            allow_hosts = (allow_hosts,)
        guard = _Guard(allow_private=allow_private, allow_hosts=allow_hosts, resolve=resolve)
        make = functools.partial(
            cls, guard=guard, per_host=per_host, timeout=timeout, max_redirects=max_redirects
        )
        if client is not None:
            yield make(client)
            return
        async with httpx.AsyncClient(
            transport=_PinnedTransport(guard),
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
            host, port = _host_port(url)
            try:
                async with asyncio.timeout(self._timeout):
                    await self._guard.vet(host, port)
            except TimeoutError:
                raise _DnsFailure(f"DNS lookup for {host} timed out.") from None
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
