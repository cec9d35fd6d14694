"""Running an image service (coverctl.services) against fakes: the real session (client, cache,
store) over a HostRouter transport, with fast retries so 5xx tests do not wait."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from coverctl.config import Settings
from coverctl.resolver import Resolver
from coverctl.services.common import service_session
from tests.conftest import FAST_RETRIES
from tests.fakes.base import FakeService
from tests.fakes.routing import HostRouter

T = TypeVar("T")

# Pacing off for tests that are not about pacing (SerpApi's and Gemini's 1 request a second).
FAST_SERVICE_RATES = {
    "COVERCTL_RATE_SERPAPI": "1000",
    "COVERCTL_RATE_LUMA": "1000",
    "COVERCTL_RATE_GEMINI": "1000",
    "COVERCTL_RATE_VISION": "1000",
    "COVERCTL_RATE_IMAGE_FETCH": "1000",
}


class ServiceHarness:
    """`run(work)` runs `work(resolver)` on a fresh session; `stats` keeps the last run's
    per-provider client statistics."""

    def __init__(self, settings: Settings, hosts: dict[str, FakeService]) -> None:
        self.settings = settings
        self.router = HostRouter(hosts)
        self.stats: dict[str, dict[str, Any]] = {}

    def run(self, work: Callable[[Resolver], Awaitable[T]]) -> T:
        async def main() -> T:
            async with service_session(
                self.settings, transport=self.router.transport(), policy=FAST_RETRIES
            ) as resolver:
                try:
                    return await work(resolver)
                finally:
                    self.stats = resolver.http.provider_stats()

        return asyncio.run(main())


def require_ocr() -> None:
    """Skip when the `ocr` extra (rapidocr + onnxruntime) is missing; under CI (CI set) fail:
    CI installs it, and must never pass by skipping the OCR tests."""
    import importlib.util
    import os

    import pytest

    missing = [m for m in ("rapidocr", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        message = f"the ocr extra is not installed ({', '.join(missing)}): pip install -e '.[ocr]'"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set, so this is a failure, not a skip)", pytrace=False)
        pytest.skip(message)
