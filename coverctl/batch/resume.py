"""Resuming: which run an invocation continues, and repairing its output file after a crash.

The progress table is the source of truth. The runner commits each finished input row there
*before* writing its output rows, so after Ctrl-C, `kill -9` or a power cut the output file
holds a subset of the recorded rows, possibly ending in a torn line. Resuming
1. truncates the torn tail (a last line without its newline, or the last input row's group of
   `--cast` rows when only part of it was written);
2. appends every recorded row the output lacks, from the table (no provider is asked again);
3. imports into the table any complete row the output has that the table lacks (possible only
   if the database lost its last commit in a power cut), so it is not done twice;
4. then processes only the rows in neither.
Anything else wrong with the file (a complete line that is not a result, a row twice) means it
was edited: resuming refuses rather than guess.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from coverctl.errors import UsageError
from coverctl.store.records import InputIdentity

HEAD_BYTES = 64 * 1024


def input_identity(path: Path) -> InputIdentity:
    """Absolute path, size, mtime and the SHA-256 of the first 64 KiB of the input file."""
    absolute = path.resolve()
    stat = absolute.stat()
    with absolute.open("rb") as handle:
        head = hashlib.sha256(handle.read(HEAD_BYTES)).hexdigest()
    return InputIdentity(str(absolute), stat.st_size, stat.st_mtime_ns, head)


def content_sha256(path: Path) -> str:
    """The SHA-256 of the whole file (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run_id_for(
    identity: InputIdentity,
    out_key: str,
    cast: int | None,
    shard: str | None = None,
    content: str | None = None,
) -> str:
    """A run is one input file (as it is now) processed into one output with one --cast (and
    one --shard: each shard of a file is a run of its own).

    Any change to the input (size, mtime, first 64 KiB) makes it a different run: its row
    numbers may no longer mean the same rows. With `content` (the SHA-256 of the whole file, used
    when the store is shared by several hosts) the run is named by the file's content and its
    output path instead of the input's path and mtime, which differ when another host reads
    its own copy of the same file: that host finds the run and resumes it.
    """
    if content is not None:
        parts: list[object] = ["content", identity.size, content, out_key, cast, shard]
    else:
        parts = [
            identity.path,
            identity.size,
            identity.mtime_ns,
            identity.head_sha256,
            out_key,
            cast,
        ]
        if shard is not None:
            parts.append(shard)
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()[:32]


class RowSet:
    """A set of positive row numbers as a bitmap: 100k rows take 12.5 KB."""

    def __init__(self) -> None:
        self._bits = bytearray()
        self._count = 0

    def add(self, row: int) -> None:
        index, bit = divmod(row, 8)
        if index >= len(self._bits):
            self._bits.extend(bytes(max(index + 1 - len(self._bits), len(self._bits))))
        if not self._bits[index] & (1 << bit):
            self._bits[index] |= 1 << bit
            self._count += 1

    def __contains__(self, row: object) -> bool:
        if not isinstance(row, int) or row < 0:
            return False
        index, bit = divmod(row, 8)
        return index < len(self._bits) and bool(self._bits[index] & (1 << bit))

    def __len__(self) -> int:
        return self._count


@dataclass
class OutputScan:
    """What an existing output file holds, after its torn tail was cut off."""

    rows: RowSet = field(default_factory=RowSet)  # input rows it holds completely
    unrecorded: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)
    header: list[str] | None = None  # CSV only
    truncated_bytes: int = 0


class _Corrupt(Exception):
    pass


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass
class _Group:
    row: int
    start: int  # byte offset of its first line
    results: list[dict[str, Any]]

    def complete(self) -> bool:
        count = _int(self.results[0].get("cast_count"))
        if count is None:
            return len(self.results) == 1
        ranks = [_int(r.get("cast_rank")) for r in self.results]
        return ranks == list(range(1, count + 1))


def _jsonl_records(handle: BinaryIO) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(start offset, parsed) per line; parsed None for a torn last line."""
    offset = 0
    for line in handle:
        start, offset = offset, offset + len(line)
        if not line.endswith(b"\n"):
            yield start, None
            return
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            raise _Corrupt(f"the line at byte {start} is not JSON") from None
        if not isinstance(data, dict):
            raise _Corrupt(f"the line at byte {start} is not a result object")
        yield start, data


def _csv_records(handle: BinaryIO, scan: OutputScan) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(start offset, row as a dict) per CSV record; None for a torn last record."""
    consumed = {"offset": 0, "newline": True}

    def lines() -> Iterator[str]:
        for raw in handle:
            consumed["offset"] += len(raw)
            consumed["newline"] = raw.endswith(b"\n")
            yield raw.decode("utf-8", "replace")

    # strict: a record whose quoted field the crash cut off (no closing quote) is an error, so
    # it is seen as torn even when the cut fell on a newline inside the field.
    reader = csv.reader(lines(), strict=True)
    start = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield start, None  # an unterminated quote: torn at the end
            return
        end = consumed["offset"]
        if not consumed["newline"]:
            yield start, None
            return
        if scan.header is None:
            scan.header = fields
        elif len(fields) != len(scan.header):
            # Only the last record can be short (torn); the caller checks it is the last.
            yield start, None
        else:
            yield start, dict(zip(scan.header, fields, strict=True))
        start = end


def scan_output(path: Path, fmt: str, recorded: RowSet) -> OutputScan:
    """Read the output file, cut off a torn tail, and say which rows it holds.

    `recorded` are the rows the progress table has; complete rows of the file that it lacks
    are returned in `unrecorded`. UsageError when the file was visibly edited.
    """
    scan = OutputScan()
    if not path.exists():
        return scan
    cut: int | None = None
    last: _Group | None = None
    with path.open("rb") as handle:
        records = _csv_records(handle, scan) if fmt == "csv" else _jsonl_records(handle)
        try:
            for start, data in records:
                if data is None:
                    cut = start if cut is None else cut
                    continue
                if cut is not None:
                    raise _Corrupt(f"a damaged line at byte {cut} is followed by more rows")
                row = _int(data.get("row"))
                if row is None or row < 1:
                    raise _Corrupt(f"the line at byte {start} has no row number")
                if last is not None and last.row == row:
                    last.results.append(data)
                    continue
                if last is not None:
                    if not last.complete():
                        raise _Corrupt(f"row {last.row} is incomplete but not the last one")
                    _take(scan, last, recorded)
                if row in scan.rows:
                    raise _Corrupt(f"row {row} appears twice")
                last = _Group(row, start, [data])
        except _Corrupt as exc:
            raise UsageError(
                f"Cannot resume into {path}: {exc}, so it was changed after the run wrote it. "
                "Fix or move it away, or use --force to start the run again."
            ) from None
    if last is not None:
        if last.complete():
            _take(scan, last, recorded)
        else:
            cut = last.start
    if fmt == "csv" and scan.header is None:
        cut = 0  # not even a whole header line
    if cut is not None:
        size = path.stat().st_size
        os.truncate(path, cut)
        scan.truncated_bytes = size - cut
    return scan


def _take(scan: OutputScan, group: _Group, recorded: RowSet) -> None:
    scan.rows.add(group.row)
    if group.row not in recorded:
        scan.unrecorded.append((group.row, group.results))
