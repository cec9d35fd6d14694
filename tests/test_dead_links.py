"""`coverctl dead-links` against a real HTTP server on 127.0.0.1 and a real SQLite store.

Hermetic like tests/test_linkcheck.py: every TCP connection the checker opens goes through
``coverctl.net.guard.open_tcp``, replaced by a recorder that refuses anything but the test server,
and ``socket.getaddrinfo`` answers numeric hosts only, so nothing leaves this machine even if the
guard were broken. The server is on loopback, so the command is pointed at it with
``--allow-host 127.0.0.1:<port>`` (that one address and port, nothing else: a redirect to
``localhost`` or to another port still meets the real guard) or with ``--allow-private``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.errors import UsageError
from coverctl.locking import command_lock
from coverctl.maintenance.deadlinks import (
    DeadLinkOptions,
    check_local_file,
    check_store,
    parse_duration,
    parse_max_prune,
)
from coverctl.store.cache import Cache
from coverctl.store.db import SqliteStore
from tests.fakes.image_server import ImageServer, guard_network
from tests.seed import seed_row


@pytest.fixture(scope="module")
def server() -> Iterator[ImageServer]:
    with ImageServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def network(monkeypatch: pytest.MonkeyPatch, server: ImageServer) -> list[tuple[str, int]]:
    """Record every connection attempt; allow only the test server; no DNS."""
    server.reset()
    return guard_network(
        monkeypatch, lambda address, port: (address, port) == ("127.0.0.1", server.port)
    )


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def store(settings: Settings) -> Iterator[SqliteStore]:
    db = SqliteStore(settings.db_path)
    yield db
    db.close()


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def allow(server: ImageServer) -> list[str]:
    return ["--allow-host", server.host_port]


def never_checked(store: SqliteStore, name: str, url: str, source: str = "tmdb") -> str:
    return seed_row(store, name, "Title", url, source, 50, checked=None, status=None)


def status_of(store: SqliteStore, row_id: str) -> str | None:
    row = store.get(row_id)
    assert row is not None
    return row["last_status"]


def jpeg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), (200, 30, 30)).save(path, "JPEG")
    return path


def test_every_kind_of_link_through_the_command(
    server: ImageServer,
    store: SqliteStore,
    static_dir: Path,
    network: list[tuple[str, int]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = server.url
    other_port = server.port + 1 if server.port < 65535 else server.port - 1
    ids = {
        "live": never_checked(store, "A", url("/img/a.jpg")),
        "shared_1": never_checked(store, "B", url("/img/shared.jpg")),
        "shared_2": never_checked(store, "C", url("/img/shared.jpg")),
        "missing": never_checked(store, "D", url("/missing.jpg")),
        "head_403": never_checked(store, "E", url("/nohead.jpg?head=403")),
        "soft_404": never_checked(store, "F", url("/soft404.jpg")),
        "chain": never_checked(store, "G", url("/redirect/3")),
        "to_localhost": never_checked(store, "H", url("/to-loopback")),
        "to_other_port": never_checked(
            store, "I", url(f"/to-loopback?host=127.0.0.1&port={other_port}")
        ),
        "to_metadata": never_checked(store, "J", url("/to-metadata")),
        "file_url": never_checked(store, "K", "file:///etc/passwd", "web_search"),
        "local_ok": never_checked(
            store, "L", str(jpeg(static_dir / "l.jpg")), "character_specific"
        ),
        "local_missing": never_checked(
            store, "M", str(static_dir / "gone.jpg"), "character_specific"
        ),
        "local_text": never_checked(store, "N", str(static_dir), "character_specific"),
    }
    text_file = static_dir / "notes.jpg"
    text_file.write_text("not a picture")
    ids["local_not_image"] = never_checked(store, "O", str(text_file), "ai_generated")

    before = datetime.now(UTC).replace(microsecond=0)
    code, out, _ = cli(capsys, "dead-links", *allow(server), "--json")
    assert code == 3
    data = json.loads(out)
    expected = {
        "live": "ok",
        "shared_1": "ok",
        "shared_2": "ok",
        "missing": "http_404",
        "head_403": "ok",
        "soft_404": "soft_404",
        "chain": "ok",
        "to_localhost": "refused_private",
        "to_other_port": "refused_private",
        "to_metadata": "refused_private",
        "file_url": "refused_scheme",
        "local_ok": "ok",
        "local_missing": "missing_file",
        "local_text": "missing_file",  # a directory is not a file
        "local_not_image": "not_an_image",
    }
    assert {name: status_of(store, row_id) for name, row_id in ids.items()} == expected
    for row_id in ids.values():
        checked = datetime.fromisoformat(store.get(row_id)["last_checked"])  # type: ignore[index]
        assert checked.tzinfo is not None and checked >= before

    assert data["rows_checked"] == 15 and data["urls_checked"] == 14  # one URL, two rows
    assert data["alive_rows"] == 6 and data["dead_rows"] == 9 and data["dead_urls"] == 9
    assert data["statuses"]["refused_private"] == 3
    shared = [p for p in server.paths() if p == "/img/shared.jpg"]
    assert len(shared) == 1  # checked once for both rows
    methods = [(r.method, r.range) for r in server.requests if r.path == "/nohead.jpg"]
    assert methods == [("HEAD", None), ("GET", "bytes=0-1023")]
    by_url = {d["url"]: d for d in data["dead_links"]}
    assert by_url[url("/missing.jpg")]["prunable"] is True
    assert by_url[url("/to-metadata")]["prunable"] is False
    assert by_url["file:///etc/passwd"]["detail"].startswith("URL scheme 'file' refused")
    # The guard stopped every refused hop before a connection: only the server was contacted.
    assert set(network) == {("127.0.0.1", server.port)}


def test_allow_private_follows_a_redirect_to_loopback(
    server: ImageServer, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    row = never_checked(store, "A", server.url("/to-loopback?host=127.0.0.1"))
    code, out, _ = cli(capsys, "dead-links", "--allow-private", "--json")
    assert code == 0 and json.loads(out)["alive_rows"] == 1
    assert status_of(store, row) == "ok"
    assert server.paths() == ["/to-loopback", "/img/ok.jpg"]


def test_by_default_loopback_urls_are_refused_and_never_fetched(
    server: ImageServer,
    store: SqliteStore,
    network: list[tuple[str, int]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    row = never_checked(store, "A", server.url("/img/a.jpg"))
    code, out, _ = cli(capsys, "dead-links", "--json")
    assert code == 3 and status_of(store, row) == "refused_private"
    assert json.loads(out)["statuses"] == {"refused_private": 1}
    assert server.requests == [] and network == []


def test_all_alive_exits_zero_with_a_summary(
    server: ImageServer, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    never_checked(store, "A", server.url("/img/a.jpg"))
    never_checked(store, "B", server.url("/img/b.jpg"))
    code, out, _ = cli(capsys, "dead-links", *allow(server))
    assert code == 0
    assert "2 URLs on 2 rows checked" in out and "2 alive, 0 dead" in out


def test_stale_rechecks_only_rows_never_or_long_ago_checked(
    server: ImageServer, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    recent = (now - timedelta(days=1)).isoformat(timespec="seconds")
    old = (now - timedelta(days=30)).isoformat(timespec="seconds")
    seed_row(store, "Recent", "T", server.url("/img/recent.jpg"), "tmdb", 50, checked=recent)
    stale = seed_row(store, "Old", "T", server.url("/img/old.jpg"), "tmdb", 50, checked=old)
    fresh = never_checked(store, "New", server.url("/img/new.jpg"))
    code, out, _ = cli(capsys, "dead-links", *allow(server), "--stale", "7d", "--json")
    data = json.loads(out)
    assert code == 0 and data["rows_checked"] == 2 and data["rows_skipped_fresh"] == 1
    assert sorted(server.paths()) == ["/img/new.jpg", "/img/old.jpg"]
    assert status_of(store, stale) == status_of(store, fresh) == "ok"


def seed_for_prune(store: SqliteStore, server: ImageServer) -> dict[str, str]:
    return {
        "alive": never_checked(store, "A", server.url("/img/a.jpg")),
        "gone_1": never_checked(store, "B", server.url("/missing.jpg")),
        "gone_2": never_checked(store, "C", server.url("/missing.jpg")),
        "soft": never_checked(store, "D", server.url("/soft404.jpg")),
        "server_error": never_checked(store, "E", server.url("/status/503")),
        "refused": never_checked(store, "F", server.url("/to-metadata")),
    }


def test_prune_removes_only_confirmed_dead_rows_and_their_cached_resolutions(
    server: ImageServer, store: SqliteStore, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = seed_for_prune(store, server)
    cache = Cache(settings.cache_dir)
    cache.set("resolution", "k-dead", {"image_url": server.url("/missing.jpg")}, tag="tmdb")
    cache.set("resolution", "k-soft", {"image_url": server.url("/soft404.jpg")}, tag="tmdb")
    cache.set("resolution", "k-alive", {"image_url": server.url("/img/a.jpg")}, tag="tmdb")
    cache.get("resolution", "k-alive")
    hits_before = {s.tier: (s.hits, s.misses) for s in cache.stats()}
    cache.close()

    code, out, _ = cli(
        capsys, "dead-links", *allow(server), "--prune", "--max-prune", "100%", "--json"
    )
    data = json.loads(out)
    assert code == 3
    remaining = {name for name, row_id in ids.items() if store.get(row_id) is not None}
    # 404 and soft 404 are gone; a 503 and a refused address may pass or need a person.
    assert remaining == {"alive", "server_error", "refused"}
    assert data["prune"]["pruned_rows"] == 3 and data["prune"]["refused"] is None
    assert data["prune"]["cache_entries_evicted"] == 2

    cache = Cache(settings.cache_dir)
    try:
        assert cache.get("resolution", "k-dead") is None
        assert cache.get("resolution", "k-soft") is None
        assert cache.get("resolution", "k-alive") is not None
        # Reading every entry to find the pruned URLs did not count as hits or misses.
        stats = {s.tier: (s.hits, s.misses) for s in cache.stats()}
        assert stats["resolution"] == (hits_before["resolution"][0] + 1, 2)
    finally:
        cache.close()


def test_prune_refuses_a_mass_deletion(
    server: ImageServer, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = seed_for_prune(store, server)
    code, out, _ = cli(capsys, "dead-links", *allow(server), "--prune", "--json")
    data = json.loads(out)
    assert code == 3 and data["prune"]["pruned_rows"] == 0
    assert "3 confirmed-dead rows exceed --max-prune 10%" in data["prune"]["refused"]
    assert all(store.get(row_id) is not None for row_id in ids.values())
    code, out, _ = cli(capsys, "dead-links", *allow(server), "--prune", "--max-prune", "3")
    assert "pruned 3 rows" in out


def test_prune_spares_a_row_whose_url_changed_meanwhile(
    server: ImageServer, store: SqliteStore
) -> None:
    gone = never_checked(store, "B", server.url("/missing.jpg"))
    never_checked(store, "A", server.url("/img/a.jpg"))

    def replace_url_at_the_end(done: int, total: int) -> None:
        if done == total:  # a batch writes a new picture before the prune runs
            store.update_fields(gone, {"image_url": server.url("/img/new.jpg")})

    options = DeadLinkOptions(allow_hosts=(server.host_port,), prune=True, max_prune="100%")
    report = asyncio.run(check_store(store, options, on_progress=replace_url_at_the_end))
    assert report.pruned_rows == 0 and store.get(gone) is not None


def test_results_written_before_an_interruption_are_kept(
    server: ImageServer, store: SqliteStore
) -> None:
    rows = [never_checked(store, f"R{n}", server.url(f"/img/{n}.jpg")) for n in range(6)]

    def stop_after_three(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    options = DeadLinkOptions(allow_hosts=(server.host_port,), concurrency=1, commit_every=500)
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(check_store(store, options, on_progress=stop_after_three))
    assert sum(status_of(store, r) == "ok" for r in rows) == 3


def test_metrics_file_holds_dead_rows_and_last_success(
    server: ImageServer, store: SqliteStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    never_checked(store, "A", server.url("/img/a.jpg"))
    never_checked(store, "B", server.url("/missing.jpg"))
    never_checked(store, "C", server.url("/missing.jpg"))
    prom = tmp_path / "dead_links.prom"
    code, _, _ = cli(capsys, "dead-links", *allow(server), "--metrics-file", str(prom), "-q")
    assert code == 3
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(prom.read_text())
        for s in family.samples
    }
    labels = (("command", "dead_links"),)
    assert values[("dead_links", labels)] == 2  # rows
    assert values[("coverctl_last_success_timestamp_seconds", labels)] > 1e9
    assert ("image_requests_total", labels) not in values  # no look-ups in this command
    assert ("image_cache_hits_total", labels) in values


def test_an_overlapping_run_exits_four_and_writes_nothing(
    server: ImageServer, store: SqliteStore, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    row = never_checked(store, "A", server.url("/img/a.jpg"))
    with command_lock(settings, "dead-links"):
        code, out, err = cli(capsys, "dead-links", *allow(server), "--json")
    assert code == 4 and out == ""
    assert "another `coverctl dead-links` run is in progress" in err
    assert status_of(store, row) is None and server.requests == []


@pytest.mark.parametrize(
    "args",
    [["--stale", "soon"], ["--max-prune", "lots"], ["--concurrency", "0"], ["--timeout", "0"]],
)
def test_bad_flags_are_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, _, err = cli(capsys, "dead-links", *args)
    assert code == 2 and "Traceback" not in err


def test_durations_and_prune_limits_parse() -> None:
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("2w") == timedelta(weeks=2)
    assert parse_duration("3") == timedelta(days=3)
    assert parse_max_prune("10%") == (None, 0.10)
    assert parse_max_prune("250") == (250, None)
    assert DeadLinkOptions(max_prune="10%").prune_limit(45) == 4
    with pytest.raises(UsageError):
        parse_max_prune("150%")


def test_local_file_checks(tmp_path: Path) -> None:
    assert check_local_file(str(jpeg(tmp_path / "a.jpg")))[0] == "ok"
    assert check_local_file(str(tmp_path / "none.jpg"))[0] == "missing_file"
    (tmp_path / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)  # a header, no image
    assert check_local_file(str(tmp_path / "fake.png"))[0] == "not_an_image"


def test_backend_paths_of_stored_ai_images_are_never_pruned_as_missing_files(
    store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.seed import seed_row

    ids = [
        seed_row(
            store,
            "Joker",
            "Batman",
            "/image/anonymous_123.jpg",
            "ai_generated",
            80,
            checked=None,
            status=None,
        ),
        seed_row(
            store,
            "Robin",
            "Batman",
            "/api/image-no-auth/anonymous_9.jpg",
            "ai_generated",
            80,
            checked=None,
            status=None,
        ),
    ]
    _code, out, _ = cli(capsys, "dead-links", "--prune", "--max-prune", "100%", "--json")
    data = json.loads(out)
    assert data["prune"]["pruned_rows"] == 0
    assert all(store.get(row_id) is not None for row_id in ids)
    assert "missing_file" not in data["statuses"]
