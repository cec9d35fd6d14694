"""Curators' decisions, kept in the store beside the pictures: pinned and rejected pictures.

A *pin* says "this picture is the answer for this character in this work": the resolver serves it
before every source (`coverctl pin`). A *rejection* says "never serve this picture for this
character in this work" (`coverctl reject`), by URL and, when the picture could be fetched, by
perceptual hash. Both are keyed by the normalised character and title, plus the year and media
type when the curator's query gave them (None: any).

They live in the store, not the cache, so `cache clear` leaves them alone; they are removed only
by `unpin` / `unreject`. A pin also writes a `character_images` row with source ``pinned`` in
the same transaction, so `push` exports it and `audit` / `dead-links` see it (and never delete
it); a rejection deletes, in the same transaction, the rows the caller found serving that picture.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

import sqlite_utils

from coverctl.store.records import (
    PINNED,
    REJECTED,
    TABLE,
    Decision,
    ImageRecord,
    decision_from_row,
    fresh_decision,
)

__all__ = ["DECISIONS_TABLE", "PINNED", "REJECTED", "Decision", "SqliteDecisionStore"]

DECISIONS_TABLE: Final = "image_decisions"


def migrate_decisions(db: sqlite_utils.Database) -> None:
    """The decisions table. IF NOT EXISTS throughout: safe whatever its position in the list."""
    db.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {DECISIONS_TABLE} (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('{PINNED}', '{REJECTED}')),
            character_name TEXT NOT NULL,
            movie_title TEXT NOT NULL,
            character_key TEXT NOT NULL,
            title_key TEXT NOT NULL,
            year INTEGER,
            media_type TEXT,
            image_url TEXT NOT NULL,
            image_hash TEXT,
            image_width INTEGER,
            image_height INTEGER,
            origin TEXT,
            person_name TEXT,
            matched_character TEXT,
            external_id TEXT,
            decided_by TEXT,
            decided_at TEXT NOT NULL,
            note TEXT
        )
        """
    )
    db.execute(
        f"CREATE INDEX IF NOT EXISTS idx_{DECISIONS_TABLE}_key "
        f"ON {DECISIONS_TABLE}(character_key, title_key, kind)"
    )


def _same_scope_sql() -> str:
    # NULL year / media type is a scope of its own ("any"): `IS` compares NULLs as equal.
    return "character_key = ? AND title_key = ? AND year IS ? AND media_type IS ?"


class SqliteDecisionStore:
    """Reads and writes decisions on the SQLite store's connection (SqliteStore.decisions)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def for_work(
        self, character_key: str, title_key: str, kind: str | None = None
    ) -> list[Decision]:
        """Every decision for one character and title (any year or media type), newest first."""
        sql = f"SELECT * FROM {DECISIONS_TABLE} WHERE character_key = ? AND title_key = ?"
        params: list[Any] = [character_key, title_key]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        sql += " ORDER BY decided_at DESC, rowid DESC"
        # Read on every resolution (mostly finding nothing): a plain cursor, not db.query().
        cursor = self.db.conn.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [decision_from_row(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]

    def all(self, kind: str | None = None) -> Iterator[Decision]:
        sql = f"SELECT * FROM {DECISIONS_TABLE}"
        params: list[Any] = []
        if kind is not None:
            sql += " WHERE kind = ?"
            params.append(kind)
        sql += " ORDER BY decided_at, rowid"
        for row in self.db.query(sql, params):
            yield decision_from_row(row)

    def count(self, kind: str | None = None) -> int:
        sql = f"SELECT count(*) FROM {DECISIONS_TABLE}" + (" WHERE kind = ?" if kind else "")
        return int(self.db.execute(sql, [kind] if kind else []).fetchone()[0])

    def pin(self, decision: Decision, row: ImageRecord) -> Decision:
        """Record `decision` (kind PINNED) and its `character_images` row, in one transaction.

        Replaces an earlier pin of the same scope (character, title, year, media type) and drops
        a rejection of the same picture in that scope: pinning it means it is wanted after all.
        """
        from coverctl.store.db import upsert_statement

        stored = fresh_decision(decision, PINNED)
        scope = [decision.character_key, decision.title_key, decision.year, decision.media_type]
        with self.db.conn:
            conn = self.db.conn
            conn.execute(
                f"DELETE FROM {DECISIONS_TABLE} WHERE kind = ? AND {_same_scope_sql()}",
                [PINNED, *scope],
            )
            conn.execute(
                f"DELETE FROM {DECISIONS_TABLE} WHERE kind = ? AND {_same_scope_sql()} "
                "AND image_url = ?",
                [REJECTED, *scope, decision.image_url],
            )
            _insert(conn, stored)
            sql, params = upsert_statement(row)
            conn.execute(sql, params).fetchall()  # RETURNING: step it to the end
        return stored

    def unpin(self, ids: Sequence[str], row: ImageRecord | None) -> None:
        """Delete the pins `ids`; then write `row` as the work's pinned row (another pin still
        applies) or, with None, delete the work's pinned row. One transaction."""
        from coverctl.store.db import upsert_statement

        if not ids:
            return
        with self.db.conn:
            conn = self.db.conn
            keys = conn.execute(
                f"SELECT DISTINCT character_key, title_key FROM {DECISIONS_TABLE} "
                f"WHERE id IN ({','.join('?' * len(ids))})",
                list(ids),
            ).fetchall()
            conn.execute(
                f"DELETE FROM {DECISIONS_TABLE} WHERE id IN ({','.join('?' * len(ids))})",
                list(ids),
            )
            if row is not None:
                sql, params = upsert_statement(row)
                conn.execute(sql, params).fetchall()  # RETURNING: step it to the end
            else:
                for character_key, title_key in keys:
                    conn.execute(
                        f"DELETE FROM {TABLE} WHERE character_key = ? AND title_key = ? "
                        "AND source = ?",
                        [character_key, title_key, PINNED],
                    )

    def reject(self, decision: Decision, drop_rows: Sequence[str] = ()) -> Decision:
        """Record `decision` (kind REJECTED), replacing a rejection of the same picture in the
        same scope, and delete the `character_images` rows `drop_rows` (the rows the caller found
        serving that picture; pinned rows are never deleted here). One transaction."""
        stored = fresh_decision(decision, REJECTED)
        scope = [decision.character_key, decision.title_key, decision.year, decision.media_type]
        with self.db.conn:
            conn = self.db.conn
            conn.execute(
                f"DELETE FROM {DECISIONS_TABLE} WHERE kind = ? AND {_same_scope_sql()} "
                "AND image_url = ?",
                [REJECTED, *scope, decision.image_url],
            )
            _insert(conn, stored)
            for row_id in drop_rows:
                conn.execute(f"DELETE FROM {TABLE} WHERE id = ? AND source != ?", [row_id, PINNED])
        return stored

    def delete(self, ids: Sequence[str]) -> int:
        """Delete decisions by id (unreject); returns how many went."""
        if not ids:
            return 0
        with self.db.conn:
            cursor = self.db.conn.execute(
                f"DELETE FROM {DECISIONS_TABLE} WHERE id IN ({','.join('?' * len(ids))})",
                list(ids),
            )
        return int(cursor.rowcount)


def _insert(conn: Any, decision: Decision) -> None:
    values = decision.to_json()
    conn.execute(
        f"INSERT INTO {DECISIONS_TABLE} ({', '.join(values)}) "
        f"VALUES ({', '.join('?' * len(values))})",
        list(values.values()),
    )
