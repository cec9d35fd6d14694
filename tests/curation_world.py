"""A small world for the curation tests: TMDB and TVDB fakes, and image hosts serving a real,
distinct picture for every path (seeded by the path), all behind one in-process transport."""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache
from typing import Any, TypeVar

import httpx

from coverctl.config import Settings
from coverctl.curation.service import Curator, open_curator
from coverctl.models import Query
from tests.conftest import FAST_RETRIES
from tests.fakes.images import NOT_FOUND_PAGE, FakeImageHost
from tests.fakes.routing import HostRouter
from tests.fakes.tmdb import FakeTmdb
from tests.fakes.tvdb import FakeTvdb
from tests.imagegen import jpeg_bytes

T = TypeVar("T")

TMDB_IMAGES = "https://image.tmdb.org/t/p/w500"
TVDB_ART = "https://artworks.thetvdb.com"
DARK_KNIGHT = Query("Bruce Wayne", "The Dark Knight", 2008, "movie")
BREAKING_BAD = Query("Walter White", "Breaking Bad", None, "tv")
BALE = f"{TMDB_IMAGES}/qCpZn2e3dimwbryLnqxZuI88PTi.jpg"
WALTER_ART = f"{TVDB_ART}/banners/v4/actor/250827/photo/6c9b7e.jpg"
WALTER_PHOTO = f"{TVDB_ART}/banners/v4/people/250827/photo/p.jpg"
CRANSTON = f"{TMDB_IMAGES}/7Jahy5LZX2Fo8fGJltMreAI49hC.jpg"


@cache
def picture_for(path: str, width: int = 300, height: int = 450) -> bytes:
    """A real JPEG, different for every path (a photo-like scene seeded by the path)."""
    return jpeg_bytes(width, height, "scene", seed=zlib.crc32(path.encode()) % 100_000)


class PictureHost(FakeImageHost):
    """Serves `picture_for(path)` for any path; `gone` paths answer 404; `same_as` serves
    another path's picture (the same picture at two addresses)."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.gone: set[str] = set()
        self.same_as: dict[str, str] = {}

    def _get(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        path = match["path"]
        if path in self.files:
            return super()._get(request, match)
        if path in self.gone:
            html = {"Content-Type": "text/html"}
            return httpx.Response(404, content=NOT_FOUND_PAGE, headers=html)
        data = picture_for(self.same_as.get(path, path))
        return httpx.Response(200, content=data, headers={"Content-Type": "image/jpeg"})


class World:
    """The fakes, and curators and resolutions against them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tmdb = FakeTmdb()
        self.tvdb = FakeTvdb()
        self.tmdb_images = PictureHost("image.tmdb.org")
        self.tvdb_images = PictureHost("artworks.thetvdb.com")
        self.router = HostRouter(
            {
                "api.themoviedb.org": self.tmdb,
                "api4.thetvdb.com": self.tvdb,
                "image.tmdb.org": self.tmdb_images,
                "artworks.thetvdb.com": self.tvdb_images,
            }
        )

    @asynccontextmanager
    async def curator(
        self, by: str | None = "tester", *, refresh: bool = False
    ) -> AsyncIterator[Curator]:
        async with open_curator(
            self.settings,
            by=by,
            refresh=refresh,
            transport=self.router.transport(),
            policy=FAST_RETRIES,
        ) as curator:
            yield curator

    def run(
        self,
        work: Callable[[Curator], Awaitable[T]],
        by: str | None = "tester",
        *,
        refresh: bool = False,
    ) -> T:
        """Run `work(curator)` on a fresh curator (a fresh resolver, store and cache)."""

        async def main() -> T:
            async with self.curator(by, refresh=refresh) as curator:
                return await work(curator)

        return asyncio.run(main())

    def resolve(self, query: Query, **options: Any) -> Any:
        """Resolve on a fresh resolver; `refresh=True` also ignores cached provider answers."""
        from coverctl.resolver import ResolveOptions

        return self.run(
            lambda c: c.resolver.resolve(query, ResolveOptions(**options)),
            refresh=bool(options.get("refresh")),
        )
