"""The disk cache on a real directory: tiers, lifetimes, keys, eviction, stats."""

from __future__ import annotations

import time
from pathlib import Path

from coverctl.store.cache import TIERS, Cache, cache_key


def test_tiers_have_the_designed_lifetimes() -> None:
    assert TIERS == {
        "resolution": 14 * 86400,
        "response": 86400,
        "search": None,
        "negative": 86400,
        "thumbnail": 30 * 86400,
    }


def test_keys_are_hashed_versioned_and_stable() -> None:
    key = cache_key("resolution", "bruce wayne", "the dark knight", 2008)
    assert key == cache_key("resolution", "bruce wayne", "the dark knight", 2008)
    assert key != cache_key("resolution", "bruce wayne", "the dark knight", 2009)
    assert key.startswith("v1:resolution:") and "bruce" not in key


def test_values_survive_reopening(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.set("resolution", "k", {"image_url": "u"})
    cache.close()
    assert Cache(tmp_path).get("resolution", "k") == {"image_url": "u"}


def test_refresh_makes_reads_miss_but_writes_land(tmp_path: Path) -> None:
    Cache(tmp_path).set("response", "k", 1)
    refreshing = Cache(tmp_path, refresh=True)
    assert refreshing.get("response", "k") is None
    refreshing.set("response", "k", 2)
    assert Cache(tmp_path).get("response", "k") == 2


def test_expired_entries_are_gone(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.tier("negative").set("k", "miss", expire=0.05)
    time.sleep(0.1)
    assert cache.get("negative", "k") is None
    cache.tier("negative").set("k2", "miss", expire=0.01)
    time.sleep(0.05)
    assert cache.clear(expired_only=True) >= 1


def test_clear_by_source_tag_only_removes_that_source(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.set("resolution", "a", 1, tag="tmdb")
    cache.set("resolution", "b", 2, tag="tvdb")
    assert cache.clear(tag="tmdb") == 1
    assert cache.get("resolution", "a") is None and cache.get("resolution", "b") == 2


def test_stats_count_entries_bytes_and_hits(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.set("resolution", "a", "x" * 1000)
    cache.get("resolution", "a")
    cache.get("resolution", "missing")
    stats = {s.tier: s for s in cache.stats()}
    assert stats["resolution"].entries == 1
    assert stats["resolution"].bytes > 0
    assert (stats["resolution"].hits, stats["resolution"].misses) == (1, 1)
    assert stats["resolution"].hit_rate == 0.5
    cache.clear(tiers=["resolution"])
    assert {s.tier: s for s in cache.stats()}["resolution"].hits == 0


def test_new_cache_directory_is_private(tmp_path: Path) -> None:
    Cache(tmp_path / "cache").set("response", "k", 1)
    assert (tmp_path / "cache").stat().st_mode & 0o077 == 0


def test_source_and_provider_names_clear_each_others_entries(tmp_path: Path) -> None:
    from coverctl.sources.registry import cache_tags_for as tags_for

    cache = Cache(tmp_path)
    cache.set("resolution", "r", {"source": "web_search"}, tag="web_search")
    cache.set("search", "s", ["results"], tag="duckduckgo")
    cache.set("resolution", "t", {"source": "tmdb"}, tag="tmdb")
    removed = sum(cache.clear(tag=tag) for tag in tags_for("web_search"))
    assert removed == 2
    assert cache.get("search", "s") is None and cache.get("resolution", "t") is not None
    assert tags_for("TMDB") == ["tmdb"]
    assert tags_for("replicate") == ["ai_generated", "generate", "replicate"]
