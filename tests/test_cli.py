"""The command line as users and scripts see it: output, JSON, exit codes, no tracebacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from coverctl.cli.app import run
from tests.fakes.base import serve
from tests.fakes.tmdb import VALID_KEY, FakeTmdb


@pytest.fixture
def tmdb_server(monkeypatch: pytest.MonkeyPatch, tmdb: FakeTmdb) -> Iterator[FakeTmdb]:
    with serve(tmdb) as url:
        monkeypatch.setenv("TMDB_API_URL", f"{url}/3")
        monkeypatch.setenv("TMDB_API_KEY", VALID_KEY)
        monkeypatch.setenv("COVERCTL_WEB_SEARCH", "0")
        yield tmdb


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_resolve_json_returns_lead_actor_then_cache_hit(tmdb_server: FakeTmdb, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli(capsys, "resolve", "Bruce Wayne", "--title", "The Dark Knight", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "resolved"
    assert data["source"] == "tmdb" and data["quality_score"] == 50
    assert data["image_url"] == "https://image.tmdb.org/t/p/w500/qCpZn2e3dimwbryLnqxZuI88PTi.jpg"
    assert data["matched"] == {
        "person": "Christian Bale",
        "character": "Bruce Wayne / Batman",
        "external_id": "3894",
    }
    assert data["cache_hit"] is False
    sent = len(tmdb_server.requests)
    assert sent == 2
    code, out, _ = cli(capsys, "resolve", "Bruce Wayne", "--title", "The Dark Knight", "--json")
    assert code == 0 and json.loads(out)["cache_hit"] is True
    assert len(tmdb_server.requests) == sent


def test_resolve_json_has_every_contract_field(tmdb_server: FakeTmdb, capsys) -> None:  # type: ignore[no-untyped-def]
    _, out, _ = cli(
        capsys, "resolve", "Joker", "--title", "The Dark Knight", "--year", "2008", "--json"
    )
    data = json.loads(out)
    for field in (
        "row",
        "character_name",
        "title",
        "year",
        "media_type",
        "status",
        "image_url",
        "source",
        "quality_score",
        "matched",
        "cache_hit",
        "elapsed_ms",
        "error",
    ):
        assert field in data
    assert data["year"] == 2008 and data["media_type"] == "movie"


def test_resolve_not_found_exits_three_with_reason(tmdb_server: FakeTmdb, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli(
        capsys,
        "resolve",
        "Gandalf",
        "--title",
        "The Dark Knight",
        "--media-type",
        "movie",
        "--json",
    )
    assert code == 3
    data = json.loads(out)
    assert data["status"] == "not_found" and "Gandalf" in data["error"]


def test_resolve_explain_shows_sources(tmdb_server: FakeTmdb, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli(capsys, "resolve", "Bruce Wayne", "--title", "The Dark Knight", "--explain")
    assert code == 0
    assert "Christian Bale" in out and "local" in out and "tmdb_movie" in out and "accepted" in out


def test_rejected_key_exits_four_with_one_sentence(
    tmdb_server: FakeTmdb, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TMDB_API_KEY", "ffffffffffffffffffffffffffffffff")
    code, out, err = cli(capsys, "resolve", "Bruce Wayne", "--title", "The Dark Knight")
    assert code == 4
    assert "TMDB_API_KEY" in err
    assert "Traceback" not in err and "ffffffff" not in err + out


def test_missing_input_file_is_usage_error(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli(capsys, "batch", str(tmp_path / "nope.csv"))
    assert code == 2 and "no such file" in err


def test_batch_streams_jsonl_with_passthrough_columns(
    tmdb_server: FakeTmdb, capsys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.csv"
    source.write_text(
        "character,movie_title,year,media_type,ticket\n"
        "Bruce Wayne,The Dark Knight,2008,movie,T-1\n"
        "Joker,The Dark Knight,2008,movie,T-2\n"
        ",The Dark Knight,2008,movie,T-3\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    code, _, _ = cli(capsys, "batch", str(source), "--out", str(out), "--quiet")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert code == 3  # one bad row
    assert [r["row"] for r in rows] == [1, 2, 3]
    assert [r["status"] for r in rows] == ["resolved", "resolved", "error"]
    assert [r["ticket"] for r in rows] == ["T-1", "T-2", "T-3"]
    assert "empty" in rows[2]["error"]
    assert len(tmdb_server.requests) == 2


def test_batch_csv_output(tmdb_server: FakeTmdb, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import csv

    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"character_name": "Joker", "title": "The Dark Knight", "year": 2008}) + "\n"
    )
    out = tmp_path / "out.csv"
    code, _, _ = cli(capsys, "batch", str(source), "--out", str(out), "--format", "csv", "--quiet")
    assert code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows[0]["matched_person"] == "Heath Ledger" and rows[0]["status"] == "resolved"


def test_cache_stats_and_clear(tmdb_server: FakeTmdb, capsys) -> None:  # type: ignore[no-untyped-def]
    cli(capsys, "resolve", "Bruce Wayne", "--title", "The Dark Knight", "--json")
    code, out, _ = cli(capsys, "cache", "stats", "--json")
    tiers = {t["tier"]: t for t in json.loads(out)["tiers"]}
    assert code == 0 and tiers["resolution"]["entries"] == 1 and tiers["response"]["entries"] == 2
    code, out, _ = cli(capsys, "cache", "clear", "--source", "tmdb", "--json")
    assert json.loads(out)["removed"] == 3
    sent = len(tmdb_server.requests)
    _, out, _ = cli(capsys, "resolve", "Bruce Wayne", "--title", "The Dark Knight", "--json")
    assert json.loads(out)["cache_hit"] is False and len(tmdb_server.requests) == sent + 2


def test_config_set_is_private_and_used_but_never_shown(capsys, isolated_environment: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, _ = cli(capsys, "config", "set", "TMDB_API_KEY", "secret-value-123")
    assert code == 0
    config_file = isolated_environment / "config.toml"
    assert config_file.stat().st_mode & 0o077 == 0
    code, out, _ = cli(capsys, "config", "show", "--json")
    settings = {s["name"]: s for s in json.loads(out)["settings"]}
    assert settings["TMDB_API_KEY"] == {
        **settings["TMDB_API_KEY"],
        "value": "set",
        "origin": "config file",
    }
    assert "secret-value-123" not in out


def test_unknown_config_name_is_usage_error(capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli(capsys, "config", "set", "TMDB_KEY", "x")
    assert code == 2 and "Unknown setting" in err


def test_every_command_has_help_with_an_example(capsys) -> None:  # type: ignore[no-untyped-def]
    import typer.main

    from coverctl.cli.app import app

    group = typer.main.get_command(app)
    names = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        names += [f"{name} {sub}" for sub in subcommands] if subcommands else [name]
    assert {"resolve", "batch", "cache clear", "cache stats"} <= set(names)
    for name in names:
        code, out, _ = cli(capsys, *name.split(), "--help")
        assert code == 0
        assert "Example: coverctl" in out, name


def test_every_command_is_documented_in_the_readme() -> None:
    import typer.main

    from coverctl.cli.app import app

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    group = typer.main.get_command(app)
    for name in group.commands:  # type: ignore[attr-defined]
        assert f"coverctl {name}" in readme, name


@pytest.mark.parametrize(
    "args",
    [
        ["resolve", "X"],
        ["resolve", "X", "--title", "T", "--year", "abc"],
        ["nosuch"],
        ["batch"],
        ["cache", "clear", "--bogus"],
    ],
)
def test_typer_usage_errors_exit_two_without_traceback(capsys, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(capsys, *args)
    assert code == 2
    assert "Traceback" not in out + err
    assert "Error" in err


def test_bare_command_prints_help_and_succeeds(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(capsys)
    assert code == 0
    assert "Commands" in out + err


def test_typer_cli_runner_drives_the_app(tmdb_server: FakeTmdb) -> None:
    from typer.testing import CliRunner

    from coverctl.cli.app import app

    result = CliRunner().invoke(app, ["resolve", "Joker", "--title", "The Dark Knight", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["matched"]["person"] == "Heath Ledger"


@pytest.mark.parametrize("make", ["directory", "dash"])
def test_unusable_input_paths_are_usage_errors(capsys, tmp_path: Path, make: str) -> None:  # type: ignore[no-untyped-def]
    target = str(tmp_path) if make == "directory" else "-"
    code, _, err = cli(capsys, "batch", target)
    assert code == 2 and "Traceback" not in err


def test_home_on_a_file_is_a_clear_configuration_error(capsys, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "not-a-dir"
    home.write_text("x")
    monkeypatch.setenv("COVERCTL_HOME", str(home))
    code, _, err = cli(capsys, "cache", "stats")
    assert code == 4 and "COVERCTL_HOME" in err and "unexpected" not in err


def test_damaged_store_pages_are_a_clear_configuration_error(
    capsys, isolated_environment: Path
) -> None:  # type: ignore[no-untyped-def]
    from coverctl.store.db import SqliteStore

    store = SqliteStore(isolated_environment / "coverctl.db")
    for i in range(300):
        store.upsert(
            __import__("tests.test_store", fromlist=["record"]).record(character_key=f"c{i}")
        )
    store.close()
    path = isolated_environment / "coverctl.db"
    data = bytearray(path.read_bytes())
    data[8192:16384] = b"\xff" * 8192  # damage pages after the header
    path.write_bytes(bytes(data))
    code, _, err = cli(capsys, "audit", "--json")
    assert code == 4 and "coverctl.db" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("COVERCTL_HTTP_TIMEOUT", "0", 2),
        ("COVERCTL_RATE_TMDB", "abc", 2),
        ("TMDB_API_URL", "not a url", 4),
    ],
)
def test_config_set_refuses_a_bad_value_and_saves_nothing(
    capsys, isolated_environment: Path, name: str, value: str, code: int
) -> None:  # type: ignore[no-untyped-def]
    got, _, err = cli(capsys, "config", "set", name, value)
    assert got == code and name in err
    assert not (isolated_environment / "config.toml").exists()


def test_config_unset_repairs_a_bad_value_written_by_hand(
    capsys, isolated_environment: Path
) -> None:  # type: ignore[no-untyped-def]
    isolated_environment.mkdir(parents=True, exist_ok=True)
    (isolated_environment / "config.toml").write_text('COVERCTL_HTTP_TIMEOUT = "zero"\n')
    assert cli(capsys, "cache", "stats")[0] == 2  # the bad value blocks other commands...
    assert cli(capsys, "config", "unset", "COVERCTL_HTTP_TIMEOUT")[0] == 0  # ...not its repair
    assert cli(capsys, "cache", "stats")[0] == 0
