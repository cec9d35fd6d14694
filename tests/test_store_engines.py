"""The store's behaviour, the same on both engines: every test runs against the SQLite file and
against a real PostgreSQL (tests/services.py; a database of its own per test), both opened through
`open_store`, the one factory the rest of coverctl uses."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coverctl.config import Settings
from coverctl.locking import RunInProgress
from coverctl.store import open_store
from coverctl.store.interfaces import ImageStore
from coverctl.store.records import (
    FAILED,
    FINISHED,
    INTERRUPTED,
    PINNED,
    REJECTED,
    RUNNING,
    Decision,
    ImageRecord,
    InputIdentity,
)

ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES)
def engine_settings(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> Settings:
    if request.param == "postgres":
        dsn = request.getfixturevalue("pg_dsn")
        return make_settings(COVERCTL_DATABASE_URL=dsn)
    return make_settings()


@pytest.fixture
def store(engine_settings: Settings) -> Iterator[ImageStore]:
    opened = open_store(engine_settings)
    yield opened
    opened.close()


def record(**changes: object) -> ImageRecord:
    base: dict[str, object] = dict(
        character_name="Bruce Wayne",
        movie_title="The Dark Knight",
        character_key="bruce wayne",
        title_key="the dark knight",
        image_url="https://image.tmdb.org/t/p/w500/a.jpg",
        source="tmdb",
        quality_score=50,
        external_character_id="3894",
        person_name="Christian Bale",
    )
    base.update(changes)
    return ImageRecord(**base)  # type: ignore[arg-type]


def character(name: str, title: str = "The Dark Knight", **changes: object) -> ImageRecord:
    return record(
        character_name=name,
        character_key=name.lower(),
        movie_title=title,
        title_key=title.lower(),
        **changes,
    )


def test_the_factory_opens_the_engine_the_settings_name(
    store: ImageStore, engine_settings: Settings
) -> None:
    assert store.shared is (engine_settings.database_url is not None)
    assert store.schema_version > 0
    if store.shared:
        assert store.location.startswith("PostgreSQL at 127.0.0.1:")
    else:
        assert store.location == str(engine_settings.db_path)


def test_upsert_keeps_one_row_per_character_title_source(store: ImageStore) -> None:
    first_id = store.upsert(record())
    created = store.get(first_id)["created_at"]  # type: ignore[index]
    second_id = store.upsert(
        record(
            character_name="BRUCE WAYNE",  # another spelling of the same key
            image_url="https://image.tmdb.org/t/p/w500/b.jpg",
            quality_score=55,
        )
    )
    assert first_id == second_id
    assert store.count() == 1
    row = store.get(first_id)
    assert row is not None
    assert row["image_url"].endswith("/b.jpg") and row["quality_score"] == 55
    assert row["character_name"] == "BRUCE WAYNE"  # the latest spelling
    assert row["created_at"] == created
    datetime.fromisoformat(row["updated_at"])  # text timestamps, whatever the engine
    store.upsert(record(source="tvdb", quality_score=70))
    assert store.count() == 2
    assert [r["source"] for r in store.find("bruce wayne", "the dark knight")] == ["tvdb", "tmdb"]
    assert [r["source"] for r in store.find("bruce wayne", "the dark knight", ["tmdb"])] == ["tmdb"]
    assert store.find("alfred", "the dark knight") == []


def test_rows_carry_the_same_columns_on_every_engine(store: ImageStore) -> None:
    row_id = store.upsert(record(media_type="movie", year=2008, image_hash="ab" * 8))
    row = store.get(row_id)
    assert row is not None
    assert list(row) == [
        "id",
        "character_name",
        "movie_title",
        "character_key",
        "title_key",
        "image_url",
        "source",
        "external_character_id",
        "quality_score",
        "person_name",
        "matched_character",
        "media_type",
        "year",
        "created_at",
        "updated_at",
        "image_hash",
        "image_width",
        "image_height",
        "last_checked",
        "last_status",
    ]
    assert (row["id"], row["year"], row["image_hash"]) == (row_id, 2008, "ab" * 8)


def test_a_new_picture_clears_the_link_check_the_same_picture_keeps_it(store: ImageStore) -> None:
    row_id = store.upsert(record())
    store.mark_checked([("2026-01-02T03:04:05+00:00", "alive", row_id)])
    store.upsert(record(quality_score=51))
    kept = store.get(row_id)
    assert kept is not None and kept["last_status"] == "alive"
    assert datetime.fromisoformat(kept["last_checked"]) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    store.upsert(record(image_url="https://image.tmdb.org/t/p/w500/new.jpg"))
    cleared = store.get(row_id)
    assert cleared is not None and (cleared["last_checked"], cleared["last_status"]) == (None, None)


def test_get_rows_by_id_delete_and_unknown_ids(store: ImageStore) -> None:
    bruce = store.upsert(record())
    alfred = store.upsert(character("Alfred Pennyworth"))
    assert set(store.rows_by_id([bruce, alfred, "no-such-id"])) == {bruce, alfred}
    assert store.get("no-such-id") is None
    store.delete(alfred)
    store.delete("no-such-id")  # nothing to delete: no error
    assert store.get(alfred) is None and store.count() == 1
    store.update_fields(bruce, {"quality_score": 7})
    assert store.get(bruce)["quality_score"] == 7  # type: ignore[index]


def test_recent_and_rows_changed_since_order_and_filter(store: ImageStore) -> None:
    first = store.upsert(character("Alfred Pennyworth"))
    time.sleep(1.05)  # timestamps have whole seconds
    middle = datetime.now(UTC).replace(microsecond=0)
    second = store.upsert(character("Harvey Dent"))
    assert [r["id"] for r in store.recent()] == [second, first]
    assert [r["id"] for r in store.recent(limit=1)] == [second]
    assert [r["id"] for r in store.recent(middle.isoformat())] == [second]
    assert [r["id"] for r in store.rows_changed_since()] == [first, second]
    assert [r["id"] for r in store.rows_changed_since(middle)] == [second]
    later = middle + timedelta(hours=1)
    assert list(store.rows_changed_since(later)) == []


def test_audit_scan_lists_every_row_oldest_change_first(store: ImageStore) -> None:
    first = store.upsert(character("Alfred Pennyworth", source="tvdb", quality_score=70))
    time.sleep(1.05)
    second = store.upsert(character("Harvey Dent"))
    store.mark_checked([("2026-01-02T03:04:05+00:00", "dead", second)])
    scan = list(store.audit_scan())
    assert [(r.id, r.source, r.quality_score) for r in scan] == [
        (first, "tvdb", 70),
        (second, "tmdb", 50),
    ]
    assert scan[1].last_status == "dead" and scan[1].last_checked is not None
    assert [r.id for r in store.audit_scan("tvdb")] == [first]


def test_shared_pictures_group_different_characters_but_not_one_actors_roles(
    store: ImageStore,
) -> None:
    shared = "https://img.example/shared.jpg"
    a = store.upsert(character("Two Face", image_url=shared, person_name="Aaron Eckhart"))
    b = store.upsert(character("Joker", image_url=shared, person_name="Heath Ledger"))
    for name, person in (("Rachel", "Maggie Gyllenhaal"), ("Lucius", "Morgan Freeman")):
        url = f"https://img.example/{name}.jpg"
        store.upsert(character(name, image_url=url, image_hash="f" * 16, person_name=person))
    # One actor's photo for two of their roles is not a duplicate.
    same = "https://img.example/bale.jpg"
    store.upsert(character("Bruce Wayne", image_url=same, person_name="Christian Bale"))
    store.upsert(character("Batman", image_url=same, person_name="christian bale "))
    groups = list(store.shared_picture_groups("image_url"))
    assert len(groups) == 1
    assert sorted(groups[0]) == sorted(
        [(a, "Two Face (The Dark Knight)"), (b, "Joker (The Dark Knight)")]
    )
    by_hash = list(store.shared_picture_groups("image_hash"))
    assert [sorted(label for _, label in group) for group in by_hash] == [
        ["Lucius (The Dark Knight)", "Rachel (The Dark Knight)"]
    ]
    with pytest.raises(ValueError):
        list(store.shared_picture_groups("character_name"))


def test_link_checks_group_mark_and_prune(store: ImageStore) -> None:
    url = "https://img.example/shared.jpg"
    a = store.upsert(character("Two Face", image_url=url))
    b = store.upsert(character("Joker", image_url=url))
    c = store.upsert(character("Rachel", image_url="https://img.example/r.jpg"))
    local = store.upsert(
        character("Alfred", source="character_specific", image_url="/srv/static/alfred.jpg")
    )
    backend = store.upsert(character("Lucius", source="ai_generated", image_url="/image/x.jpg"))
    pinned = store.upsert(character("Gordon", source="pinned", image_url=url, quality_score=100))

    assert store.link_check_counts(local=True, checked_before=None) == (1, 1)
    assert store.link_check_counts(local=False, checked_before=None) == (3, 5)
    groups = dict(store.link_groups(local=False, checked_before=None))
    assert set(groups) == {url, "https://img.example/r.jpg", "/image/x.jpg"}
    assert sorted(groups[url]) == sorted([a, b, pinned])
    assert dict(store.link_groups(local=True, checked_before=None)) == {
        "/srv/static/alfred.jpg": (local,)
    }

    store.mark_checked([("2026-01-02T00:00:00+00:00", "alive", c)])
    # r.jpg was checked after the cut-off: its one row is not due.
    assert store.link_check_counts(local=False, checked_before="2026-01-01T00:00:00+00:00") == (
        2,
        4,
    )
    assert store.link_check_counts(local=False, checked_before="2026-01-03T00:00:00+00:00") == (
        3,
        5,
    )

    store.upsert(character("Joker", image_url="https://img.example/new-joker.jpg"))
    deleted = store.delete_if_url([(a, url), (b, url), (pinned, url), ("no-such-id", url)])
    assert deleted == {url: 1}  # Joker has a new picture, Gordon is pinned
    assert store.get(a) is None and store.get(b) is not None and store.get(pinned) is not None
    assert store.pinned_row_ids([a, b, pinned, backend]) == {pinned}


def decision(kind: str, url: str, **extra: object) -> Decision:
    return Decision(
        kind=kind,
        character_name="Bruce Wayne",
        movie_title="The Dark Knight",
        character_key="bruce wayne",
        title_key="the dark knight",
        image_url=url,
        **extra,  # type: ignore[arg-type]
    )


def pinned_row(url: str) -> ImageRecord:
    return record(image_url=url, source=PINNED, quality_score=100)


def test_pins_replace_per_scope_and_lift_rejections(store: ImageStore) -> None:
    decisions = store.decisions
    rejected = decisions.reject(decision(REJECTED, "https://img.example/a.jpg"))
    first = decisions.pin(decision(PINNED, "https://img.example/a.jpg"), pinned_row("a"))
    assert decisions.count(REJECTED) == 0  # pinning it means it is wanted after all
    assert rejected.id and first.id and first.decided_at
    year = decisions.pin(decision(PINNED, "https://img.example/y.jpg", year=2008), pinned_row("y"))
    second = decisions.pin(decision(PINNED, "https://img.example/b.jpg"), pinned_row("b"))
    pins = decisions.for_work("bruce wayne", "the dark knight", PINNED)
    assert {p.id for p in pins} == {year.id, second.id}  # same scope replaced, the year kept
    assert pins[0].id == second.id  # newest first (same second: the later one)
    assert [d.id for d in decisions.all(PINNED)] == [year.id, second.id]
    rows = store.find("bruce wayne", "the dark knight", [PINNED])
    assert [r["image_url"] for r in rows] == ["b"]  # one pinned row per work: the last written

    decisions.unpin([second.id], pinned_row("y"))  # the year's pin still applies
    assert [r["image_url"] for r in store.find("bruce wayne", "the dark knight", [PINNED])] == ["y"]
    decisions.unpin([year.id], None)
    assert store.find("bruce wayne", "the dark knight", [PINNED]) == []
    assert decisions.count() == 0


def test_a_rejection_drops_the_rows_serving_it_but_never_a_pinned_row(store: ImageStore) -> None:
    url = "https://img.example/wrong.jpg"
    serving = store.upsert(record(image_url=url))
    pinned = store.upsert(pinned_row(url))
    stored = store.decisions.reject(decision(REJECTED, url, note="wrong face"), [serving, pinned])
    assert store.get(serving) is None and store.get(pinned) is not None
    again = store.decisions.reject(decision(REJECTED, url, note="still wrong"))
    found = store.decisions.for_work("bruce wayne", "the dark knight")
    assert [(d.id, d.note) for d in found] == [(again.id, "still wrong")]  # replaced
    assert stored.id != again.id
    assert store.decisions.delete([again.id, "no-such-id"]) == 1
    assert store.decisions.count() == 0


def identity(path: str = "/data/in.csv") -> InputIdentity:
    return InputIdentity(path, 1234, 5678, "ab" * 32)


def test_batch_progress_records_each_row_exactly_once(store: ImageStore) -> None:
    progress = store.progress
    assert progress.get_run("r1") is None
    progress.start_run("r1", identity(), "/out/a.jsonl", "jsonl", {"cast": None})
    progress.record("r1", [(2, [{"row": 2, "x": "é"}]), (1, [{"row": 1}])])
    progress.record("r1", [(2, [{"row": 2, "x": "again"}])])  # a resume repeats a row
    assert progress.count("r1") == 2
    assert list(progress.done_rows("r1")) == [1, 2]
    assert list(progress.results("r1")) == [(1, [{"row": 1}]), (2, [{"row": 2, "x": "again"}])]

    progress.set_status("r1", INTERRUPTED, {"rows": 2})
    run = progress.get_run("r1")
    assert run is not None
    assert (run.status, run.summary, run.identity, run.out_path) == (
        INTERRUPTED,
        {"rows": 2},
        identity(),
        "/out/a.jsonl",
    )
    progress.set_status("r1", RUNNING)  # no summary: the earlier one is kept
    assert progress.get_run("r1").summary == {"rows": 2}  # type: ignore[union-attr]

    time.sleep(1.05)
    progress.start_run("r2", identity(), "/out/b.jsonl", "csv", {})
    assert [r.run_id for r in progress.runs_of("/data/in.csv")] == ["r2", "r1"]
    progress.finish("r1", {"rows": 2, "done": True})
    finished = progress.get_run("r1")
    assert finished is not None and finished.status == FINISHED and finished.finished_at
    assert progress.count("r1") == 0  # per-row results go once the run finished

    progress.record("r2", [(1, [{"row": 1}])])
    progress.start_run("r2", identity(), "/out/b.jsonl", "csv", {})  # again: starts afresh
    assert progress.count("r2") == 0
    progress.discard("r2")
    assert progress.get_run("r2") is None


def test_a_run_lock_is_exclusive_across_store_instances_and_released_after(
    store: ImageStore, engine_settings: Settings, tmp_path: Path
) -> None:
    other = open_store(engine_settings)  # another process would open its own
    out = tmp_path / "out.jsonl"
    try:
        with store.progress.lock("run-a", out):
            with pytest.raises(RunInProgress), other.progress.lock("run-a"):
                pass
            with pytest.raises(RunInProgress), other.progress.lock("run-b", out):
                pass  # another run writing the same output
            with other.progress.lock("run-b"):
                pass  # another run, another output: fine
        with other.progress.lock("run-a", out):
            pass
    finally:
        other.close()


def test_service_jobs_latest_skips_failed_ones(store: ImageStore) -> None:
    jobs = store.jobs
    assert jobs.latest("luma", "k") is None
    common = dict(
        provider="luma",
        request_key="k",
        character_name="Bruce Wayne",
        movie_title="The Dark Knight",
        picture_url="https://img.example/a.jpg",
        options={"model": "ray-2"},
    )
    jobs.record(job_id="g1", state="queued", **common)  # type: ignore[arg-type]
    jobs.record(job_id="g2", state="dreaming", **common)  # type: ignore[arg-type]
    latest = jobs.latest("luma", "k")
    assert latest is not None and (latest.job_id, latest.options) == ("g2", {"model": "ray-2"})
    jobs.update("luma", "g2", state=FAILED, failure_reason="bad frame")
    latest = jobs.latest("luma", "k")
    assert latest is not None and latest.job_id == "g1"
    jobs.update("luma", "g1", state="completed", result_url="https://videos.example/g1.mp4")
    done = jobs.latest("luma", "k")
    assert done is not None and done.result_url == "https://videos.example/g1.mp4"
    assert done.failure_reason is None


def test_reopening_keeps_rows_and_the_schema_version(
    store: ImageStore, engine_settings: Settings
) -> None:
    store.upsert(record())
    again = open_store(engine_settings)
    try:
        assert again.count() == 1
        assert again.schema_version == store.schema_version
    finally:
        again.close()
