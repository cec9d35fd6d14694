"""`coverctl review` over real HTTP on 127.0.0.1: where it listens, the token, the same-origin
rules, the cards it loads, and the command (Ctrl-C stops it). The page in a browser is in
tests/test_review_browser.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.curation.review.cards import cards_from_audit, cards_from_results, cards_from_store
from coverctl.curation.review.server import ReviewServer, bind_loopback
from coverctl.errors import UsageError
from coverctl.models import Query
from coverctl.store.db import SqliteStore
from tests.conftest import FAST_RETRIES
from tests.curation_world import BALE, DARK_KNIGHT, World
from tests.seed import seed_row


@pytest.fixture
def world(provider_settings: Settings) -> World:
    return World(provider_settings)


def results_file(world: World, path: Path, queries: list[Query]) -> Path:
    """A batch output file: the real resolutions of `queries`, one JSON object per line."""
    lines = []
    for row, query in enumerate(queries, start=1):
        resolution = world.resolve(query)
        resolution.row = row
        lines.append(json.dumps(resolution.to_json()))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def server(world: World, tmp_path: Path) -> Iterator[ReviewServer]:
    path = results_file(world, tmp_path / "out.jsonl", [DARK_KNIGHT])
    review = ReviewServer(
        world.settings,
        cards_from_results(path),
        origin_label="test",
        transport=world.router.transport(),
        policy=FAST_RETRIES,
        by="tester",
    )
    with review.serve_in_thread():
        yield review


def client(review: ReviewServer, **kwargs: object) -> httpx.Client:
    return httpx.Client(base_url=review.origin, timeout=10, **kwargs)  # type: ignore[arg-type]


# -- where it listens ----------------------------------------------------------------------------


def test_the_server_listens_on_loopback_only(server: ReviewServer) -> None:
    assert server.socket.getsockname()[0] == "127.0.0.1"
    bound = [s.getsockname() for srv in server._server.servers for s in srv.sockets]
    assert bound and all(address[0] == "127.0.0.1" for address in bound)
    with pytest.raises(UsageError, match=r"127\.0\.0\.1 only"):
        bind_loopback(0, host="0.0.0.0")
    with pytest.raises(UsageError, match="in use"):
        bind_loopback(server.port)
    # Through this machine's other address (if it has one), nothing answers.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 9))  # UDP: picks a local address, sends nothing
        other = probe.getsockname()[0]
    except OSError:
        other = "127.0.0.1"
    finally:
        probe.close()
    if not other.startswith("127."):
        with pytest.raises(OSError):
            socket.create_connection((other, server.port), timeout=2).close()


# -- the token -----------------------------------------------------------------------------------


def test_every_request_needs_the_token(server: ReviewServer) -> None:
    with client(server) as http:
        for path in ("/", "/api/cards", "/thumb/abc", "/static/review.js", "/nowhere"):
            answer = http.get(path)
            assert answer.status_code == 403, path
            assert "token" in answer.text and server.token not in answer.text
        assert http.get("/", params={"token": "wrong" + server.token}).status_code == 403
        post = http.post("/api/cards/c1/reject", headers={"Origin": server.origin})
        assert post.status_code == 403

        page = http.get("/", params={"token": server.token})
        assert page.status_code == 200 and "Bruce Wayne" in page.text
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
    with client(server, cookies={"coverctl_review": "nope"}) as http:
        assert http.get("/").status_code == 403
    with client(server, cookies={"coverctl_review": server.token}) as http:
        cards = http.get("/api/cards").json()["cards"]
        assert [c["image_url"] for c in cards] == [BALE]


def test_another_host_name_is_refused(server: ReviewServer) -> None:
    # A DNS-rebinding page reaches 127.0.0.1 under its own name: its Host header gives it away.
    with client(server, cookies={"coverctl_review": server.token}) as http:
        answer = http.get("/", headers={"Host": f"evil.example:{server.port}"})
        assert answer.status_code == 403
        assert http.get("/", headers={"Host": f"localhost:{server.port}"}).status_code == 200


# -- writes come from the page itself ------------------------------------------------------------


def test_cross_site_writes_are_refused_and_change_nothing(
    server: ReviewServer, world: World
) -> None:
    token = {"X-Coverctl-Token": server.token}
    with client(server, cookies={"coverctl_review": server.token}) as http:
        refused = [
            http.post("/api/cards/c1/reject", headers={**token, "Origin": "http://evil.example"}),
            http.post("/api/cards/c1/reject", headers={"Origin": server.origin}),  # no token
            http.post(  # a cross-site form, even one that knew the token
                "/api/cards/c1/reject",
                headers={"Origin": "null"},
                data={"token": server.token},
            ),
            http.post("/api/cards/c1/reject", headers=token),  # no Origin, no Referer
            http.post(
                "/api/cards/c1/reject",
                headers={**token, "Origin": server.origin, "Sec-Fetch-Site": "cross-site"},
            ),
            http.post(
                "/api/cards/c1/reject",
                headers={**token, "Referer": "http://evil.example/x"},
            ),
        ]
        assert [r.status_code for r in refused] == [403] * len(refused)
        assert world.run(lambda c: _value(c.decisions(DARK_KNIGHT))) == []

        # The page's own request: same origin, token in a header.
        done = http.post("/api/cards/c1/reject", headers={**token, "Origin": server.origin})
        assert done.status_code == 200, done.text
        card = done.json()
        assert card["decision"] == "rejected" and card["status"] == "not_found"
        # A same-origin form with the token field is accepted too.
        undone = http.post(
            "/api/cards/c1/unreject",
            headers={"Referer": f"{server.origin}/"},
            data={"token": server.token},
        )
        assert undone.status_code == 200 and undone.json()["image_url"] == BALE


async def _value(value: object) -> object:
    return value


def test_errors_are_one_sentence_in_json(server: ReviewServer) -> None:
    headers = {"X-Coverctl-Token": server.token, "Origin": server.origin}
    with client(server, cookies={"coverctl_review": server.token}) as http:
        missing = http.post("/api/cards/c99/reject", headers=headers)
        assert missing.status_code == 404 and missing.json() == {"error": "No such card."}
        bad = http.post("/api/cards/c1/pin", headers=headers, json={"number": 7})
        assert bad.status_code == 400 and "no candidate 7" in bad.json()["error"]
        unknown = http.get("/thumb/0123456789abcdef01234567")
        assert unknown.status_code == 404


# -- cards ---------------------------------------------------------------------------------------


def test_cards_come_from_results_files_the_store_and_the_audit(
    world: World, tmp_path: Path
) -> None:
    path = results_file(
        world, tmp_path / "out.jsonl", [DARK_KNIGHT, Query("Nobody", "The Dark Knight", 2008)]
    )
    cards = cards_from_results(path)
    assert [(c.id, c.status, c.source, c.person) for c in cards] == [
        ("c1", "resolved", "tmdb", "Christian Bale"),
        ("c2", "not_found", None, None),
    ]
    assert cards[1].problems == ["not_found"] and "Nobody" in cards[1].details[0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"character_name": "A"}\nnot json\n')
    with pytest.raises(UsageError, match="line 2"):
        cards_from_results(bad)

    store = SqliteStore(world.settings.db_path)
    try:
        seed_row(store, "Joker", "The Dark Knight", "https://img.example/j.jpg", "web_search", 30)
        recent = cards_from_store(store, limit=10)
        assert {c.query.character_name for c in recent} == {"Bruce Wayne", "Joker"}
        assert len(cards_from_store(store, limit=1)) == 1
        problems = cards_from_audit(store, world.settings, limit=10)
        joker = next(c for c in problems if c.query.character_name == "Joker")
        assert "low_quality" in joker.problems
    finally:
        store.close()


# -- the command ---------------------------------------------------------------------------------


def test_review_refuses_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["review", str(tmp_path / "missing.jsonl")]) == 2
    (tmp_path / "out.jsonl").write_text("{}\n")
    assert run(["review", str(tmp_path / "out.jsonl"), "--since", "7d"]) == 2
    assert run(["review", "--limit", "0"]) == 2
    capsys.readouterr()
    assert run(["review", "--problems"]) == 0  # an empty store: nothing to review
    assert "nothing to review" in capsys.readouterr().out


@pytest.mark.slow
def test_ctrl_c_stops_the_command_cleanly(world: World, tmp_path: Path) -> None:
    path = results_file(world, tmp_path / "out.jsonl", [DARK_KNIGHT])
    env = {**os.environ, "COVERCTL_HOME": str(world.settings.home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "coverctl", "review", str(path), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        assert started["cards"] == 1 and started["url"].startswith("http://127.0.0.1:")
        with httpx.Client(timeout=10) as http:
            assert http.get(started["url"]).status_code == 200
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 130
    assert "Traceback" not in (process.stderr.read() if process.stderr else "")
