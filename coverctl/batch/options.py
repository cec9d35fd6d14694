"""What a batch run is asked to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from coverctl.batch.shard import Shard
from coverctl.constants import PictureChecks
from coverctl.errors import UsageError

DEFAULT_CONCURRENCY = 32
MAX_CONCURRENCY = 1000


@dataclass
class BatchOptions:
    """Options of one `coverctl batch` run (the CLI flags, as a library can pass them).

    Output order is the input's unless `ordered` is False (then rows are written as they finish).
    In input order, up to `window` rows may be in progress or finished and waiting for an
    earlier one (default 16 x concurrency, at least 256), so memory stays bounded whatever the
    size of the input.
    """

    out: Path | None = None  # None: stdout
    fmt: str = "jsonl"
    input_format: str | None = None  # None: from the file name or its first bytes
    refresh: bool = False
    network: bool = True
    generate: bool = False
    # Whose pictures are checked before an answer is accepted (resolver.ResolveOptions.verify):
    # "default" (TVDB, Hardcover, web search), "all" (--verify) or "none" (--no-verify).
    verify: PictureChecks | str | bool = PictureChecks.DEFAULT
    max_generations: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    ordered: bool = True
    window: int | None = None
    resume: bool = False
    force: bool = False
    cast: int | None = None  # turn title-only rows into their top N billed characters
    rates: dict[str, float] = field(default_factory=dict)  # per-provider overrides (req/s)
    shard: Shard | None = None  # only the rows of this shard (batch/shard.py)

    @property
    def reorder_window(self) -> int:
        return self.window or max(16 * self.concurrency, 256)

    def validate(self) -> None:
        from coverctl.resolver import picture_checks

        self.verify = picture_checks(self.verify)  # UsageError for an unknown policy
        if self.fmt not in {"jsonl", "csv"}:
            raise UsageError(f"--format must be jsonl or csv, got {self.fmt!r}.")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise UsageError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}.")
        if self.cast is not None and not 1 <= self.cast <= 200:
            raise UsageError("--cast must be between 1 and 200.")
        if self.max_generations is not None and self.max_generations < 0:
            raise UsageError("--max-generations must be 0 or more.")
        if self.max_generations is not None and not self.generate:
            raise UsageError("--max-generations only makes sense with --generate.")
        if self.resume and self.force:
            raise UsageError("--resume and --force contradict each other: pick one.")
        if self.window is not None and self.window < self.concurrency:
            raise UsageError("The reorder window must be at least the concurrency.")
        if self.out is not None and self.out.exists() and not self.out.is_file():
            raise UsageError(
                f"--out {self.out} is not a regular file: results must go to a file that can be "
                "resumed (leave out --out to write to standard output)."
            )
