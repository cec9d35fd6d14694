"""Tests of coverctl.net.linkcheck against a real HTTP server on 127.0.0.1.

Hermetic by construction (autouse ``network`` fixture): every TCP connection the checker opens
goes through ``coverctl.net.guard.open_tcp``, which is replaced by a recorder that refuses
anything but 127.0.0.1, and ``socket.getaddrinfo`` only answers numeric hosts, so no test can
send a packet or a DNS query off this machine even if the guard were broken.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from coverctl.errors import UsageError
from coverctl.net.linkcheck import LinkResult, check_link, check_links, is_public_address
from tests.fakes.image_server import ImageServer, guard_network


@pytest.fixture(scope="module")
def server() -> Iterator[ImageServer]:
    with ImageServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def network(monkeypatch: pytest.MonkeyPatch, server: ImageServer) -> list[tuple[str, int]]:
    """Record every connection attempt; allow only 127.0.0.1; no DNS."""
    server.reset()
    return guard_network(monkeypatch, lambda address, port: address == "127.0.0.1")


def fake_dns(table: dict[str, list[str]], calls: list[str] | None = None) -> Any:
    async def resolve(host: str) -> list[str]:
        if calls is not None:
            calls.append(host)
        await asyncio.sleep(0)
        if host in table:
            return table[host]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    return resolve


def check(url: str, **kwargs: Any) -> LinkResult:
    return asyncio.run(check_link(url, **kwargs))


def check_on(server: ImageServer, path: str, **kwargs: Any) -> LinkResult:
    kwargs.setdefault("allow_hosts", [server.host_port])
    kwargs.setdefault("timeout", 2.0)
    return check(server.url(path), **kwargs)


def collect(items: Any, **kwargs: Any) -> list[LinkResult]:
    async def run() -> list[LinkResult]:
        return [r async for r in check_links(items, **kwargs)]

    return asyncio.run(run())


# ---- outcomes of one URL ------------------------------------------------------------------


def test_live_image_is_alive_with_a_single_head(server: ImageServer) -> None:
    result = check_on(server, "/img/ok.jpg", key="row-1")
    assert result.alive and result.status == "ok"
    assert (result.key, result.http_status, result.content_type) == ("row-1", 200, "image/jpeg")
    assert result.final_url == server.url("/img/ok.jpg")
    assert [(r.method, r.path) for r in server.requests] == [("HEAD", "/img/ok.jpg")]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [("/missing.jpg", "http_404", 404), ("/status/500", "http_500", 500)],
)
def test_error_answers_are_dead(server: ImageServer, path: str, status: str, code: int) -> None:
    result = check_on(server, path)
    assert not result.alive
    assert (result.status, result.http_status) == (status, code)


@pytest.mark.parametrize("head_status", [405, 403])
def test_head_refused_falls_back_to_a_ranged_get(server: ImageServer, head_status: int) -> None:
    result = check_on(server, f"/nohead.jpg?head={head_status}")
    assert result.alive and result.status == "ok"
    assert (result.http_status, result.content_type) == (206, "image/png")
    log = server.requests
    assert [r.method for r in log] == ["HEAD", "GET"]
    assert log[0].range is None
    assert log[1].range == "bytes=0-1023"


@pytest.mark.parametrize(
    ("path", "status"),
    [("/soft404.jpg", "soft_404"), ("/data.json", "not_image"), ("/noctype.jpg", "not_image")],
)
def test_non_image_success_is_dead(server: ImageServer, path: str, status: str) -> None:
    result = check_on(server, path)
    assert not result.alive
    assert (result.status, result.http_status) == (status, 200)


# ---- redirects ----------------------------------------------------------------------------


def test_redirect_chain_of_three_is_followed(server: ImageServer) -> None:
    result = check_on(server, "/redirect/3")
    assert result.alive
    assert result.final_url == server.url("/img/ok.jpg")
    assert server.paths() == ["/redirect/3", "/redirect/2", "/redirect/1", "/img/ok.jpg"]


def test_redirect_chain_of_six_is_too_many(server: ImageServer) -> None:
    result = check_on(server, "/redirect/6")
    assert not result.alive and result.status == "too_many_redirects"
    assert len(server.requests) == 6  # the first request and five hops; the image never
    assert "/img/ok.jpg" not in server.paths()


def test_max_redirects_is_configurable(server: ImageServer) -> None:
    assert check_on(server, "/redirect/6", max_redirects=6).alive
    assert check_on(server, "/redirect/1", max_redirects=0).status == "too_many_redirects"


def test_redirect_loop_is_too_many(server: ImageServer) -> None:
    assert check_on(server, "/loop").status == "too_many_redirects"


# ---- the SSRF guard -----------------------------------------------------------------------


def test_redirect_to_localhost_is_refused_and_never_requested(
    server: ImageServer, network: list[tuple[str, int]]
) -> None:
    calls: list[str] = []
    result = check_on(server, "/to-loopback", resolve=fake_dns({}, calls))
    assert not result.alive and result.status == "refused_private"
    assert result.final_url == server.url("/img/ok.jpg", host="localhost")
    assert server.paths() == ["/to-loopback"]
    assert network == [("127.0.0.1", server.port)]
    assert calls == []  # refused by name, before any lookup


def test_redirect_to_other_loopback_address_is_refused(
    server: ImageServer, network: list[tuple[str, int]]
) -> None:
    result = check_on(server, "/to-loopback?host=127.0.0.2")
    assert result.status == "refused_private"
    assert server.paths() == ["/to-loopback"]
    assert all(address == "127.0.0.1" for address, _ in network)


def test_redirect_to_loopback_is_followed_with_allow_private(server: ImageServer) -> None:
    result = check(
        server.url("/to-loopback"),
        allow_private=True,
        resolve=fake_dns({"localhost": ["127.0.0.1"]}),
    )
    assert result.alive
    assert result.final_url == server.url("/img/ok.jpg", host="localhost")
    assert [(r.path, r.host) for r in server.requests] == [
        ("/to-loopback", server.host_port),
        ("/img/ok.jpg", f"localhost:{server.port}"),
    ]


def test_redirect_to_cloud_metadata_is_refused_without_connecting(
    server: ImageServer, network: list[tuple[str, int]]
) -> None:
    result = check_on(server, "/to-metadata")
    assert result.status == "refused_private"
    assert result.final_url == "http://169.254.169.254/latest/meta-data/"
    assert network == [("127.0.0.1", server.port)]  # the first request only
    assert server.paths() == ["/to-metadata"]


def test_guard_runs_on_every_hop_with_a_caller_supplied_client() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/"})

    async def run() -> LinkResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await check_link(
                "http://images.test/a.jpg",
                client=client,
                resolve=fake_dns({"images.test": ["93.184.216.34"]}),
            )

    assert asyncio.run(run()).status == "refused_private"
    assert seen == ["http://images.test/a.jpg"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/img/ok.jpg",  # the live test server itself, not allowed here
        "http://10.1.2.3/a.jpg",
        "http://192.168.0.10/a.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/img/ok.jpg",
        "http://[::ffff:127.0.0.1]:{port}/img/ok.jpg",
        "http://[fd00::1]/a.jpg",
        "http://2130706433:{port}/img/ok.jpg",  # 127.0.0.1 as one number
        "http://0x7f.1:{port}/img/ok.jpg",
        "http://0.0.0.0:{port}/img/ok.jpg",
    ],
)
def test_private_ip_literals_are_refused_without_io(
    server: ImageServer, network: list[tuple[str, int]], url: str
) -> None:
    calls: list[str] = []
    result = check(url.format(port=server.port), resolve=fake_dns({}, calls))
    assert (result.status, result.alive) == ("refused_private", False)
    assert network == [] and server.requests == [] and calls == []


@pytest.mark.parametrize(
    "addresses", [["127.0.0.1"], ["10.0.0.7"], ["93.184.216.34", "10.0.0.7"], ["fe80::1"]]
)
def test_names_resolving_to_any_private_address_are_refused(
    server: ImageServer, network: list[tuple[str, int]], addresses: list[str]
) -> None:
    url = server.url("/img/ok.jpg", host="evil.test")
    result = check(url, resolve=fake_dns({"evil.test": addresses}))
    assert result.status == "refused_private"
    assert network == [] and server.requests == []


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "api.localhost"])
def test_local_names_are_refused(server: ImageServer, host: str) -> None:
    result = check(server.url("/img/ok.jpg", host=host), resolve=fake_dns({host: ["1.1.1.1"]}))
    assert result.status == "refused_private"


def test_connection_goes_to_the_vetted_address_only(
    server: ImageServer, network: list[tuple[str, int]]
) -> None:
    """The transport connects to what the guard resolved (system DNS cannot resolve .test)."""
    calls: list[str] = []
    host = f"pinned.test:{server.port}"
    items = [(str(i), server.url(f"/img/{i}.jpg", host="pinned.test")) for i in range(5)]
    results = collect(
        items, allow_hosts=[host], resolve=fake_dns({"pinned.test": ["127.0.0.1"]}, calls)
    )
    assert all(r.alive for r in results)
    assert {r.host for r in server.requests} == {host}  # Host header keeps the name
    assert set(network) == {("127.0.0.1", server.port)}
    assert calls == ["pinned.test"]  # one lookup, cached and shared


def test_allow_hosts_is_exact_about_the_port(server: ImageServer) -> None:
    result = check_on(server, "/img/ok.jpg", allow_hosts=["127.0.0.1:1"])
    assert result.status == "refused_private"


def test_dns_failure_is_dns_error(network: list[tuple[str, int]]) -> None:
    result = check("http://nowhere.test/a.jpg", resolve=fake_dns({}))
    assert (result.status, result.alive) == ("dns_error", False)
    assert "nowhere.test" in result.detail and network == []


def test_default_resolver_failure_is_dns_error() -> None:
    # getaddrinfo is numeric-only in these tests, so this fails without a DNS query.
    assert check("http://images.test/a.jpg").status == "dns_error"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://ftp.example.com/a.jpg",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
    ],
)
def test_other_schemes_are_refused_without_io(network: list[tuple[str, int]], url: str) -> None:
    calls: list[str] = []
    result = check(url, resolve=fake_dns({}, calls))
    assert (result.status, result.alive) == ("refused_scheme", False)
    assert network == [] and calls == []


def test_redirect_to_file_scheme_is_refused(server: ImageServer) -> None:
    result = check_on(server, "/to-file")
    assert result.status == "refused_scheme"
    assert server.paths() == ["/to-file"]


@pytest.mark.parametrize("url", ["", "   ", "http://", "http:///a.jpg", "http://[::1/a.jpg"])
def test_invalid_urls(url: str) -> None:
    assert check(url).status == "invalid_url"


@pytest.mark.parametrize(
    ("ip", "public"),
    [
        ("93.184.216.34", True),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:93.184.216.34", True),
        ("64:ff9b::808:808", True),  # NAT64 form of 8.8.8.8
        ("127.0.0.1", False),
        ("127.255.0.2", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.0.2.1", False),  # documentation range
        ("::1", False),
        ("::", False),
        ("fc00::1", False),
        ("fd12:3456::1", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("64:ff9b::7f00:1", False),  # NAT64 form of 127.0.0.1
        ("2002:7f00:1::", False),  # 6to4 form of 127.0.0.1
        ("::127.0.0.1", False),
        ("localhost", False),
        ("not an ip", False),
        ("", False),
    ],
)
def test_is_public_address(ip: str, public: bool) -> None:
    assert is_public_address(ip) is public


# ---- failures -----------------------------------------------------------------------------


def test_slow_server_times_out_quickly() -> None:
    with ImageServer(slow_seconds=3.0) as slow:
        started = time.monotonic()
        result = check(slow.url("/slow.jpg"), allow_hosts=[slow.host_port], timeout=0.3)
        elapsed = time.monotonic() - started
    assert (result.status, result.alive) == ("timeout", False)
    assert elapsed < 2.0 and result.elapsed_ms < 2000


def test_closed_port_is_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = check(f"http://127.0.0.1:{port}/a.jpg", allow_hosts=[f"127.0.0.1:{port}"])
    assert (result.status, result.alive) == ("connection_error", False)


def test_bad_settings_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        collect([], concurrency=0)
    with pytest.raises(UsageError):
        collect([], allow_hosts=["host:port"])


# ---- streaming and limits -----------------------------------------------------------------


def test_per_host_limit_holds_when_one_host_dominates(server: ImageServer) -> None:
    hosts = ["a.test", "b.test", "c.test"]
    pattern = ["a.test"] * 4 + ["b.test", "c.test"]  # without the limit a.test gets ~4 at once
    items = [
        (str(i), server.url(f"/img/{i}.jpg?delay=0.03", host=pattern[i % 6])) for i in range(36)
    ]
    results = collect(
        items,
        concurrency=6,
        per_host=2,
        allow_hosts=[f"{h}:{server.port}" for h in hosts],
        resolve=fake_dns({host: ["127.0.0.1"] for host in hosts}),
    )
    assert len(results) == 36 and all(r.alive for r in results)
    by_host = server.max_in_flight_by_host
    assert by_host[f"a.test:{server.port}"] == 2, by_host
    assert max(by_host.values()) <= 2 and server.max_in_flight <= 6


def test_concurrency_bounds_a_single_host(server: ImageServer) -> None:
    items = [(str(i), server.url(f"/img/{i}.jpg?delay=0.05")) for i in range(30)]
    results = collect(items, concurrency=5, per_host=50, allow_hosts=[server.host_port])
    assert len(results) == 30
    assert server.max_in_flight == 5


def test_connections_are_kept_alive_and_reused(
    server: ImageServer, network: list[tuple[str, int]]
) -> None:
    items = [(str(i), server.url(f"/img/{i}.jpg")) for i in range(50)]
    results = collect(items, concurrency=5, allow_hosts=[server.host_port])
    assert all(r.alive for r in results)
    assert len(network) <= 5


def test_generator_of_1000_items_is_consumed_lazily(server: ImageServer) -> None:
    concurrency = 10
    produced = 0
    ahead: list[int] = []

    def items() -> Iterator[tuple[str, str]]:
        nonlocal produced
        for i in range(1000):
            produced += 1
            yield str(i), server.url(f"/img/{i}.jpg")

    async def run() -> list[LinkResult]:
        results = []
        async for result in check_links(
            items(), concurrency=concurrency, allow_hosts=[server.host_port], per_host=50
        ):
            results.append(result)
            ahead.append(produced - len(results))
        return results

    results = asyncio.run(run())
    assert len(results) == 1000
    assert sorted(int(r.key) for r in results) == list(range(1000))
    assert all(r.alive for r in results)
    assert max(ahead) <= concurrency
    assert server.max_in_flight <= concurrency


def test_async_iterable_input(server: ImageServer) -> None:
    async def items() -> AsyncIterator[tuple[str, str]]:
        for path in ("/img/a.jpg", "/missing.jpg"):
            yield path, server.url(path)

    results = {r.key: r.status for r in collect(items(), allow_hosts=[server.host_port])}
    assert results == {"/img/a.jpg": "ok", "/missing.jpg": "http_404"}


def test_results_arrive_as_they_complete_and_breaking_out_cancels(server: ImageServer) -> None:
    items = [
        ("slow", server.url("/img/s.jpg?delay=3")),
        ("fast", server.url("/img/f.jpg")),
    ]

    async def first() -> tuple[str, float]:
        started = time.monotonic()
        stream = check_links(items, allow_hosts=[server.host_port])
        key = ""
        async for result in stream:
            key = result.key
            break
        await stream.aclose()  # type: ignore[attr-defined]
        return key, time.monotonic() - started

    key, elapsed = asyncio.run(first())
    assert key == "fast"
    assert elapsed < 2.5  # did not wait for the slow one
