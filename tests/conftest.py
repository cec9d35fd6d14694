from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from coverctl.config import Settings, known_variables
from coverctl.models import Query, Resolution
from coverctl.net.http import RetryPolicy
from coverctl.resolver import ResolveOptions, Resolver, close_resolver, open_resolver
from tests.fakes.images import FakeImageHost
from tests.fakes.routing import HostRouter
from tests.fakes.tmdb import VALID_KEY, FakeTmdb
from tests.fakes.tvdb import ARTWORK_HOST, VALID_API_KEY, FakeTvdb, artwork_host

pytest_plugins = ["tests.services"]

FAST_RETRIES = RetryPolicy(
    attempts=3, wait_initial=0.001, wait_max=0.01, wait_jitter=0.001, breaker_threshold=50
)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own COVERCTL_HOME and no credential from the developer's shell."""
    known = known_variables()
    for name in list(os.environ):
        if name in known or name.startswith("COVERCTL_"):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("COVERCTL_HOME", str(home))
    monkeypatch.setenv("COVERCTL_STATIC_DIR", str(tmp_path / "static"))
    (tmp_path / "static" / "characters").mkdir(parents=True)
    return home


# Names the tests may resolve, and to what: everything else fails as an unknown name would, so no
# test ever sends a DNS query.
FAKE_DNS: dict[str, list[str]] = {
    "internal.example": ["10.0.0.7"],
    "mixed.example": ["93.184.216.34", "192.168.1.10"],
    "public.example": ["93.184.216.34"],
}


@pytest.fixture(autouse=True)
def offline_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    import socket

    async def resolve(host: str) -> list[str]:
        if host in FAKE_DNS:
            return FAKE_DNS[host]
        raise socket.gaierror(socket.EAI_NONAME, f"{host}: tests resolve no real names")

    monkeypatch.setattr("coverctl.net.guard.system_resolve", resolve)
    return FAKE_DNS


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    return tmp_path / "static"


@pytest.fixture
def tmdb() -> FakeTmdb:
    return FakeTmdb()


@pytest.fixture
def tvdb() -> FakeTvdb:
    return FakeTvdb()


@pytest.fixture
def tvdb_art() -> FakeImageHost:
    """TVDB's artwork host: a real picture at every path the TVDB fake lists."""
    return artwork_host()


@pytest.fixture
def make_settings(isolated_environment: Path) -> Callable[..., Settings]:
    def build(**env: str) -> Settings:
        values = {
            "COVERCTL_HOME": os.environ["COVERCTL_HOME"],
            "COVERCTL_STATIC_DIR": os.environ["COVERCTL_STATIC_DIR"],
            **env,
        }
        return Settings.from_env(values)

    return build


@pytest.fixture
def provider_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        TMDB_API_KEY=VALID_KEY, TVDB_API_KEY=VALID_API_KEY, COVERCTL_WEB_SEARCH="0"
    )


class ResolverHarness:
    """Runs resolutions against fakes through the real resolver, store and cache.

    `configure` may adjust the resolver's sources (polling pauses, caps) before each run.
    """

    def __init__(
        self,
        settings: Settings,
        router: HostRouter,
        configure: Callable[[Resolver], None] | None = None,
    ) -> None:
        self.settings = settings
        self.router = router
        self.configure = configure
        self.last_resolver: Resolver | None = None

    def open(self, *, refresh: bool = False) -> Resolver:
        resolver = open_resolver(
            self.settings, refresh=refresh, transport=self.router.transport(), policy=FAST_RETRIES
        )
        if self.configure is not None:
            self.configure(resolver)
        self.last_resolver = resolver
        return resolver

    def resolve(self, query: Query, **options: Any) -> Resolution:
        return self.resolve_many([query], **options)[0]

    def resolve_many(self, queries: list[Query], **options: Any) -> list[Resolution]:
        async def run() -> list[Resolution]:
            resolver = self.open(refresh=options.get("refresh", False))
            try:
                return [await resolver.resolve(q, ResolveOptions(**options)) for q in queries]
            finally:
                await close_resolver(resolver)

        return asyncio.run(run())


@pytest.fixture
def harness(
    provider_settings: Settings, tmdb: FakeTmdb, tvdb: FakeTvdb, tvdb_art: FakeImageHost
) -> Iterator[ResolverHarness]:
    router = HostRouter(
        {"api.themoviedb.org": tmdb, "api4.thetvdb.com": tvdb, ARTWORK_HOST: tvdb_art}
    )
    yield ResolverHarness(provider_settings, router)


_THIS_MACHINE = frozenset({"127.0.0.1", "::1", "localhost"})


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the internet: a TCP connection httpx would open to any host but this
    machine fails at once (fakes are reached through a MockTransport or on 127.0.0.1). A safety
    net under code that fetches real URLs, such as the thumbnails of `audit --html`."""
    import httpcore
    from httpcore._backends.anyio import AnyIOBackend
    from httpcore._backends.sync import SyncBackend

    real_async, real_sync = AnyIOBackend.connect_tcp, SyncBackend.connect_tcp

    async def connect_async(self: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host not in _THIS_MACHINE:
            raise httpcore.ConnectError(f"tests never connect to {host}:{port}")
        return await real_async(self, host, port, *args, **kwargs)

    def connect_sync(self: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host not in _THIS_MACHINE:
            raise httpcore.ConnectError(f"tests never connect to {host}:{port}")
        return real_sync(self, host, port, *args, **kwargs)

    monkeypatch.setattr(AnyIOBackend, "connect_tcp", connect_async)
    monkeypatch.setattr(SyncBackend, "connect_tcp", connect_sync)
