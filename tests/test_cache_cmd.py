"""`coverctl cache clear|stats` on a real cache directory, and on a real Redis
(COVERCTL_REDIS_URL): the upkeep cron relies on them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.store import open_cache
from coverctl.store.cache import CacheBackend


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(params=["disk", pytest.param("redis", marks=pytest.mark.redis)])
def cache(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> CacheBackend:
    env = {}
    if request.param == "redis":
        env["COVERCTL_REDIS_URL"] = request.getfixturevalue("redis_url")
        monkeypatch.setenv("COVERCTL_REDIS_URL", env["COVERCTL_REDIS_URL"])
    cache = open_cache(make_settings(**env))
    request.addfinalizer(cache.close)
    cache.set("resolution", "r-tmdb", {"image_url": "u1"}, tag="tmdb")
    cache.set("resolution", "r-tvdb", {"image_url": "u2"}, tag="tvdb")
    cache.set("response", "p-tmdb", {"cast": []}, tag="tmdb")
    cache.set("search", "s", ["u3"], tag="web_search")
    cache.set("negative", "n-old", "nothing", expire=0.01, tag="negative")
    cache.get("resolution", "r-tmdb")
    cache.get("resolution", "missing")
    return cache


def tiers(out: str) -> dict[str, dict[str, object]]:
    return {t["tier"]: t for t in json.loads(out)["tiers"]}


def test_stats_report_entries_bytes_and_hit_rate_per_tier_and_in_total(
    cache: CacheBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "cache", "stats", "--json")
    data = json.loads(out)
    per_tier = tiers(out)
    assert code == 0
    assert per_tier["resolution"]["entries"] == 2 and per_tier["resolution"]["bytes"] > 0
    assert per_tier["resolution"]["hit_rate"] == 0.5
    assert per_tier["search"]["hit_rate"] is None  # never read: no rate, not 0%
    # The disk cache counts an expired entry until it is cleared; Redis has dropped it.
    assert data["total"]["entries"] == sum(t["entries"] for t in per_tier.values())
    assert (per_tier["response"]["entries"], per_tier["search"]["entries"]) == (1, 1)
    assert data["total"]["hit_rate"] == 0.5
    code, out, _ = cli(capsys, "cache", "stats")
    assert code == 0 and "resolution" in out and "50%" in out and "all" in out


def test_clear_expired_removes_only_expired_entries(
    cache: CacheBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    time.sleep(0.05)
    code, out, _ = cli(capsys, "cache", "clear", "--expired", "--json")
    assert code == 0 and json.loads(out)["removed"] == 1
    assert {
        t: v["entries"] for t, v in tiers(cli(capsys, "cache", "stats", "--json")[1]).items()
    } == {
        "resolution": 2,
        "response": 1,
        "search": 1,
        "negative": 0,
        "thumbnail": 0,
    }


def test_clear_source_removes_that_source_in_every_tier(
    cache: CacheBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "cache", "clear", "--source", "tmdb", "--json")
    assert code == 0 and json.loads(out)["removed"] == 2
    assert cache.get("resolution", "r-tvdb") is not None
    assert cache.get("resolution", "r-tmdb") is None and cache.get("response", "p-tmdb") is None


def test_default_clear_keeps_search_results_and_all_removes_them(
    cache: CacheBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, "cache", "clear")
    assert cache.get("search", "s") == ["u3"] and cache.get("resolution", "r-tvdb") is None
    # Emptying a tier restarts its hit and miss counts ("since the last clear").
    resolution = {s.tier: s for s in cache.stats()}["resolution"]
    assert (resolution.hits, resolution.misses) == (0, 1)  # the miss just above
    code, out, _ = cli(capsys, "cache", "clear", "--all", "--json")
    assert code == 0 and "search" in json.loads(out)["tiers"]
    assert cache.get("search", "s") is None


def test_expired_and_source_together_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "cache", "clear", "--expired", "--source", "tmdb")
    assert code == 2 and "not both" in err
