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


def test_image_service_keys_never_leak(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    isolated_environment: Path,
    tmp_path: Path,
) -> None:
    """lens, identify and edit (success and rejection), doctor and config show: no SerpApi,
    vision, Gemini or TMDB key in any output, log line or file under COVERCTL_HOME."""
    from tests.fakes.gemini import FakeGemini, image_reply
    from tests.fakes.serpapi import FakeSerpApi, lens_reply
    from tests.fakes.tmdb_multi import FakeTmdbMulti
    from tests.fakes.vision import FakeVision
    from tests.imagegen import jpeg_bytes, png_bytes

    serp_key, vision_key, gemini_key = (
        "serpSECRETleak0123456789abcdef",
        "sk-visionSECRETleak0123456789",
        "AIzaGEMINIsecretLEAK0123456789",
    )
    serpapi, vision, gemini = (
        FakeSerpApi(key=serp_key),
        FakeVision(key=vision_key),
        FakeGemini(key=gemini_key),
    )
    tmdb = FakeTmdbMulti(key=TMDB_KEY)
    gemini.reply = image_reply(png_bytes(300, 450, "scene", seed=2))
    picture = tmp_path / "static" / "characters" / "bruce_wayne.jpg"
    picture.write_bytes(jpeg_bytes(300, 450, "scene", seed=3))
    frame = tmp_path / "frame.jpg"
    frame.write_bytes(jpeg_bytes(640, 360, "scene", seed=4))
    caplog.set_level(logging.DEBUG)
    outputs = []
    with serve(
        serpapi, vision, gemini, tmdb, prefixes=("/serp", "/vision", "/gemini", "/tmdb")
    ) as url:
        serpapi.replies[f"{url}/picture.jpg"] = lens_reply(f"{url}/picture.jpg")
        for name, value in {
            "SERPAPI_URL": f"{url}/serp",
            "SERPAPI_API_KEY": serp_key,
            "COVERCTL_VISION_URL": f"{url}/vision/v1",
            "COVERCTL_VISION_MODEL": "gpt-4o-mini",
            "COVERCTL_VISION_API_KEY": vision_key,
            "GEMINI_API_URL": f"{url}/gemini/v1beta",
            "GEMINI_API_KEY": gemini_key,
            "TMDB_API_URL": f"{url}/tmdb/3",
            "TMDB_API_KEY": TMDB_KEY,
            "COVERCTL_WEB_SEARCH": "0",
        }.items():
            monkeypatch.setenv(name, value)
        commands = [
            ["lens", f"{url}/picture.jpg", "--json"],
            ["lens", f"{url}/picture.jpg"],
            ["identify", str(frame), "--reader", "vision", "--json"],
            ["edit", "Bruce Wayne", "--title", "The Dark Knight", "--prompt", "sketch", "--json"],
            ["doctor", "--json"],
            ["config", "show", "--json"],
        ]
        for args in commands:
            code = run(args)
            outputs.append("".join(capsys.readouterr()))
            assert code == 0, (args, outputs[-1])
        # Rejected keys: the errors name the variable, never the key.
        for name, value in (
            ("SERPAPI_API_KEY", serp_key + "x"),
            ("COVERCTL_VISION_API_KEY", vision_key + "x"),
            ("GEMINI_API_KEY", gemini_key + "x"),
        ):
            monkeypatch.setenv(name, value)
        for args in commands[:4]:
            args = [a for a in args if a != "--json"]
            code = run([*args[:1], *args[1:], "--refresh"] if args[0] == "lens" else args)
            outputs.append("".join(capsys.readouterr()))
            assert code == 4, (args, outputs[-1])
    # The fakes did see the keys: otherwise this test would prove nothing.
    assert any(r.url.params.get("api_key") == serp_key for r in serpapi.requests)
    assert any(r.headers.get("authorization") == f"Bearer {vision_key}" for r in vision.requests)
    assert any(r.headers.get("x-goog-api-key") == gemini_key for r in gemini.requests)
    text = "\n".join(outputs) + caplog.text
    stored = all_bytes_under(isolated_environment) + all_bytes_under(tmp_path / "static")
    for secret in (serp_key, vision_key, gemini_key, TMDB_KEY):
        assert secret not in text
        assert secret.encode() not in stored
