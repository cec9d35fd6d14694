"""The row shape every push target receives, and what the targets report back.

Rows come from the store as dicts. `to_push_row` keeps exactly `PUSH_COLUMNS`, checks and
normalises the values, and fills what a hand-made row may lack (the current time), so that every
row of a batch has the same keys (PostgREST refuses a bulk insert whose objects differ).

`id` is never pushed: upserts go by the natural key (character name, title, source), and the
target's id is its own. A target's `id` may be a uuid with a default (sql/character_images.sql),
a bigint identity (older Supabase tables: a uuid sent there is refused with 22P02) or absent
(the design's table: PostgREST refuses an unknown column with PGRST204).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from coverctl.constants import Source
from coverctl.errors import InputRowError

TABLE_NAME = "character_images"

PUSH_COLUMNS: tuple[str, ...] = (
    "character_name",
    "movie_title",
    "image_url",
    "source",
    "external_character_id",
    "quality_score",
    "created_at",
    "updated_at",
)

# The unique key of the table: the conflict target of every upsert.
CONFLICT_COLUMNS: tuple[str, ...] = ("character_name", "movie_title", "source")

# Columns an upsert overwrites on conflict; the target's `id` and `created_at` keep their value.
UPDATE_COLUMNS: tuple[str, ...] = (
    "image_url",
    "external_character_id",
    "quality_score",
    "updated_at",
)

DEFAULT_BATCH_SIZE = 500

T = TypeVar("T")


@dataclass
class PushReport:
    """What one push did.

    `inserted`/`updated`/`unchanged` count rows; they are None where the target cannot tell them
    apart (PostgREST with return=minimal). `elapsed` is in seconds.
    """

    target: str
    rows_sent: int = 0
    batches: int = 0
    inserted: int | None = None
    updated: int | None = None
    unchanged: int | None = None
    duplicates_dropped: int = 0
    retries: int = 0
    elapsed: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "rows_sent": self.rows_sent,
            "batches": self.batches,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates_dropped": self.duplicates_dropped,
            "retries": self.retries,
            "elapsed": round(self.elapsed, 3),
        }


def to_push_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return `row` reduced to `PUSH_COLUMNS`, validated and normalised for JSON and SQL.

    Raises InputRowError naming the row and the problem.
    """
    label = _label(row)

    def fail(problem: str) -> InputRowError:
        return InputRowError(f"Row {label} cannot be pushed: {problem}.")

    out: dict[str, Any] = {}
    for name in ("character_name", "movie_title", "image_url"):
        value = row.get(name)
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{name} must be a non-empty string")
        out[name] = value.strip()

    source = row.get("source")
    if source not in Source.ALL:
        raise fail(f"source must be one of {', '.join(Source.ALL)}, got {source!r}")
    out["source"] = source

    score = row.get("quality_score")
    if isinstance(score, float) and math.isfinite(score) and score.is_integer():
        score = int(score)
    if not isinstance(score, int) or isinstance(score, bool):
        raise fail(f"quality_score must be an integer, got {score!r}")
    out["quality_score"] = score

    external = row.get("external_character_id")
    if external is not None and not isinstance(external, str | int):
        raise fail(f"external_character_id must be a string or null, got {external!r}")
    out["external_character_id"] = None if external in (None, "") else str(external)

    now = datetime.now(UTC).isoformat()
    for name in ("created_at", "updated_at"):
        value = row.get(name)
        if value in (None, ""):
            out[name] = now
            continue
        try:
            out[name] = _iso_utc(value)
        except (TypeError, ValueError):
            raise fail(f"{name} must be an ISO-8601 timestamp, got {value!r}") from None

    return {name: out[name] for name in PUSH_COLUMNS}


def prepare_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Convert every row with `to_push_row` and drop repeats of a unique key.

    A later row with the same (character_name, movie_title, source) replaces an earlier one (as
    pushing them one after another would), at the position of the first. One batch must not hold
    the same key twice: PostgreSQL refuses "ON CONFLICT DO UPDATE command cannot affect row a
    second time". Returns (rows, number dropped).
    """
    by_key: dict[tuple[str, ...], dict[str, Any]] = {}
    total = 0
    for row in rows:
        total += 1
        clean = to_push_row(row)
        by_key[tuple(clean[c] for c in CONFLICT_COLUMNS)] = clean
    unique = list(by_key.values())
    return unique, total - len(unique)


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    if size < 1:
        raise ValueError("batch_size must be at least 1")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _iso_utc(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.strip())
    else:
        raise TypeError(type(value).__name__)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _label(row: Mapping[str, Any]) -> str:
    name = row.get("character_name")
    title = row.get("movie_title")
    if isinstance(name, str) and isinstance(title, str):
        return f"{name!r} in {title!r}"
    return repr(row.get("id")) if row.get("id") else "(unnamed)"
