"""Rows written straight into a real store, with any column set (tests of maintenance commands)."""

from __future__ import annotations

import uuid
from typing import Any

from coverctl.names import normalize
from coverctl.store.db import TABLE, SqliteStore

CHECKED_AT = "2025-01-20T03:00:00+00:00"


def seed_row(
    store: SqliteStore,
    character: str,
    title: str,
    url: str,
    source: str,
    quality: int,
    *,
    checked: str | None = CHECKED_AT,
    status: str | None = "ok",
    **extra: Any,
) -> str:
    """Insert one row, by default link-checked and alive (``checked=None, status=None``: never
    checked). Returns its id."""
    row_id = extra.pop("id", None) or str(uuid.uuid4())
    values = {
        "id": row_id,
        "character_name": character,
        "movie_title": title,
        "character_key": normalize(character),
        "title_key": normalize(title),
        "image_url": url,
        "source": source,
        "quality_score": quality,
        "created_at": "2025-01-01T00:00:00+00:00",
        "updated_at": "2025-01-01T00:00:00+00:00",
        "last_checked": checked,
        "last_status": status,
        **extra,
    }
    with store.db.conn:
        store.db[TABLE].insert(values)  # type: ignore[union-attr]
    return str(row_id)
