"""No API key in any log line, error message, cache key or value, stored URL or output."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from coverctl.cli.app import run
from tests.fakes.base import serve
from tests.fakes.tmdb import FakeTmdb
from tests.fakes.tvdb import FakeTvdb

TMDB_KEY = "tmdbSECRETa1b2c3d4e5f6a7b8c9d0e1f2"
TVDB_KEY = "tvdbSECRET-9f8e7d6c-5b4a-3210"


def all_bytes_under(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


def test_keys_never_leak_anywhere(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    isolated_environment: Path,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    tmdb, tvdb = FakeTmdb(key=TMDB_KEY), FakeTvdb(api_key=TVDB_KEY)
    tmdb.fail_next(r"/search/tv", 503, {"status_code": 11, "status_message": "down"}, times=3)
    source = tmp_path / "rows.csv"
    source.write_text(
        "character_name,title,media_type\n"
        "Bruce Wayne,The Dark Knight,movie\n"
        "Walter White,Breaking Bad,tv\n"
        "Nobody,Breaking Bad,\n",
        encoding="utf-8",
    )
    with serve(tmdb, tvdb, prefixes=("/tmdb", "/tvdb")) as url:
        monkeypatch.setenv("TMDB_API_URL", f"{url}/tmdb/3")
        monkeypatch.setenv("TVDB_API_URL", f"{url}/tvdb/v4")
        monkeypatch.setenv("TMDB_API_KEY", TMDB_KEY)
        monkeypatch.setenv("TVDB_API_KEY", TVDB_KEY)
        monkeypatch.setenv("COVERCTL_WEB_SEARCH", "0")
        outputs = []
        for args in (
            ["resolve", "Bruce Wayne", "--title", "The Dark Knight", "--explain", "--json"],
            ["resolve", "Bruce Wayne", "--title", "The Dark Knight", "--explain"],
            ["batch", str(source), "--out", str(tmp_path / "out.jsonl"), "--json"],
            ["cache", "stats", "--json"],
            ["config", "show", "--json"],
        ):
            code = run(args)
            out, err = capsys.readouterr()
            outputs.append(out + err)
            assert code in (0, 3), (args, out, err)
        # A rejected key: its error must not echo the key either.
        monkeypatch.setenv("TMDB_API_KEY", TMDB_KEY + "x")
        run(["resolve", "Joker", "--title", "The Dark Knight", "--refresh"])
        outputs.append("".join(capsys.readouterr()))
    # The fakes did see the keys: otherwise this test would prove nothing.
    assert any(r.url.params.get("api_key") == TMDB_KEY for r in tmdb.requests)
    assert any(TVDB_KEY.encode() in r.content for r in tvdb.requests)
    text = "\n".join(outputs) + (tmp_path / "out.jsonl").read_text() + caplog.text
    for secret in (TMDB_KEY, TVDB_KEY):
        assert secret not in text
        assert secret.encode() not in all_bytes_under(isolated_environment)
    stored = json.dumps(outputs)
    assert "api_key=" not in stored or "api_key=***" in stored
