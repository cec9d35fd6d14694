"""Writers for resolution rows: JSONL (one object a line) and CSV, flushed as they are written."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

CSV_COLUMNS = (
    "row",
    "character_name",
    "title",
    "year",
    "media_type",
    "status",
    "image_url",
    "source",
    "quality_score",
    "matched_person",
    "matched_character",
    "matched_external_id",
    "cache_hit",
    "elapsed_ms",
    "error",
    "unavailable_sources",
)
# Columns `batch --cast N` adds to the rows it makes from one title.
CAST_COLUMNS = ("cast_rank", "cast_count")


def flatten_for_csv(result: dict[str, Any]) -> dict[str, Any]:
    """One CSV row from one result (a row that is already flat is returned as it is)."""
    if "matched" not in result and not isinstance(result.get("unavailable_sources"), list):
        return result
    matched = result.get("matched") or {}
    flat = {k: v for k, v in result.items() if k not in {"matched", "unavailable_sources"}}
    flat["matched_person"] = matched.get("person")
    flat["matched_character"] = matched.get("character")
    flat["matched_external_id"] = matched.get("external_id")
    flat["unavailable_sources"] = ";".join(result.get("unavailable_sources") or [])
    return flat


def csv_columns(extra_columns: Iterable[str] = (), *, cast: bool = False) -> list[str]:
    base = [*CSV_COLUMNS, *(CAST_COLUMNS if cast else ())]
    return [*base, *(c for c in dict.fromkeys(extra_columns) if c not in base)]


class ResultWriter:
    """Writes result rows to a file (or stdout) in JSONL or CSV, flushing after each write.

    CSV columns: `columns` when given (resuming into an existing file keeps its header), else
    the contract's columns, then `extra_columns`, then extra keys of the first row written.
    """

    def __init__(
        self,
        path: Path | None,
        fmt: str = "jsonl",
        *,
        append: bool = False,
        extra_columns: Iterable[str] = (),
        columns: Sequence[str] | None = None,
    ) -> None:
        self.path = path
        self.fmt = fmt
        self._owns = path is not None
        self.rows_written = 0
        self._csv: Any = None
        self._extra_columns = list(extra_columns)
        self._columns = list(columns) if columns else None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            has_content = append and path.exists() and path.stat().st_size > 0
            self._handle: TextIO = path.open("a" if append else "w", encoding="utf-8", newline="")
            self._header_written = has_content
        else:
            self._handle = sys.stdout
            self._header_written = False

    def _csv_writer(self, first: dict[str, Any]) -> Any:
        if self._csv is None:
            columns = self._columns
            if columns is None:
                extras = [k for k in first if k not in CSV_COLUMNS and k != "matched"]
                columns = csv_columns([*self._extra_columns, *extras])
            self._csv = csv.DictWriter(
                self._handle, fieldnames=columns, extrasaction="ignore", lineterminator="\n"
            )
            if not self._header_written:
                self._csv.writeheader()
                self._header_written = True
        return self._csv

    def _write_one(self, result: dict[str, Any]) -> None:
        if self.fmt == "csv":
            self._csv_writer(result).writerow(flatten_for_csv(result))
        else:
            self._handle.write(json.dumps(result, ensure_ascii=False) + "\n")
        self.rows_written += 1

    def write(self, result: dict[str, Any]) -> None:
        self._write_one(result)
        self._handle.flush()

    def write_many(self, results: Iterable[dict[str, Any]]) -> None:
        """Write several rows, then flush once."""
        for result in results:
            self._write_one(result)
        self._handle.flush()

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        if self._owns:
            self._handle.close()
        else:
            self._handle.flush()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
