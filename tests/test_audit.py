"""`coverctl audit` on a real SQLite store: each problem kind, --fix through a fake TMDB,
the HTML report in a real browser, metrics parsed back, and the --fix lock."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image, ImageDraw, ImageStat
from prometheus_client.parser import text_string_to_metric_families

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.locking import command_lock
from coverctl.maintenance.audit import AuditOptions, run_audit, source_problem
from coverctl.store.db import SqliteStore
from tests.fakes.base import serve
from tests.fakes.tmdb import VALID_KEY, FakeTmdb
from tests.seed import seed_row

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

pytest_plugins = ["tests.browser"]

TMDB = "https://image.tmdb.org/t/p/w500"
TVDB = "https://artworks.thetvdb.com/banners/person"
HEATH_LEDGER = f"{TMDB}/5Y9HnYYa9jF4NunY9lSgJGjSe8E.jpg"  # Joker in FakeTmdb
MICHAEL_CAINE = f"{TMDB}/bVZRMlpjTAO2pJK6v90buFgVbSW.jpg"  # Alfred Pennyworth
AARON_ECKHART = f"{TMDB}/u5JjnRMr9zKEVvOP7k3F6gdcwT6.jpg"  # Harvey Dent / Two-Face
GARY_OLDMAN = f"{TMDB}/2v9FVVBUrrkW2m3QOcYkuhq9A6o.jpg"  # Lt. James Gordon


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def store(settings: Settings) -> Iterator[SqliteStore]:
    db = SqliteStore(settings.db_path)
    yield db
    db.close()


def jpeg_file(path: Path, size: tuple[int, int] = (240, 320), shade: int = 90) -> Path:
    image = Image.new("RGB", size, (shade, 40, 200 - shade))
    ImageDraw.Draw(image).ellipse((30, 40, size[0] - 30, size[1] - 60), fill=(250, 200, shade))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=90)
    return path


# -- which URL fits which source --------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "url", "quality", "wrong"),
    [
        ("tmdb", f"{TMDB}/abc.jpg", 50, False),
        ("tmdb", f"{TMDB}/aTmpXq.jpg", 50, False),  # "tmp" inside a TMDB name is chance
        ("tvdb", f"{TVDB}/1.jpg", 70, False),
        ("web_search", "https://cdn.example.org/x.jpg", 30, False),
        ("character_specific", "/srv/static/characters/joker.jpg", 100, False),
        ("character_specific", "https://backend.example/api/image-no-auth/joker.jpg", 100, False),
        ("ai_generated", "https://backend.example/api/image-no-auth/anonymous_1.jpg", 80, False),
        ("character_specific", f"{TMDB}/abc.jpg", 100, True),  # a TMDB picture as an override
        ("ai_generated", f"{TVDB}/1.jpg", 80, True),
        ("tmdb", "https://backend.example/image/anonymous_42.jpg", 50, True),
        ("tmdb", f"{TVDB}/1.jpg", 50, True),
        ("tvdb", f"{TMDB}/abc.jpg", 70, True),
        ("tmdb", "/srv/static/joker.jpg", 50, True),  # a local path for a provider
        ("web_search", "file:///etc/passwd", 30, True),  # not http for a remote source
        ("hardcover", "data:image/png;base64,AAAA", 60, True),
        ("character_specific", "javascript:alert(1)", 100, True),
        ("tmdb", f"{TMDB}/abc.jpg", 100, True),  # more than tmdb can score
        ("tmdb", "", 50, True),
        ("nonsense", f"{TMDB}/abc.jpg", 50, True),
    ],
)
def test_source_problem_rules(source: str, url: str, quality: int, wrong: bool) -> None:
    problem = source_problem(source, url, quality)
    assert (problem is not None) == wrong, problem
    if problem:
        assert problem.endswith(".") and "\n" not in problem


# -- finding each kind on a seeded store ------------------------------------------------------


def seed_every_kind(store: SqliteStore) -> dict[str, str]:
    """One or two rows per problem kind, and rows that look alike but are fine."""
    ids = {
        "fine": seed_row(store, "Alfred", "The Dark Knight", f"{TVDB}/9.jpg", "tvdb", 70),
        "low": seed_row(store, "Rachel Dawes", "The Dark Knight", f"{TMDB}/r.jpg", "tmdb", 50),
        "tmdb_as_local": seed_row(
            store, "Joker", "The Dark Knight", f"{TMDB}/j.jpg", "character_specific", 100
        ),
        "anonymous_as_tmdb": seed_row(
            store, "Gandalf", "The Hobbit", "https://cdn.example/anonymous_7.jpg", "tmdb", 50
        ),
        "placeholder_1": seed_row(
            store, "Frodo", "LOTR", "https://img.example/none.png", "web_search", 30
        ),
        "placeholder_2": seed_row(
            store, "Sam", "LOTR", "https://img.example/none.png", "web_search", 30
        ),
        "same_picture_1": seed_row(
            store, "Aragorn", "LOTR", f"{TVDB}/a.jpg", "tvdb", 70, image_hash="c3c3c3c3c3c3c3c3"
        ),
        "same_picture_2": seed_row(
            store, "Boromir", "LOTR", f"{TVDB}/b.jpg", "tvdb", 70, image_hash="c3c3c3c3c3c3c3c3"
        ),
        # One actor's profile photo for each of their roles: expected, not a duplicate.
        "actor_role_1": seed_row(
            store, "Bruce Wayne", "Batman Begins", f"{TVDB}/bale.jpg", "tvdb", 70,
            person_name="Christian Bale",
        ),
        "actor_role_2": seed_row(
            store, "Patrick Bateman", "American Psycho", f"{TVDB}/bale.jpg", "tvdb", 70,
            person_name="Christian Bale",
        ),
        # One character across titles with one picture: not a duplicate either.
        "recurring_1": seed_row(store, "Gollum", "LOTR", f"{TVDB}/g.jpg", "tvdb", 70),
        "recurring_2": seed_row(store, "Gollum", "The Hobbit", f"{TVDB}/g.jpg", "tvdb", 70),
        "dead": seed_row(
            store, "Harvey Dent", "The Dark Knight", f"{TVDB}/h.jpg", "tvdb", 70,
            status="http_404",
        ),
        "unchecked": seed_row(
            store, "Lucius Fox", "The Dark Knight", f"{TVDB}/l.jpg", "tvdb", 70,
            checked=None, status=None,
        ),
    }  # fmt: skip
    return ids


def problems_by_row(data: dict[str, Any]) -> dict[str, list[str]]:
    return {row["row_id"]: row["problems"] for row in data["rows"]}


def test_audit_finds_each_problem_kind_and_groups_by_source(
    store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = seed_every_kind(store)
    code, out, _ = cli(capsys, "audit", "--json", "--limit", "0")
    assert code == 3
    data = json.loads(out)
    found = problems_by_row(data)
    assert found == {
        ids["low"]: ["low_quality"],
        ids["tmdb_as_local"]: ["wrong_source"],
        ids["anonymous_as_tmdb"]: ["wrong_source", "low_quality"],
        ids["placeholder_1"]: ["duplicate_image", "low_quality"],
        ids["placeholder_2"]: ["duplicate_image", "low_quality"],
        ids["same_picture_1"]: ["duplicate_image"],
        ids["same_picture_2"]: ["duplicate_image"],
        ids["dead"]: ["dead_link"],
        ids["unchecked"]: ["never_checked"],
    }
    assert data["rows_scanned"] == 14 and data["rows_with_problems"] == 9
    assert data["problems"] == {
        "dead_link": 1,
        "wrong_source": 2,
        "duplicate_image": 4,
        "low_quality": 4,
        "never_checked": 1,
    }
    assert data["by_source"]["tvdb"]["rows"] == 9
    assert data["by_source"]["tvdb"]["rows_with_problems"] == 4
    assert data["by_source"]["tmdb"]["problems"]["low_quality"] == 2
    assert data["rows"][0]["problems"] == ["dead_link"]  # most serious first
    details = {row["row_id"]: row["details"] for row in data["rows"]}
    assert "Sam (LOTR)" in details[ids["placeholder_1"]][0]
    assert "same image hash" in details[ids["same_picture_1"]][0]
    assert "http_404" in details[ids["dead"]][0]
    assert data["fix"] is None and data["exit_code"] == 3


def test_a_clean_store_exits_zero(store: SqliteStore, capsys: pytest.CaptureFixture[str]) -> None:
    seed_row(store, "Alfred", "The Dark Knight", f"{TVDB}/9.jpg", "tvdb", 70)
    seed_row(store, "Joker", "The Dark Knight", "/srv/joker.jpg", "character_specific", 100)
    code, out, _ = cli(capsys, "audit")
    assert code == 0
    assert "2 rows, 0 with problems" in out and "no problems found" in out


def test_min_quality_and_source_filter(
    store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_every_kind(store)
    _, out, _ = cli(capsys, "audit", "--json", "--min-quality", "40", "--source", "tmdb")
    data = json.loads(out)
    assert data["rows_scanned"] == 2 and set(data["by_source"]) == {"tmdb"}
    assert data["problems"]["low_quality"] == 0  # 50 clears a bar of 40
    assert data["problems"]["wrong_source"] == 1


@pytest.mark.parametrize(
    "args", [["--source", "flickr"], ["--min-quality", "101"], ["--limit", "-1"]]
)
def test_bad_flags_are_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, _, err = cli(capsys, "audit", *args)
    assert code == 2 and "Traceback" not in err


def test_listing_is_bounded_worst_first_with_the_rest_counted(store: SqliteStore) -> None:
    for n in range(40):
        seed_row(store, f"Extra {n}", "Crowd", f"{TMDB}/{n}.jpg", "tmdb", 10 + n)
    seed_row(store, "Broken", "Crowd", f"{TMDB}/dead.jpg", "tmdb", 50, status="timeout")
    result = run_audit(store, AuditOptions(keep=5))
    assert result.rows_with_problems == 41 and result.findings_omitted == 36
    assert [f.character_name for f in result.findings] == [
        "Broken",
        "Extra 0",
        "Extra 1",
        "Extra 2",
        "Extra 3",
    ]


# -- --fix ------------------------------------------------------------------------------------


@pytest.fixture
def tmdb_server(monkeypatch: pytest.MonkeyPatch, tmdb: FakeTmdb) -> Iterator[FakeTmdb]:
    with serve(tmdb) as url:
        monkeypatch.setenv("TMDB_API_URL", f"{url}/3")
        monkeypatch.setenv("TMDB_API_KEY", VALID_KEY)
        monkeypatch.setenv("COVERCTL_WEB_SEARCH", "0")
        yield tmdb


def test_fix_keeps_only_better_answers(
    tmdb_server: FakeTmdb, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    dk = "The Dark Knight"
    joker = seed_row(store, "Joker", dk, "https://img.example/j.jpg", "web_search", 30,
                     media_type="movie")  # fmt: skip
    bruce = seed_row(store, "Bruce Wayne", dk, f"{TVDB}/bale.jpg", "tvdb", 65, media_type="movie")
    alfred = seed_row(store, "Alfred Pennyworth", dk, f"{TMDB}/gone.jpg", "tmdb", 50,
                      media_type="movie", status="http_404")  # fmt: skip
    gandalf = seed_row(store, "Gandalf", dk, "https://img.example/g.jpg", "web_search", 30,
                       media_type="movie")  # fmt: skip
    harvey = seed_row(store, "Harvey Dent", dk, AARON_ECKHART, "character_specific", 100,
                      media_type="movie")  # fmt: skip
    gordon = seed_row(store, "Lt. James Gordon", dk, GARY_OLDMAN, "tmdb", 50, media_type="movie")

    code, out, _ = cli(capsys, "audit", "--fix", "--json")
    data = json.loads(out)
    outcomes = {c["row_id"]: c for c in data["fix"]["changes"]}

    # Better quality: the web search row is replaced by TMDB's picture and removed.
    assert outcomes[joker]["outcome"] == "replaced"
    assert outcomes[joker]["new"]["source"] == "tmdb"
    assert outcomes[joker]["new"]["image_url"] == HEATH_LEDGER
    assert store.get(joker) is None
    new_joker = store.get(outcomes[joker]["new"]["row_id"])
    assert new_joker is not None and new_joker["image_url"] == HEATH_LEDGER

    # A better existing row is kept, and the worse answer is not written anywhere.
    assert outcomes[bruce]["outcome"] == "kept"
    assert store.get(bruce)["image_url"] == f"{TVDB}/bale.jpg"  # type: ignore[index]
    assert [r["source"] for r in store.find("bruce wayne", "the dark knight")] == ["tvdb"]

    # A dead row is replaced in place (same source), and its old link status is cleared.
    assert outcomes[alfred]["outcome"] == "replaced"
    fixed = store.get(alfred)
    assert fixed is not None and fixed["image_url"] == MICHAEL_CAINE
    assert fixed["last_status"] is None and fixed["last_checked"] is None

    # Nothing found: the old row stays.
    assert outcomes[gandalf]["outcome"] == "not_found"
    assert store.get(gandalf) is not None

    # A TMDB picture recorded as a local override moves to its right source, at its real score.
    assert outcomes[harvey]["outcome"] == "replaced" and store.get(harvey) is None
    assert [
        (r["source"], r["image_url"]) for r in store.find("harvey dent", "the dark knight")
    ] == [("tmdb", AARON_ECKHART)]

    # The same answer again: nothing to do.
    assert outcomes[gordon]["outcome"] == "unchanged"
    assert store.get(gordon)["image_url"] == GARY_OLDMAN  # type: ignore[index]

    assert data["fix"]["replaced"] == 3 and data["fix"]["kept"] == 1
    assert data["fix"]["unchanged"] == 1 and data["fix"]["not_found"] == 1
    assert data["fix"]["attempted"] == 6
    # The summary describes the store after the fixes: the new TMDB rows are unchecked and
    # below the bar, so problems remain.
    assert code == 3 and data["problems"]["dead_link"] == 0


def test_fix_limit_leaves_the_rest_for_later(
    tmdb_server: FakeTmdb, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("Joker", "Harvey Dent / Two-Face", "Alfred Pennyworth"):
        seed_row(store, name, "The Dark Knight", f"https://img.example/{len(name)}.jpg",
                 "web_search", 30, media_type="movie")  # fmt: skip
    _, out, _ = cli(capsys, "audit", "--fix", "--fix-limit", "1", "--json")
    fix = json.loads(out)["fix"]
    assert fix["attempted"] == 1 and fix["skipped"] == 2


def test_fix_refuses_to_overlap_another_fix(
    settings: Settings, store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    row = seed_row(store, "Joker", "The Dark Knight", "https://img.example/j.jpg", "web_search", 30)
    with command_lock(settings, "audit"):
        code, out, err = cli(capsys, "audit", "--fix", "--json")
        assert code == 4 and out == ""
        assert "another `coverctl audit` run is in progress" in err
        assert "This run did nothing" in err and "Traceback" not in err
        # A read-only audit does not need the lock.
        code, _, _ = cli(capsys, "audit", "--json")
        assert code == 3
    assert store.get(row) is not None


# -- metrics ----------------------------------------------------------------------------------


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_file_parses_back_with_problem_rows_per_kind(
    store: SqliteStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_every_kind(store)
    prom = tmp_path / "audit.prom"
    code, _, _ = cli(capsys, "audit", "--metrics-file", str(prom), "--quiet")
    assert code == 3
    values = samples(prom)
    kinds = {
        "dead_link": 1,
        "wrong_source": 2,
        "duplicate_image": 4,
        "low_quality": 4,
        "never_checked": 1,
    }
    for kind, count in kinds.items():
        assert values[("audit_problem_rows", (("command", "audit"), ("kind", kind)))] == count
    assert values[("coverctl_last_success_timestamp_seconds", (("command", "audit"),))] > 1e9
    for name in ("image_cache_hits_total", "image_generation_failures_total", "dead_links"):
        assert (name, (("command", "audit"),)) in values
    assert ("image_generation_duration_seconds_count", (("command", "audit"),)) in values


def test_quiet_prints_nothing_but_keeps_the_exit_code(
    store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_every_kind(store)
    code, out, err = cli(capsys, "audit", "--quiet")
    assert code == 3 and out == "" and err == ""


# -- the HTML report --------------------------------------------------------------------------


def test_html_report_is_capped_and_says_why_a_picture_has_no_thumbnail(
    store: SqliteStore, static_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = jpeg_file(static_dir / "characters" / "character_specific_image_joker.jpg")
    seed_row(store, "Joker", "The Dark Knight", str(local), "character_specific", 100,
             status="unreadable_file")  # fmt: skip
    for n in range(12):
        seed_row(store, f"Extra {n}", "Crowd", f"{TMDB}/{n}.jpg", "tmdb", 50)
    report = tmp_path / "report.html"
    code, out, _ = cli(capsys, "audit", "--html", str(report), "--html-limit", "5", "--json")
    assert code == 3 and json.loads(out)["html"] == {"path": str(report), "cards_omitted": 8}
    page = report.read_text()
    assert page.count('<article class="card"') == 5
    assert "rows not shown" in page
    # The local file is read from disk; the TMDB pictures cannot be fetched (tests have no
    # internet), and each card says so instead of showing a blank box.
    assert page.count('src="data:image/webp;base64,') == 1
    assert page.count(">unreachable</span>") == 4
    assert '<img class="th" src="https://' not in page


def test_missing_report_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "audit", "--html", str(tmp_path / "nope" / "r.html"))
    assert code == 2 and "does not exist" in err


@pytest.fixture
def cli_report(
    settings: Settings,
    static_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> tuple[str, dict[str, Any]]:
    """A report written by the CLI from a seeded store with local pictures."""
    store = SqliteStore(settings.db_path)
    try:
        seed_every_kind(store)
        for n, name in enumerate(("Joker", "Bane", "Catwoman")):
            picture = jpeg_file(static_dir / f"{name.lower()}.jpg", shade=60 * n)
            seed_row(store, name, "Gotham", str(picture), "character_specific", 100,
                     checked=None, status=None)  # fmt: skip
    finally:
        store.close()
    path = tmp_path_factory.mktemp("cli-report") / "audit.html"
    code, out, _ = cli(capsys, "audit", "--html", str(path), "--json", "--limit", "0")
    assert code == 3
    return path.as_uri(), json.loads(out)


def visible_cards(driver: WebDriver) -> int:
    count = driver.execute_script(
        "return [...document.querySelectorAll('article.card')]"
        ".filter(e => e.checkVisibility()).length"
    )
    assert isinstance(count, int)
    return count


@pytest.mark.browser
def test_cli_report_renders_every_card_and_filters_in_a_browser(
    browser: WebDriver, cli_report: tuple[str, dict[str, Any]]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, data = cli_report
    browser.get(url)
    assert visible_cards(browser) == data["rows_with_problems"] == 12
    assert browser.find_element(By.ID, "shown").text == "12"

    Select(browser.find_element(By.ID, "filter-problem")).select_by_value("duplicate_image")
    assert visible_cards(browser) == data["problems"]["duplicate_image"] == 4
    Select(browser.find_element(By.ID, "filter-source")).select_by_value("web_search")
    assert visible_cards(browser) == 2
    assert browser.find_element(By.ID, "shown").text == "2"

    widths = browser.execute_script(
        "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)"
    )
    # Local pictures only: the remote ones cannot be fetched in tests (no internet).
    assert len(widths) == 3 and all(0 < w <= 160 for w in widths), widths
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []  # nothing blocked by the CSP, nothing fetched, no script error


@pytest.mark.browser
def test_cli_report_screenshot_is_not_blank(
    browser: WebDriver, cli_report: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    browser.get(cli_report[0])
    shot = tmp_path / "audit.png"
    assert browser.save_screenshot(str(shot))
    with Image.open(shot) as image:
        small = image.convert("RGB").resize((160, 112))
        colours = small.getcolors(maxcolors=small.width * small.height) or []
        stddev = ImageStat.Stat(small.convert("L")).stddev[0]
    # A blank or unstyled page is one or two flat colours; this one has a dark header, coloured
    # badges and three photo thumbnails.
    assert len(colours) > 150, len(colours)
    assert stddev > 20, stddev
    assert max(colours)[0] < 0.7 * small.width * small.height
