"""`coverctl candidates`, `pin`, `unpin`, `reject`, `unreject` through the real command line,
against a served TMDB fake and a served image host (real HTTP on 127.0.0.1); and `dead-links
--prune` and `push` with pinned rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from coverctl.cli.app import app, run
from coverctl.config import Settings
from coverctl.store.db import SqliteStore
from tests.curation_world import PictureHost, picture_for
from tests.fakes.base import serve
from tests.fakes.tmdb import VALID_KEY, FakeTmdb

BALE_PATH = "/qCpZn2e3dimwbryLnqxZuI88PTi.jpg"
WORK = ["Bruce Wayne", "--title", "The Dark Knight", "--year", "2008", "--media-type", "movie"]


@pytest.fixture
def images() -> Iterator[tuple[PictureHost, str]]:
    host = PictureHost("127.0.0.1")
    with serve(host) as url:
        yield host, url


@pytest.fixture
def tmdb_server(
    monkeypatch: pytest.MonkeyPatch, tmdb: FakeTmdb, images: tuple[PictureHost, str]
) -> Iterator[FakeTmdb]:
    tmdb.extra_profiles[3894] = ["/bale-2.jpg", "/bale-3.jpg"]
    with serve(tmdb) as url:
        monkeypatch.setenv("TMDB_API_URL", f"{url}/3")
        monkeypatch.setenv("TMDB_API_KEY", VALID_KEY)
        monkeypatch.setenv("TMDB_IMAGE_BASE_URL", f"{images[1]}/t/p")
        monkeypatch.setenv("COVERCTL_WEB_SEARCH", "0")
        yield tmdb


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code, out, err = cli(capsys, *args, "--json")
    assert out, err
    return code, json.loads(out)


def image(images: tuple[PictureHost, str], path: str) -> str:
    return f"{images[1]}/t/p/w500{path}"


def test_candidates_pin_a_number_and_unpin(
    tmdb_server: FakeTmdb,
    images: tuple[PictureHost, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, listing = cli_json(capsys, "candidates", *WORK)
    assert code == 0
    listed = [(c["number"], c["image_url"], c["served"]) for c in listing["candidates"]]
    assert listed == [
        (1, image(images, BALE_PATH), True),
        (2, image(images, "/bale-2.jpg"), False),
        (3, image(images, "/bale-3.jpg"), False),
    ]
    assert all(c["width"] == 500 and c["quality_score"] == 50 for c in listing["candidates"])
    code, out, _ = cli(capsys, "candidates", *WORK)
    assert code == 0 and "served" in out and "500×750" in out

    note = ["--note", "cowl", "--by", "ann"]
    code, pinned = cli_json(capsys, "pin", *WORK, "--candidate", "3", *note)
    assert code == 0
    assert pinned["decision"]["image_url"] == image(images, "/bale-3.jpg")
    assert (pinned["decision"]["decided_by"], pinned["decision"]["note"]) == ("ann", "cowl")
    assert pinned["decision"]["person_name"] == "Christian Bale"

    code, resolved = cli_json(capsys, "resolve", *WORK)
    assert code == 0
    assert (resolved["source"], resolved["quality_score"]) == ("pinned", 100)
    assert resolved["image_url"] == image(images, "/bale-3.jpg")
    assert resolved["matched"]["person"] == "Christian Bale"

    code, removed = cli_json(capsys, "unpin", *WORK)
    assert code == 0 and len(removed["unpinned"]) == 1
    code, resolved = cli_json(capsys, "resolve", *WORK)
    assert resolved["source"] == "tmdb"
    code, _, _ = cli(capsys, "unpin", *WORK)
    assert code == 3  # nothing left to unpin


def test_pin_a_url_or_a_file_and_refuse_bad_ones(
    tmdb_server: FakeTmdb,
    images: tuple[PictureHost, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = image(images, "/chosen.jpg")
    code, out, _ = cli(capsys, "pin", "Joker", url, "--title", "The Dark Knight")
    assert code == 0 and f"pinned {url}" in out and "now served" in out

    picture = tmp_path / "joker.png"
    picture.write_bytes(picture_for("joker"))  # JPEG bytes: the content decides, not the name
    code, pinned = cli_json(capsys, "pin", "Joker", str(picture), "--title", "Gotham")
    assert code == 0 and pinned["decision"]["image_url"].endswith(".jpg")
    assert pinned["resolution"]["source"] == "pinned"

    images[0].gone.add("t/p/w500/gone.jpg")
    code, _, err = cli(capsys, "pin", "Joker", image(images, "/gone.jpg"), "--title", "Batman")
    assert code == 3 and "dead" in err and "Traceback" not in err
    code, _, err = cli(capsys, "pin", "Joker", "--title", "Batman")
    assert code == 2 and "Give the picture to pin" in err
    code, _, err = cli(capsys, "pin", "Joker", url, "--title", "Batman", "--candidate", "1")
    assert code == 2
    code, _, err = cli(capsys, "pin", "Joker", str(tmp_path / "nope.jpg"), "--title", "Batman")
    assert code == 2 and "not a file" in err


def test_reject_the_served_picture_then_unreject_it(
    tmdb_server: FakeTmdb, images: tuple[PictureHost, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, first = cli_json(capsys, "resolve", *WORK)
    assert code == 0 and first["image_url"] == image(images, BALE_PATH)

    code, rejected = cli_json(capsys, "reject", *WORK, "--note", "wrong film")
    assert code == 0
    assert rejected["decision"]["image_url"] == image(images, BALE_PATH)
    assert rejected["decision"]["note"] == "wrong film"
    # Movies have one source (web search is off): nothing else to serve.
    assert rejected["resolution"]["status"] == "not_found"
    code, again = cli_json(capsys, "resolve", *WORK)
    assert code == 3 and again["status"] == "not_found"

    code, out, _ = cli(capsys, "unreject", *WORK, "--url", image(images, BALE_PATH))
    assert code == 0 and "unrejected" in out
    code, back = cli_json(capsys, "resolve", *WORK)
    assert code == 0 and back["image_url"] == image(images, BALE_PATH)
    code, _, _ = cli(capsys, "unreject", *WORK)
    assert code == 3

    code, _, err = cli(capsys, "reject", "Nobody", "--title", "The Dark Knight")
    assert code == 2 and "--url" in err


def test_typer_cli_runner_drives_pin_and_candidates(
    tmdb_server: FakeTmdb, images: tuple[PictureHost, str]
) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["candidates", *WORK, "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["candidates"]) == 3
    result = runner.invoke(app, ["pin", *WORK, "--candidate", "2"])
    assert result.exit_code == 0, result.output
    assert "bale-2.jpg" in result.stdout


def test_dead_links_prune_keeps_a_pinned_row_and_reports_it(
    tmdb_server: FakeTmdb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture = tmp_path / "mine.jpg"
    picture.write_bytes(picture_for("mine"))
    code, pinned = cli_json(capsys, "pin", *WORK, str(picture))
    assert code == 0
    Path(pinned["decision"]["image_url"]).unlink()  # the pinned file is gone

    code, report = cli_json(capsys, "dead-links", "--prune", "--max-prune", "100%")
    assert code == 3
    assert report["prune"]["pruned_rows"] == 0 and report["prune"]["pinned_kept"] == 1
    (dead,) = report["dead_links"]
    assert dead["status"] == "missing_file" and dead["pinned_rows"] == dead["row_ids"]
    store = SqliteStore(Settings.from_env().db_path)
    try:
        assert store.get(dead["row_ids"][0]) is not None
        assert store.decisions.count("pinned") == 1
    finally:
        store.close()
    code, out, _ = cli(capsys, "dead-links", "--prune", "--max-prune", "100%")
    assert "kept 1 pinned rows" in out


OLD_SCHEMA = """
CREATE TABLE character_images (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    character_name TEXT NOT NULL,
    movie_title TEXT NOT NULL,
    image_url TEXT NOT NULL,
    source TEXT NOT NULL CHECK (
        source IN (
            'character_specific', 'ai_generated', 'tvdb', 'tmdb', 'hardcover', 'web_search'
        )
    ),
    external_character_id TEXT,
    quality_score INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX character_images_character_movie_source_key
    ON character_images (character_name, movie_title, source);
"""


def test_push_exports_pinned_rows_and_upgrades_an_older_table(
    tmdb_server: FakeTmdb, pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(OLD_SCHEMA.encode())  # a table made before 'pinned' existed
    code, _ = cli_json(capsys, "pin", *WORK, "--candidate", "2")
    assert code == 0
    code, _ = cli_json(capsys, "resolve", "Joker", "--title", "The Dark Knight")
    assert code == 0

    code, _, err = cli(capsys, "push", "postgres", "--dsn", pg_dsn, "--json")
    assert code != 0 and "check" in err.lower(), err  # the old CHECK refuses the pinned row
    code, pushed = cli_json(capsys, "push", "postgres", "--dsn", pg_dsn, "--create-table")
    # Listing the candidates resolved Bruce Wayne too: his TMDB row is sent beside the pin.
    assert code == 0 and pushed["rows_sent"] == 3
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT character_name, source, quality_score, image_url FROM character_images "
            "ORDER BY character_name, source"
        ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("Bruce Wayne", "pinned", 100),
        ("Bruce Wayne", "tmdb", 50),
        ("Joker", "tmdb", 50),
    ]
    assert rows[0][3].endswith("/bale-2.jpg")
    # The decision is still there after the push: resolve serves the pin.
    code, resolved = cli_json(capsys, "resolve", *WORK)
    assert resolved["source"] == "pinned"


def test_batch_serves_pins_and_its_dry_run_counts_them(
    tmdb_server: FakeTmdb,
    images: tuple[PictureHost, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _ = cli_json(capsys, "pin", *WORK, "--candidate", "2")
    assert code == 0
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "character_name,title,year,media_type\n"
        "Bruce Wayne,The Dark Knight,2008,movie\nJoker,The Dark Knight,2008,movie\n"
    )
    code, plan = cli_json(capsys, "batch", str(rows), "--dry-run")
    assert code == 0 and plan["answered_without_providers"].get("pinned") == 1
    out = tmp_path / "out.jsonl"
    code, _, _ = cli(capsys, "batch", str(rows), "--out", str(out), "--quiet")
    assert code == 0
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["character_name"], r["source"], r["quality_score"]) for r in results] == [
        ("Bruce Wayne", "pinned", 100),
        ("Joker", "tmdb", 50),
    ]
    assert results[0]["image_url"] == image(images, "/bale-2.jpg")
