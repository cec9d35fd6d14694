"""The network guard: the one way coverctl connects to a URL that came from outside.

Stored links (`dead-links`), web-search pictures, picture checks (`--verify` and the default
ones), assets that image services return and report thumbnails are all fetched through
``GuardedTransport``, an httpx transport. Provider API calls (TMDB/TVDB JSON) are not: their
URLs are built from settings, not taken from answers.

The rules
    A host is refused (``AddressRefused``) when it is a local name (``localhost``,
    ``*.localhost``) or when ANY address it is or resolves to is not public (see
    ``is_public_address``: loopback, private, shared, link-local with the cloud metadata address,
    multicast, reserved, unspecified, and the IPv6 forms that embed such an IPv4 address). IP
    literals, including the numeric spellings the OS accepts (``2130706433``, ``0x7f.1``), are
    judged as they are, without a lookup. ``AllowRules`` exempt hosts from the address rules:
    everything (`dead-links --allow-private`), exact ``host`` or ``host:port`` entries
    (`--allow-host`, the configured provider hosts for provider pictures).

Pinned connections (no DNS rebinding)
    For every request the transport resolves the host once (``Guard.vet``, through the injected
    resolver or ``system_resolve``; answers cached ``GUARD_DNS_TTL`` and shared by concurrent
    requests), vets every address, and pins them: the connection for that request goes to a
    vetted address and nowhere else, never to a fresh DNS answer. The pin is made with httpcore's
    public extension point, a connection pool with a network backend of ours
    (``AsyncConnectionPool(network_backend=...)``); the pool still knows the URL's host name, so
    the Host header, TLS SNI and the certificate check all use the original name. Every outgoing
    TCP connection goes through ``open_tcp``; tests replace it to record (and forbid) attempts.

Redirects
    The transport sends one request and never follows a redirect itself; whoever follows one
    (the link checker and untrusted picture downloads hop by hop, httpx for trusted pictures)
    sends the next hop through the same transport, which vets it like the first.

An inner transport
    ``GuardedTransport(inner=...)`` vets each request and hands it to that transport instead of
    connecting (tests pass httpx's ``MockTransport``, which connects nowhere). The guard then
    cannot pin, and a name the resolver does not know is left to the inner transport.

Pools
    httpcore's pool does O(connections²) bookkeeping per request: one pool of 100 connections
    spent more CPU on that than on HTTP. So each request borrows a pool that keeps a single
    connection, preferring one whose kept-alive connection goes to the same origin, and gives
    it back when its response is closed: keep-alive still works, and pools are created only as
    concurrency demands. A borrowed pool serves one request at a time, which is also what makes
    its pin unambiguous.
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
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
)
from dataclasses import dataclass
from typing import Any, Final

import httpcore
import httpx

from coverctl.constants import (
    GUARD_DNS_CACHE_SIZE,
    GUARD_DNS_NEGATIVE_TTL,
    GUARD_DNS_TTL,
    GUARD_KEEPALIVE_EXPIRY,
)
from coverctl.errors import AddressRefused, UsageError

__all__ = [
    "ALLOW_EXTENSION",
    "AddressRefused",
    "AllowRules",
    "Guard",
    "GuardedTransport",
    "NameNotResolved",
    "Resolve",
    "host_port",
    "is_public_address",
    "open_tcp",
    "refusal_without_lookup",
    "system_resolve",
]

Resolve = Callable[[str], Awaitable[list[str]]]

# A request extension: extra AllowRules for this one request (provider pictures allow the
# configured provider hosts; web results allow nothing).
ALLOW_EXTENSION: Final = "coverctl.allow"
LOCAL_NAMES: Final = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


# --------------------------------------------------------------------------------------------
# Address rules: the only place that decides which addresses coverctl may connect to


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
    """True when ``ip`` is a globally routable unicast address coverctl may connect to.

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
        return str(ipaddress.ip_address(host.strip("[]")))
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


def _refusal(host: str, literal: str | None) -> AddressRefused | None:
    if literal is not None:
        if is_public_address(literal):
            return None
        return AddressRefused(
            f"Host {host} is not a public address; refused.", host=host, kind=AddressRefused.LITERAL
        )
    if _is_local_name(host):
        return AddressRefused(
            f"Host {host} is a local name; refused.", host=host, kind=AddressRefused.LOCAL_NAME
        )
    return None


def refusal_without_lookup(host: str) -> AddressRefused | None:
    """Why ``host`` is refused before any DNS lookup (a local name, or an IP literal that is not
    public), or None when only its addresses can tell. Pure: nothing is resolved."""
    return _refusal(host, _ip_literal(host))


@dataclass(frozen=True)
class AllowRules:
    """Exemptions from the address rules. The default exempts nothing.

    ``hosts`` are bare host names (any port), ``host_ports`` exact ``host:port`` entries (IPv6
    without brackets: ``::1:8080`` is written ``[::1]:8080`` to ``parse``)."""

    private: bool = False
    hosts: frozenset[str] = frozenset()
    host_ports: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Collection[str], *, allow_private: bool = False) -> AllowRules:
        """Rules from ``host`` / ``host:port`` entries (IPv6 as ``[::1]:8080``); UsageError for
        an entry that is neither."""
        if isinstance(entries, str):
            entries = (entries,)
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
        return cls(allow_private, frozenset(hosts), frozenset(pairs))

    @classmethod
    def for_urls(cls, urls: Iterable[str | None]) -> AllowRules:
        """Rules exempting the exact host and port of each URL (its scheme's port if none)."""
        pairs: set[str] = set()
        for url in urls:
            if not url:
                continue
            try:
                parsed = httpx.URL(url)
            except (httpx.InvalidURL, ValueError):
                continue
            if parsed.host:
                port = parsed.port or (443 if parsed.scheme == "https" else 80)
                pairs.add(f"{parsed.host.lower()}:{port}")
        return cls(host_ports=frozenset(pairs))

    def exempts(self, host: str, port: int) -> bool:
        host = host.lower()
        return self.private or host in self.hosts or f"{host}:{port}" in self.host_ports


# --------------------------------------------------------------------------------------------
# Resolution


class NameNotResolved(httpx.ConnectError):
    """The host name has no address (a connection failure like any other for httpx callers)."""


async def system_resolve(host: str) -> list[str]:
    """The addresses `host` resolves to, from the system resolver. Every guard without a
    resolver of its own calls this by name, so tests replace it here."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def _default_resolve(host: str) -> list[str]:
    return await system_resolve(host)  # looked up when called: the test seam


class _DnsCache:
    """Resolves names once per ``GUARD_DNS_TTL``, sharing one lookup among concurrent callers."""

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
            raise NameNotResolved(answer)
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
        ttl = GUARD_DNS_NEGATIVE_TTL if isinstance(answer, str) else GUARD_DNS_TTL
        self._entries[host] = (time.monotonic() + ttl, answer)
        self._entries.move_to_end(host)
        while len(self._entries) > GUARD_DNS_CACHE_SIZE:
            self._entries.popitem(last=False)


class Guard:
    """Decides which addresses a connection to ``host:port`` may use."""

    def __init__(self, rules: AllowRules | None = None, *, resolve: Resolve | None = None) -> None:
        self.rules = rules or AllowRules()
        self._dns = _DnsCache(resolve or _default_resolve)

    def exempts(self, host: str, port: int, extra: AllowRules | None = None) -> bool:
        return self.rules.exempts(host, port) or (extra is not None and extra.exempts(host, port))

    async def vet(self, host: str, port: int, extra: AllowRules | None = None) -> list[str]:
        """The addresses a connection to ``host:port`` may use. Raises ``AddressRefused``, or
        ``NameNotResolved`` when the name has no address. ``extra`` adds exemptions."""
        exempt = self.exempts(host, port, extra)
        literal = _ip_literal(host)
        if not exempt and (refusal := _refusal(host, literal)) is not None:
            raise refusal
        if literal is not None:
            return [literal]
        addresses = await self._dns.lookup(host)
        if not exempt:
            blocked = [a for a in addresses if not is_public_address(a)]
            if blocked:
                raise AddressRefused(
                    f"Host {host} ({', '.join(blocked[:3])}) is not a public address; refused.",
                    host=host,
                    kind=AddressRefused.RESOLVED,
                )
        return addresses


# --------------------------------------------------------------------------------------------
# Connections to vetted addresses only


async def open_tcp(
    backend: httpcore.AsyncNetworkBackend,
    address: str,
    port: int,
    timeout: float | None,
    local_address: str | None,
    socket_options: Iterable[Any] | None,
) -> httpcore.AsyncNetworkStream:
    """Open one TCP connection to a vetted address. The single exit to the network; tests
    replace it."""
    return await backend.connect_tcp(
        address,
        port,
        timeout=timeout,
        local_address=local_address,
        socket_options=socket_options,
    )


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """The network backend of one borrowed pool: connects only to the addresses pinned for the
    request that pool is serving."""

    def __init__(self, network: httpcore.AsyncNetworkBackend) -> None:
        self._network = network
        self.pin: tuple[str, int, list[str]] | None = None

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pin = self.pin
        if pin is None or (pin[0], pin[1]) != (host, port):
            raise httpcore.ConnectError(f"{host}:{port} was not vetted; not connecting.")
        error: Exception = httpcore.ConnectError(f"No address to connect to for {host}.")
        for address in pin[2]:
            try:
                return await open_tcp(
                    self._network, address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
            except OSError as exc:
                error = httpcore.ConnectError(f"{type(exc).__name__}: {exc}")
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are not used for URLs from outside.")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


# httpcore's exceptions as httpx's (the most specific first), as httpx's own transport maps them.
_HTTPCORE_ERRORS: Final[tuple[tuple[type[Exception], type[httpx.TransportError]], ...]] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _HTTPCORE_ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that gives its pool back when it is closed."""

    def __init__(self, stream: AsyncIterable[bytes], release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                with _httpx_errors():
                    await close()
        finally:
            if self._release is not None:
                self._release()
                self._release = None


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """Loading the CA bundle takes tens of milliseconds; do it once per process."""
    return httpx.create_ssl_context()


def _without_allow(extensions: dict[str, Any]) -> dict[str, Any]:
    """The request's extensions for httpcore, without ours."""
    if ALLOW_EXTENSION not in extensions:
        return extensions
    return {key: value for key, value in extensions.items() if key != ALLOW_EXTENSION}


def host_port(url: httpx.URL) -> tuple[str, int]:
    """The host (as sent: IDNA, no brackets) and port (the scheme's if none) of ``url``."""
    host = url.raw_host.decode("ascii")
    return host, url.port or (443 if url.scheme == "https" else 80)


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that vets every request's host and connects only to vetted addresses.

    ``guard`` holds the rules and the resolver (default: nothing exempt, ``system_resolve``).
    A request may carry extra ``AllowRules`` in its ``ALLOW_EXTENSION`` extension. Raises
    ``AddressRefused`` (not an httpx error: nothing was sent, and nothing should retry it) or
    ``NameNotResolved`` (an ``httpx.ConnectError``). ``inner``, ``ssl_context`` and ``network``
    (the httpcore backend that opens connections) are for tests.
    """

    def __init__(
        self,
        guard: Guard | None = None,
        *,
        inner: httpx.AsyncBaseTransport | None = None,
        ssl_context: ssl.SSLContext | None = None,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.guard = guard or Guard()
        self._inner = inner
        self._ssl_context = ssl_context
        self._network = network or httpcore.AnyIOBackend()
        self._lanes: list[tuple[httpcore.AsyncConnectionPool, _PinnedBackend]] = []
        # Lanes: single-connection pools, each with its backend. The free ones, least recently
        # released first, with the origin each last talked to.
        self._free: dict[int, str] = {}
        self._free_by_origin: dict[str, dict[int, None]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host, port = host_port(request.url)
        extra = request.extensions.get(ALLOW_EXTENSION)
        if extra is not None and not isinstance(extra, AllowRules):
            raise TypeError(f"{ALLOW_EXTENSION} must be AllowRules, not {type(extra).__name__}.")
        if self._inner is not None:
            with contextlib.suppress(NameNotResolved):  # left to the inner transport
                await self.guard.vet(host, port, extra)
            return await self._inner.handle_async_request(request)
        addresses = await self.guard.vet(host, port, extra)
        return await self._send_pinned(request, host, port, addresses)

    async def _send_pinned(
        self, request: httpx.Request, host: str, port: int, addresses: list[str]
    ) -> httpx.Response:
        assert isinstance(request.stream, AsyncIterable)
        url = request.url
        origin = f"{url.scheme}://{host}:{port}"
        index = self._borrow(origin)
        pool, backend = self._lanes[index]
        backend.pin = (host, port, addresses)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=_without_allow(request.extensions),
        )
        try:
            with _httpx_errors():
                response = await pool.handle_async_request(core_request)
        except BaseException:
            self._give_back(index, origin)
            raise
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ReleasingStream(response.stream, lambda: self._give_back(index, origin)),
            extensions=response.extensions,
        )

    def _borrow(self, origin: str) -> int:
        same = self._free_by_origin.get(origin)
        if same:
            index = next(iter(same))
        elif self._free:
            index = next(iter(self._free))
        else:
            backend = _PinnedBackend(self._network)
            pool = httpcore.AsyncConnectionPool(
                ssl_context=self._ssl_context or _default_ssl_context(),
                max_connections=None,
                max_keepalive_connections=1,
                keepalive_expiry=GUARD_KEEPALIVE_EXPIRY,
                network_backend=backend,
            )
            self._lanes.append((pool, backend))
            return len(self._lanes) - 1
        previous = self._free.pop(index)
        bucket = self._free_by_origin[previous]
        del bucket[index]
        if not bucket:
            del self._free_by_origin[previous]
        return index

    def _give_back(self, index: int, origin: str) -> None:
        self._lanes[index][1].pin = None
        self._free[index] = origin
        self._free_by_origin.setdefault(origin, {})[index] = None

    async def aclose(self) -> None:
        """Close the pools; an ``inner`` transport belongs to whoever passed it."""
        for pool, _ in self._lanes:
            await pool.aclose()
