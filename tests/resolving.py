"""A resolver harness for the source tests: the real resolver, store and cache against fakes,
with a hook to configure the resolver's sources (polling pauses, the generation cap) first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from coverctl.config import Settings
from coverctl.models import Query, Resolution
from coverctl.resolver import ResolveOptions, Resolver, close_resolver
from tests.conftest import ResolverHarness
from tests.fakes.base import FakeService
from tests.fakes.routing import HostRouter

# Pacing off for tests that are not about pacing: DuckDuckGo's 1 request per 2 s would make
# every web search test wait.
FAST_RATES = {
    "COVERCTL_RATE_DUCKDUCKGO": "1000",
    "COVERCTL_RATE_HARDCOVER": "1000",
    "COVERCTL_RATE_IMAGE_FETCH": "1000",
}


class SourceHarness(ResolverHarness):
    """ResolverHarness over a map of host -> fake, with `gather` for concurrent resolutions."""

    def __init__(
        self,
        settings: Settings,
        hosts: dict[str, FakeService],
        configure: Callable[[Resolver], None] | None = None,
    ) -> None:
        super().__init__(settings, HostRouter(hosts), configure)

    def gather(self, queries: list[Query], **options: Any) -> list[Resolution]:
        """Resolve `queries` concurrently on one resolver, as the batch engine does."""

        async def run() -> list[Resolution]:
            resolver = self.open()
            try:
                return list(
                    await asyncio.gather(
                        *(resolver.resolve(q, ResolveOptions(**options)) for q in queries)
                    )
                )
            finally:
                await close_resolver(resolver)

        return asyncio.run(run())
