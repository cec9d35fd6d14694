"""Reading batch input (CSV with a header, or JSONL) one row at a time, never all at once.

A malformed row does not stop the reader: it comes out as an `InputRow` with `error` set, which
the batch writes as an `error` row before going on.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from coverctl.constants import MAX_FIELD_LENGTH, MediaType
from coverctl.errors import UsageError
from coverctl.models import Query

COLUMN_ALIASES: dict[str, str] = {
    "character_name": "character_name",
    "character": "character_name",
    "title": "title",
    "movie_title": "title",
    "year": "year",
    "media_type": "media_type",
    "actor": "actor",
}
KNOWN_FIELDS = ("character_name", "title", "year", "media_type", "actor")
csv.field_size_limit(1024 * 1024)


@dataclass
class InputRow:
    """One input row: a query when it is valid, else the reason it is not."""

    row: int
    query: Query | None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the known fields as read (for error rows)


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    if suffix in {".csv", ".tsv", ".txt"}:
        return "csv"
    with path.open("rb") as handle:
        head = handle.read(512).lstrip()
    return "jsonl" if head.startswith(b"{") else "csv"


def open_input(path: Path) -> TextIO:
    """The file as text (BOM stripped, undecodable bytes kept as surrogates to report per row)."""
    if str(path) != "-" and not path.is_file():
        raise UsageError(f"Cannot read {path}: no such file.")
    try:
        return path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}.") from None


def read_rows(path: Path, fmt: str | None = None) -> Iterator[InputRow]:
    """Stream the rows of a CSV or JSONL file."""
    fmt = fmt or detect_format(path)
    handle = open_input(path)
    with handle:
        if fmt == "jsonl":
            yield from _read_jsonl(handle)
        else:
            yield from _read_csv(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")


def _read_csv(handle: TextIO, delimiter: str) -> Iterator[InputRow]:
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise UsageError(f"The CSV header cannot be read: {exc}.") from None
    columns = [h.strip().lower() for h in header]
    mapped = [COLUMN_ALIASES.get(c, c) for c in columns]
    missing = [f for f in ("character_name", "title") if f not in mapped]
    if missing:
        raise UsageError(
            f"The CSV header has no {' or '.join(missing)} column; expected columns "
            "character_name (or character), title (or movie_title), and optionally year, "
            "media_type, actor."
        )
    number = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            yield InputRow(number, None, error=f"Row {number} cannot be parsed as CSV: {exc}.")
            continue
        if not values or all(not v.strip() for v in values):
            continue
        number += 1
        if len(values) != len(columns):
            yield InputRow(
                number,
                None,
                error=f"Row {number} has {len(values)} columns, the header has {len(columns)}.",
            )
            continue
        yield _make_row(number, dict(zip(mapped, values, strict=True)))


def _read_jsonl(handle: TextIO) -> Iterator[InputRow]:
    number = 0
    for line in handle:
        if not line.strip():
            continue
        number += 1
        try:
            data = json.loads(line)
        except ValueError:
            yield InputRow(number, None, error=f"Row {number} is not valid JSON.")
            continue
        if not isinstance(data, dict):
            yield InputRow(number, None, error=f"Row {number} is not a JSON object.")
            continue
        fields = {COLUMN_ALIASES.get(str(k).strip().lower(), str(k)): v for k, v in data.items()}
        yield _make_row(number, fields)


def _make_row(number: int, fields: dict[str, Any]) -> InputRow:
    extra = {k: v for k, v in fields.items() if k not in KNOWN_FIELDS}
    raw = {k: fields.get(k) for k in KNOWN_FIELDS if k in fields}
    try:
        query = _query_from(fields)
    except ValueError as exc:
        return InputRow(
            number, None, extra=_clean_extra(extra), error=f"Row {number}: {exc}", raw=raw
        )
    return InputRow(number, query, extra=_clean_extra(extra), raw=raw)


def _clean_extra(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: _printable(v) if isinstance(v, str) else v for k, v in extra.items()}


def _printable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _text(fields: dict[str, Any], name: str, label: str, *, required: bool) -> str | None:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"the {label} is empty.")
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f"the {label} must be text.")
    text = str(value)
    if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in text):
        raise ValueError(f"the {label} has bytes that are not UTF-8; save the file as UTF-8.")
    if any((ord(ch) < 32 and ch not in "\t") or ord(ch) == 127 for ch in text):
        raise ValueError(f"the {label} contains control characters.")
    text = " ".join(text.split())
    if len(text) > MAX_FIELD_LENGTH:
        raise ValueError(f"the {label} is longer than {MAX_FIELD_LENGTH} characters.")
    return text


def _query_from(fields: dict[str, Any]) -> Query:
    character = _text(fields, "character_name", "character name", required=True)
    title = _text(fields, "title", "title", required=True)
    year_text = _text(fields, "year", "year", required=False)
    year = None
    if year_text:
        cleaned = year_text.removesuffix(".0")
        if not cleaned.isdigit() or not 1000 <= int(cleaned) <= 2100:
            raise ValueError(f"the year {year_text!r} is not a year.")
        year = int(cleaned)
    media_type = _text(fields, "media_type", "media type", required=False)
    if media_type:
        media_type = media_type.lower()
        if media_type not in MediaType.ALL:
            raise ValueError(
                f"unknown media type {media_type!r}; "
                f"use {', '.join(MediaType.ALL)} or leave it empty."
            )
    actor = _text(fields, "actor", "actor", required=False)
    assert character is not None and title is not None
    return Query(character, title, year, media_type, actor)


def rows_from_text(text: str, fmt: str) -> Iterator[InputRow]:
    """Rows from an in-memory string (tests, stdin)."""
    handle = io.StringIO(text)
    if fmt == "jsonl":
        yield from _read_jsonl(handle)
    else:
        yield from _read_csv(handle, delimiter=",")
