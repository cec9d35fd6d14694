"""The network guard (coverctl/net/guard.py) on its real, pinned path: real local HTTP and TLS
servers stand in for public hosts.

Every TCP connection the guard opens goes through ``guard.open_tcp``, replaced here by a
recorder that connects only the public test addresses mapped to a local server and refuses
anything else, and names are answered by a scripted resolver: nothing leaves this machine, and
each test sees every address the guard tried to reach.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import trustme

from coverctl.config import Settings
from coverctl.errors import ImageRejected, UsageError
from coverctl.models import Query
from coverctl.net import guard
from coverctl.net.guard import AllowRules, Guard, GuardedTransport
from coverctl.net.pictures import download_image
from coverctl.resolver import Resolver, close_resolver, open_resolver
from tests.conftest import FAST_RETRIES
from tests.fakes.base import serve
from tests.fakes.duckduckgo import FakeDuckDuckGo, image_result
from tests.fakes.images import FakeImageHost, sharp_photo
from tests.fakes.routing import HostRouter
from tests.resolving import FAST_RATES

PUBLIC = "93.184.216.34"  # what the test names resolve to first; served by a local server
PRIVATE = "10.0.0.7"
BRUCE = Query("Bruce Wayne", "The Dark Knight", 2008, "movie")
WIKI = "https://batman.fandom.com/wiki/Bruce_Wayne_(The_Dark_Knight)"


class ScriptedDns:
    """Answers each name with its list of answers in turn (the last one from then on)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str) -> list[str]:
        self.calls.append(host)
        script = self.answers.get(host)
        if script is None:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: not in the test's DNS")
        return script[min(self.calls.count(host), len(script)) - 1]


class Network:
    """guard.open_tcp replaced: every attempt is recorded; only (address, port) pairs mapped to
    a local port are connected (to 127.0.0.1), anything else fails as unreachable."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.routes: dict[tuple[str, int], int] = {}
        self.attempts: list[tuple[str, int]] = []
        real_open = guard.open_tcp

        async def recording_open(backend: Any, address: str, port: int, *args: Any) -> Any:
            self.attempts.append((address, port))
            local_port = self.routes.get((address, port))
            if local_port is None:
                raise OSError(f"tests never connect to {address}:{port}")
            return await real_open(backend, "127.0.0.1", local_port, *args)

        monkeypatch.setattr(guard, "open_tcp", recording_open)


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    return Network(monkeypatch)


@pytest.fixture
def pictures() -> FakeImageHost:
    return FakeImageHost("pictures.example")


@pytest.fixture
def picture_port(pictures: FakeImageHost, network: Network) -> Iterator[int]:
    """The picture host served on 127.0.0.1, reached at PUBLIC:80."""
    with serve(pictures) as base:
        port = int(base.rsplit(":", 1)[1])
        network.routes[(PUBLIC, 80)] = port
        yield port


def open_guarded(settings: Settings, dns: ScriptedDns, hosts: dict[str, Any]) -> Resolver:
    """A resolver whose APIs are fakes (MockTransport) and whose downloads take the real,
    pinned guard path with `dns` as the resolver."""
    return open_resolver(
        settings,
        transport=HostRouter(hosts).transport(),
        policy=FAST_RETRIES,
        guarded_transport=GuardedTransport(Guard(resolve=dns)),
    )


def web_resolve(settings: Settings, dns: ScriptedDns, ddg: FakeDuckDuckGo) -> Any:
    async def run() -> Any:
        resolver = open_guarded(settings, dns, {"duckduckgo.com": ddg})
        try:
            return await resolver.resolve(BRUCE)
        finally:
            await close_resolver(resolver)

    return asyncio.run(run())


def download(settings: Settings, dns: ScriptedDns, url: str, *, untrusted: bool) -> bytes:
    async def run() -> bytes:
        resolver = open_guarded(settings, dns, {})
        try:
            return await download_image(resolver.context, url, untrusted=untrusted)
        finally:
            await close_resolver(resolver)

    return asyncio.run(run())


# --- pinning: no DNS rebinding --------------------------------------------------------------


def test_web_picture_of_a_rebinding_name_is_fetched_from_the_vetted_address_only(
    make_settings: Callable[..., Settings],
    network: Network,
    pictures: FakeImageHost,
    picture_port: int,
) -> None:
    pictures.add("bruce.jpg", sharp_photo())
    url = "http://pictures.example/bruce.jpg"
    ddg = FakeDuckDuckGo()
    ddg.results = [image_result("Bruce Wayne", url, WIKI)]
    # Public when vetted, private on any later lookup: a second resolution would connect there.
    dns = ScriptedDns({"pictures.example": [[PUBLIC], [PRIVATE]]})
    result = web_resolve(make_settings(**FAST_RATES), dns, ddg)
    assert result.status == "resolved" and result.candidate is not None
    assert result.candidate.image_url == url
    assert network.attempts == [(PUBLIC, 80)]
    assert dns.calls == ["pictures.example"]
    assert [r.headers["host"] for r in pictures.requests] == ["pictures.example"]


def test_name_that_resolves_private_is_refused_without_connecting(
    make_settings: Callable[..., Settings], network: Network
) -> None:
    dns = ScriptedDns({"pictures.example": [[PUBLIC, PRIVATE]]})
    with pytest.raises(ImageRejected, match="resolves to a private or local network address"):
        download(make_settings(), dns, "http://pictures.example/x.jpg", untrusted=True)
    assert network.attempts == []


# --- redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize("untrusted", [True, False], ids=["web-picture", "provider-picture"])
@pytest.mark.parametrize(
    "location",
    ["http://internal.example/bruce.jpg", "http://169.254.169.254/latest/meta-data/"],
    ids=["name", "literal"],
)
def test_redirect_to_a_private_address_is_refused_at_the_hop(
    make_settings: Callable[..., Settings],
    network: Network,
    pictures: FakeImageHost,
    picture_port: int,
    location: str,
    untrusted: bool,
) -> None:
    """Untrusted URLs are followed hop by hop by download_image, trusted ones by httpx: either
    way the hop goes through the guard and is refused before a connection is tried."""
    pictures.fail_next(r"bruce\.jpg", 302, headers={"Location": location})
    dns = ScriptedDns({"pictures.example": [[PUBLIC]], "internal.example": [[PRIVATE]]})
    with pytest.raises(ImageRejected, match="private or local network address"):
        download(make_settings(), dns, "http://pictures.example/bruce.jpg", untrusted=untrusted)
    assert network.attempts == [(PUBLIC, 80)]
    assert pictures.downloads() == ["/bruce.jpg"]


def test_redirect_to_a_public_address_is_followed_through_the_guard(
    make_settings: Callable[..., Settings],
    network: Network,
    pictures: FakeImageHost,
    picture_port: int,
) -> None:
    pictures.add("new.jpg", sharp_photo())
    pictures.fail_next(r"old\.jpg", 301, headers={"Location": "http://mirror.example/new.jpg"})
    network.routes[("93.184.216.35", 80)] = picture_port
    dns = ScriptedDns({"pictures.example": [[PUBLIC]], "mirror.example": [["93.184.216.35"]]})
    data = download(make_settings(), dns, "http://pictures.example/old.jpg", untrusted=True)
    assert data == sharp_photo()
    assert network.attempts == [(PUBLIC, 80), ("93.184.216.35", 80)]
    assert [r.headers["host"] for r in pictures.requests] == ["pictures.example", "mirror.example"]


# --- the allow rules ------------------------------------------------------------------------


def test_configured_provider_host_is_trusted_for_provider_pictures_only(
    make_settings: Callable[..., Settings], network: Network, pictures: FakeImageHost
) -> None:
    pictures.add("t/p/w500/bale.jpg", sharp_photo())
    with serve(pictures) as base:
        port = int(base.rsplit(":", 1)[1])
        network.routes[("127.0.0.1", port)] = port
        settings = make_settings(TMDB_IMAGE_BASE_URL=f"{base}/t/p")
        dns = ScriptedDns({})
        url = f"{base}/t/p/w500/bale.jpg"
        assert download(settings, dns, url, untrusted=False) == sharp_photo()
        with pytest.raises(ImageRejected, match="private or local network address"):
            download(settings, dns, url, untrusted=True)  # a web result may not go there
        other_port = f"http://127.0.0.1:{port + 1}/t/p/w500/bale.jpg"
        with pytest.raises(ImageRejected, match="private or local network address"):
            download(settings, dns, other_port, untrusted=False)  # only the configured port
    assert network.attempts == [("127.0.0.1", port)]


def test_allow_rules_parse_hosts_and_ports_and_refuse_nonsense() -> None:
    rules = AllowRules.parse(["Images.Test", "127.0.0.1:8080", "[::1]:9000"])
    assert rules.exempts("images.test", 443) and rules.exempts("IMAGES.test", 80)
    assert rules.exempts("127.0.0.1", 8080) and not rules.exempts("127.0.0.1", 8081)
    assert rules.exempts("::1", 9000) and not rules.exempts("::1", 80)
    assert AllowRules.parse([], allow_private=True).exempts("10.0.0.7", 80)
    assert not AllowRules().exempts("10.0.0.7", 80)
    urls = AllowRules.for_urls(["https://img.example/t/p", "http://127.0.0.1:5000/x", None])
    assert urls.host_ports == frozenset({"img.example:443", "127.0.0.1:5000"})
    with pytest.raises(UsageError, match="host or host:port"):
        AllowRules.parse(["images.test:http"])


# --- TLS: the name stays the name ------------------------------------------------------------


class TlsServer:
    """An HTTPS server on 127.0.0.1 with a certificate for `name`, recording the SNI name and
    the Host header of what it receives."""

    def __init__(self, ca: trustme.CA, name: str) -> None:
        self.server_names: list[str | None] = []
        self.hosts: list[str | None] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(name).configure_cert(context)
        context.sni_callback = lambda _sock, server_name, _ctx: self.server_names.append(
            server_name
        )
        hosts = self.hosts

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                hosts.append(self.headers.get("Host"))
                body = sharp_photo()
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,))
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def fetch_over_tls(ca: trustme.CA, url: str, dns: ScriptedDns) -> httpx.Response:
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    async def run() -> httpx.Response:
        transport = GuardedTransport(Guard(resolve=dns), ssl_context=client_context)
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get(url)
            await response.aread()
            return response

    return asyncio.run(run())


def test_tls_sni_certificate_and_host_header_use_the_original_name(
    ca: trustme.CA, network: Network
) -> None:
    server = TlsServer(ca, "pictures.example")
    try:
        network.routes[(PUBLIC, 443)] = server.port
        dns = ScriptedDns({"pictures.example": [[PUBLIC]]})
        response = fetch_over_tls(ca, "https://pictures.example/bruce.jpg", dns)
    finally:
        server.close()
    assert response.status_code == 200 and response.content == sharp_photo()
    assert network.attempts == [(PUBLIC, 443)]
    assert server.server_names == ["pictures.example"]
    assert server.hosts == ["pictures.example"]


def test_certificate_for_another_name_is_refused(ca: trustme.CA, network: Network) -> None:
    server = TlsServer(ca, "elsewhere.example")
    try:
        network.routes[(PUBLIC, 443)] = server.port
        dns = ScriptedDns({"pictures.example": [[PUBLIC]]})
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            fetch_over_tls(ca, "https://pictures.example/bruce.jpg", dns)
    finally:
        server.close()
    assert server.hosts == []


# --- a provider's own picture host ------------------------------------------------------------


def test_a_providers_own_picture_host_is_fetched_like_its_api_and_its_redirects_are_vetted(
    make_settings: Callable[..., Settings],
) -> None:
    """artworks.thetvdb.com is TVDB's own CDN: its pictures go through the ordinary client (as
    the API does, proxies included), not the pinned guard; a redirect that leaves the provider's
    hosts comes back to the guard and is judged there."""
    artworks = FakeImageHost("artworks.thetvdb.com")
    artworks.add("banners/walter.jpg", sharp_photo())
    artworks.fail_next(r"moved\.jpg", 302, headers={"Location": "http://internal.example/x.jpg"})
    dns = ScriptedDns({"internal.example": [[PRIVATE]]})  # the guard never resolves the CDN

    async def run(url: str) -> bytes:
        resolver = open_resolver(
            make_settings(),
            transport=HostRouter({"artworks.thetvdb.com": artworks}).transport(),
            policy=FAST_RETRIES,
            guarded_transport=GuardedTransport(Guard(resolve=dns)),
        )
        try:
            return await download_image(resolver.context, url, untrusted=False)
        finally:
            await close_resolver(resolver)

    assert asyncio.run(run("https://artworks.thetvdb.com/banners/walter.jpg")) == sharp_photo()
    assert "artworks.thetvdb.com" not in dns.calls
    with pytest.raises(ImageRejected, match="private or local network address"):
        asyncio.run(run("https://artworks.thetvdb.com/banners/moved.jpg"))
    assert dns.calls == ["internal.example"]
