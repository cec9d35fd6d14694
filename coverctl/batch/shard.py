"""`batch --shard K/N`: which input rows one of N workers processes.

A row belongs to shard K when the SHA-1 of its normalised title (`names.normalize`), read as a
number, is K-1 modulo N. The title only, not the year or the character: every row of a title
lands in the same shard, so they share that title's search and credits calls (and its cached
answers) instead of N workers asking for them. SHA-1, not Python's `hash()`, which differs from
one process to the next: every worker, on every host, must draw the same lines.

A row without a readable title (a malformed row, which becomes an `error` row) is placed by its
row number, so it too is written by exactly one shard.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from coverctl.batch.inputs import InputRow
from coverctl.errors import UsageError
from coverctl.names import normalize

_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
MAX_SHARDS = 10_000


@lru_cache(maxsize=65536)  # titles repeat down a batch: hash each distinct one once
def _title_number(title: str) -> int:
    key = normalize(title).encode("utf-8", "surrogatepass")  # a malformed row may hold those
    return int.from_bytes(hashlib.sha1(key).digest()[:8], "big")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`K/N` with 1 <= K <= N; UsageError otherwise."""
        match = _SPEC.fullmatch(text or "")
        if match is None:
            raise UsageError(f"--shard expects K/N such as 2/4 (shard 2 of 4), got {text!r}.")
        index, count = int(match[1]), int(match[2])
        if not 1 <= count <= MAX_SHARDS:
            raise UsageError(f"--shard {text}: N must be between 1 and {MAX_SHARDS}.")
        if not 1 <= index <= count:
            raise UsageError(
                f"--shard {text}: K must be between 1 and {count} (shards are numbered from 1)."
            )
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def of_title(self, title: str) -> int:
        """The shard (1-based) a title belongs to."""
        return _title_number(title) % self.count + 1

    def holds(self, row: InputRow) -> bool:
        """Whether this shard processes `row`."""
        title = row_title(row)
        if title:
            return self.of_title(title) == self.index
        return row.row % self.count + 1 == self.index


def row_title(row: InputRow) -> str | None:
    """The title a row asks about: its query's, its title-only query's (`--cast`), or, for a
    malformed row, the title as read (None when it has none)."""
    if row.query is not None:
        return row.query.title
    if row.title_only is not None:
        return row.title_only.title
    raw = row.raw.get("title")
    return raw if isinstance(raw, str) and raw.strip() else None
