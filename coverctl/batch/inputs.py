"""Reading batch input (CSV with a header, or JSONL) one row at a time, never all at once.

A malformed row does not stop the reader: it comes out as an `InputRow` with `error` set, which
the batch writes as an `error` row before going on. Malformed means: a CSV row with the wrong
number of columns (or that cannot be parsed), a JSONL line that is not a JSON object or is longer
than MAX_LINE_LENGTH, or fields that `validation.query_from_fields` (the one query validator,
`resolve`'s too) refuses: an empty character name or title, an overlong field, control
characters, bytes that are not UTF-8, an implausible year, an unknown media type, a bad id.

Id columns (`tmdb_id`, `tvdb_id`, `hardcover_id`, `tmdb_person_id`, `credit_id`,
`tvdb_character_id`, any case) become the query's `ids` and are also passed through to the
output as they were written, like any other extra column.

Rows are numbered from 1 in the order they are read, header and blank lines not counted; the
number is the `row` of every output row made from it, and what `--resume` keys its progress by.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from coverctl.errors import InvalidQuery, UsageError
from coverctl.identity import ID_FIELDS
from coverctl.models import Query
from coverctl.validation import Problem, query_from_fields

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
MAX_LINE_LENGTH = 1024 * 1024  # a longer line (or CSV field) is an error row, never held whole
csv.field_size_limit(MAX_LINE_LENGTH)


@dataclass
class InputRow:
    """One input row: a query when it is valid, else the reason it is not."""

    row: int
    query: Query | None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the known fields as read (for error rows)
    # A row whose only fault is an empty character name: its title, year, media type (and actor),
    # which `batch --cast N` turns into the title's top billed characters.
    title_only: Query | None = None


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
    check_input_path(path)
    try:
        return path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}.") from None


def check_input_path(path: Path) -> None:
    """UsageError unless `path` is an existing regular file."""
    if str(path) == "-":
        raise UsageError(
            "Reading rows from standard input is not supported (a batch must be resumable): "
            "save them to a file and pass its path."
        )
    if path.is_dir():
        raise UsageError(f"Cannot read {path}: it is a directory; give a CSV or JSONL file.")
    if not path.exists():
        raise UsageError(f"Cannot read {path}: no such file.")
    if not path.is_file():
        raise UsageError(f"Cannot read {path}: not a regular file; save the rows to a file.")


class RowStream:
    """The rows of one input file, read lazily. Iterate once; close (or exhaust) when done.

    `extra_columns` are the columns passed through to the output, known from a CSV header
    before the first row is read (JSONL rows may each have their own).
    """

    def __init__(self, path: Path, fmt: str | None = None) -> None:
        self.path = path
        check_input_path(path)
        self.format = fmt or detect_format(path)
        self._handle = open_input(path)
        self.extra_columns: list[str] = []
        try:
            if self.format == "jsonl":
                self._rows: Iterator[InputRow] = _read_jsonl(self._handle)
            else:
                delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
                reader = csv.reader(self._handle, delimiter=delimiter)
                mapped = _read_csv_header(reader)
                self.extra_columns = [c for c in mapped if c not in KNOWN_FIELDS]
                self._rows = _read_csv_rows(reader, mapped)
        except BaseException:
            self._handle.close()
            raise

    def __iter__(self) -> Iterator[InputRow]:
        try:
            yield from self._rows
        finally:
            self._handle.close()

    def close(self) -> None:
        self._handle.close()


def read_rows(path: Path, fmt: str | None = None) -> Iterator[InputRow]:
    """Stream the rows of a CSV or JSONL file."""
    yield from RowStream(path, fmt)


def _read_csv_header(reader: Any) -> list[str]:
    """The header's column names mapped to our field names (UsageError when it is unusable)."""
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        raise UsageError(f"The CSV header cannot be read: {exc}.") from None
    mapped = []
    for index, name in enumerate(header, start=1):
        column = printable(" ".join(name.split())).lower() or f"column_{index}"
        mapped.append(COLUMN_ALIASES.get(column, column))
    missing = [f for f in ("character_name", "title") if f not in mapped]
    if missing and header:
        raise UsageError(
            f"The CSV header has no {' or '.join(missing)} column; expected columns "
            "character_name (or character), title (or movie_title), and optionally year, "
            "media_type, actor and ids (tmdb_id, tvdb_id, hardcover_id, tmdb_person_id, "
            "credit_id, tvdb_character_id)."
        )
    seen: dict[str, int] = {}
    for index, name in enumerate(mapped, start=1):
        if name in seen:
            raise UsageError(
                f"The CSV header names {name} twice (columns {seen[name]} and {index}); "
                "keep one of them."
            )
        seen[name] = index
    return mapped


def _read_csv(handle: TextIO, delimiter: str) -> Iterator[InputRow]:
    reader = csv.reader(handle, delimiter=delimiter)
    mapped = _read_csv_header(reader)
    if mapped:
        yield from _read_csv_rows(reader, mapped)


def _read_csv_rows(reader: Any, mapped: list[str]) -> Iterator[InputRow]:
    if not mapped:
        return
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
        if len(values) != len(mapped):
            yield InputRow(
                number,
                None,
                error=f"Row {number} has {len(values)} columns, the header has {len(mapped)}.",
            )
            continue
        yield _make_row(number, dict(zip(mapped, values, strict=True)))


def _long_lines(handle: TextIO) -> Iterator[tuple[str, bool]]:
    """(line, too_long) for each line; a line over MAX_LINE_LENGTH is skipped, not read whole."""
    while True:
        line = handle.readline(MAX_LINE_LENGTH + 1)
        if not line:
            return
        if len(line) > MAX_LINE_LENGTH and not line.endswith("\n"):
            while line and not line.endswith("\n"):
                line = handle.readline(MAX_LINE_LENGTH)
            yield "", True
            continue
        yield line, False


def _read_jsonl(handle: TextIO) -> Iterator[InputRow]:
    number = 0
    for line, too_long in _long_lines(handle):
        if too_long:
            number += 1
            yield InputRow(
                number, None, error=f"Row {number} is longer than {MAX_LINE_LENGTH} characters."
            )
            continue
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
        fields: dict[str, Any] = {}
        for key, value in data.items():
            name = printable(str(key)).strip()
            fields[COLUMN_ALIASES.get(name.lower(), name)] = value
        yield _make_row(number, fields)


def _make_row(number: int, fields: dict[str, Any]) -> InputRow:
    extra = {k: v for k, v in fields.items() if k not in KNOWN_FIELDS}
    raw = {k: fields.get(k) for k in KNOWN_FIELDS if k in fields}
    values = {**fields, **_id_values(fields)}
    try:
        query = query_from_fields(values)
    except InvalidQuery as exc:
        return InputRow(
            number,
            None,
            extra=_clean_extra(extra),
            error=f"Row {number}: {exc.message}",
            raw=raw,
            title_only=_title_only(values) if _empty_character(exc) else None,
        )
    return InputRow(number, query, extra=_clean_extra(extra), raw=raw)


def _empty_character(error: InvalidQuery) -> bool:
    """Whether the row has no character name (with `--cast`, a request for the title's cast)."""
    return error.field == "character_name" and error.problem == Problem.EMPTY


def _title_only(values: dict[str, Any]) -> Query | None:
    try:
        return query_from_fields(values, allow_empty_character=True)
    except InvalidQuery:
        return None


def _clean_extra(extra: dict[str, Any]) -> dict[str, Any]:
    return {printable(k): _clean_value(v) for k, v in extra.items()}


def _clean_value(value: Any) -> Any:
    """A passed-through value that can be written as UTF-8 (undecodable bytes become U+FFFD)."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [_clean_value(v) for v in value]
    if isinstance(value, dict):
        return {printable(str(k)): _clean_value(v) for k, v in value.items()}
    return value


def printable(text: str) -> str:
    """`text` as it can be written as UTF-8: bytes that were not UTF-8 (read as surrogates)
    become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _id_values(fields: dict[str, Any]) -> dict[str, Any]:
    """The id columns of a row, whatever their case (CSV headers are lower-cased already; JSONL
    keys keep theirs so that they pass through to the output as written)."""
    found: dict[str, Any] = {}
    for key, value in fields.items():
        name = key.lower()
        if name in ID_FIELDS and not (name in found and found[name] not in (None, "")):
            found[name] = value
    return found


def rows_from_text(text: str, fmt: str) -> Iterator[InputRow]:
    """Rows from an in-memory string (tests, stdin)."""
    handle = io.StringIO(text, newline="")
    if fmt == "jsonl":
        yield from _read_jsonl(handle)
    else:
        yield from _read_csv(handle, delimiter=",")
