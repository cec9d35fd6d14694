"""Writers for resolution rows: JSONL (one object a line) and CSV, flushed row by row."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
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


def flatten_for_csv(result: dict[str, Any]) -> dict[str, Any]:
    matched = result.get("matched") or {}
    flat = {k: v for k, v in result.items() if k not in {"matched", "unavailable_sources"}}
    flat["matched_person"] = matched.get("person")
    flat["matched_character"] = matched.get("character")
    flat["matched_external_id"] = matched.get("external_id")
    flat["unavailable_sources"] = ";".join(result.get("unavailable_sources") or [])
    return flat


class ResultWriter:
    """Writes result rows to a file (or stdout) in JSONL or CSV, flushing each row."""

    def __init__(
        self,
        path: Path | None,
        fmt: str = "jsonl",
        *,
        append: bool = False,
        extra_columns: Iterable[str] = (),
    ) -> None:
        self.path = path
        self.fmt = fmt
        self._owns = path is not None
        self.rows_written = 0
        self._csv: Any = None
        self._extra_columns = list(extra_columns)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            has_content = append and path.exists() and path.stat().st_size > 0
            self._handle: TextIO = path.open("a" if append else "w", encoding="utf-8", newline="")
            self._header_written = has_content
        else:
            self._handle = sys.stdout
            self._header_written = False

    def write(self, result: dict[str, Any]) -> None:
        if self.fmt == "csv":
            if self._csv is None:
                extras = [k for k in result if k not in CSV_COLUMNS and k not in {"matched"}]
                columns = [*CSV_COLUMNS, *dict.fromkeys([*self._extra_columns, *extras])]
                self._csv = csv.DictWriter(
                    self._handle, fieldnames=columns, extrasaction="ignore", lineterminator="\n"
                )
                if not self._header_written:
                    self._csv.writeheader()
                    self._header_written = True
            self._csv.writerow(flatten_for_csv(result))
        else:
            self._handle.write(json.dumps(result, ensure_ascii=False) + "\n")
        self._handle.flush()
        self.rows_written += 1

    def close(self) -> None:
        if self._owns:
            self._handle.close()
        else:
            self._handle.flush()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
