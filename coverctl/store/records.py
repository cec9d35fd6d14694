"""What goes in and out of the store, whatever the engine: plain dataclasses and constants.

The SQLite store (`db.py` and its siblings) and the PostgreSQL store (`postgres.py` and its
siblings) both read and write these, so callers never see which engine answered. Nothing here
touches a database.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Final

from coverctl.constants import Source

TABLE: Final = "character_images"

# Batch run states (store/progress.py).
RUNNING: Final = "running"
INTERRUPTED: Final = "interrupted"
FINISHED: Final = "finished"

# Curators' decisions (store/decisions.py).
PINNED: Final = "pinned"
REJECTED: Final = "rejected"

# Billed service jobs (store/jobs.py).
RUNNING_STATES: Final = frozenset({"queued", "dreaming"})
COMPLETED: Final = "completed"
FAILED: Final = "failed"

# Sources whose rows may point at local files (override files, AI pictures kept on disk, files
# a curator pinned).
LOCAL_FILE_SOURCES: Final = (Source.CHARACTER_SPECIFIC, Source.AI_GENERATED, Source.PINNED)
# A local file is an absolute path; backend-relative paths ("/image/…", "/api/image-no-auth/…")
# are served by the backend, so they are links, not files. Standard SQL: both engines use it.
LOCAL_FILE_SQL: Final = (
    f"source IN ({', '.join(repr(s) for s in LOCAL_FILE_SOURCES)}) AND image_url LIKE '/%'"
    " AND image_url NOT LIKE '/image/%' AND image_url NOT LIKE '/api/image-no-auth/%'"
)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ImageRecord:
    """What the resolver stores for one (character, title, source)."""

    character_name: str
    movie_title: str
    character_key: str
    title_key: str
    image_url: str
    source: str
    quality_score: int
    external_character_id: str | None = None
    person_name: str | None = None
    matched_character: str | None = None
    media_type: str | None = None
    year: int | None = None
    image_hash: str | None = None
    image_width: int | None = None
    image_height: int | None = None


# The store's own key of a row: one row per normalised (character, title, source).
UPSERT_KEY: Final = frozenset({"character_key", "title_key", "source"})


@dataclass(frozen=True)
class AuditScanRow:
    """The columns `audit` judges every row by."""

    id: str
    source: str
    quality_score: int | None
    image_url: str
    last_checked: str | None
    last_status: str | None


@dataclass(frozen=True)
class Decision:
    """One pin or rejection, as stored."""

    kind: str  # PINNED | REJECTED
    character_name: str
    movie_title: str
    character_key: str
    title_key: str
    image_url: str
    year: int | None = None
    media_type: str | None = None
    image_hash: str | None = None  # perceptual hash (16 hex digits) when the picture was fetched
    image_width: int | None = None
    image_height: int | None = None
    origin: str | None = None  # where the picture came from: a source name, "url" or "file"
    person_name: str | None = None
    matched_character: str | None = None
    external_id: str | None = None
    decided_by: str | None = None
    decided_at: str = ""
    note: str | None = None
    id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


DECISION_COLUMNS: Final = tuple(f.name for f in fields(Decision))


def decision_from_row(row: dict[str, Any]) -> Decision:
    return Decision(**{name: row[name] for name in DECISION_COLUMNS})


def fresh_decision(decision: Decision, kind: str) -> Decision:
    """`decision` as `kind`, with an id and a decision time if it had none."""
    import uuid
    from dataclasses import replace

    return replace(
        decision,
        kind=kind,
        id=decision.id or str(uuid.uuid4()),
        decided_at=decision.decided_at or utc_now(),
    )


@dataclass(frozen=True)
class InputIdentity:
    """What makes two runs read the same input: path, size, mtime and a hash of the head."""

    path: str  # absolute
    size: int
    mtime_ns: int
    head_sha256: str


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    identity: InputIdentity
    out_path: str  # absolute path, or "-" for stdout
    out_format: str
    options: dict[str, Any]
    status: str
    summary: dict[str, Any] | None
    started_at: str
    updated_at: str
    finished_at: str | None


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    provider: str
    request_key: str
    character_name: str
    movie_title: str
    picture_url: str
    options: dict[str, Any]
    state: str
    failure_reason: str | None
    result_url: str | None
    created_at: str
    updated_at: str
