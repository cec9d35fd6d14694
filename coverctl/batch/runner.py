"""`run_batch`: one batch run from input file to output file, resumable at any point.

Order of work for each batch of finished rows: commit them to the progress table, then write
them to the output and flush. See `resume.py` for how a run continues after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from coverctl.batch.engine import BatchEngine, Results
from coverctl.batch.inputs import InputRow, RowStream
from coverctl.batch.options import DEFAULT_CONCURRENCY, BatchOptions
from coverctl.batch.output import CAST_COLUMNS, ResultWriter
from coverctl.batch.resume import (
    RowSet,
    content_sha256,
    input_identity,
    run_id_for,
    scan_output,
)
from coverctl.batch.summary import BatchSummary
from coverctl.config import Settings
from coverctl.constants import PictureChecks
from coverctl.errors import CoverctlError, StoreError, UsageError
from coverctl.resolver import (
    GenerationBudget,
    ResolveOptions,
    Resolver,
    close_resolver,
    open_resolver,
    picture_checks,
)
from coverctl.sources.base import GenerationCounter
from coverctl.store.interfaces import ProgressStore, store_call
from coverctl.store.records import FINISHED, INTERRUPTED, RUNNING

# Generations without --max-generations: unlimited, but counted.
UNLIMITED = 1 << 62


class BatchObserver(Protocol):
    """Told about progress (the CLI draws its progress bar from this)."""

    def started(self, done_before: int) -> None: ...

    def rows_finished(self, rows: list[Results]) -> None: ...


def resume_command(path: Path, options: BatchOptions) -> str:
    """The command that continues this run (printed after Ctrl-C or a fatal error)."""
    parts = ["coverctl", "batch", str(path)]
    if options.out is not None:
        parts += ["--out", str(options.out)]
    if options.fmt != "jsonl":
        parts += ["--format", options.fmt]
    if options.input_format:
        parts += ["--input-format", options.input_format]
    if options.concurrency != DEFAULT_CONCURRENCY:
        parts += ["--concurrency", str(options.concurrency)]
    if options.rates:
        parts += ["--rate", ",".join(f"{k}={v:g}" for k, v in sorted(options.rates.items()))]
    if not options.ordered:
        parts.append("--unordered")
    if options.cast is not None:
        parts += ["--cast", str(options.cast)]
    if options.shard is not None:
        parts += ["--shard", str(options.shard)]
    checks = picture_checks(options.verify)
    if checks is not PictureChecks.DEFAULT:
        parts.append("--verify" if checks is PictureChecks.ALL else "--no-verify")
    if options.generate:
        parts.append("--generate")
    if options.max_generations is not None:
        parts += ["--max-generations", str(options.max_generations)]
    if not options.network:
        parts.append("--no-network")
    if options.refresh:
        parts.append("--refresh")
    parts.append("--resume")
    return shlex.join(parts)


def run_batch(
    path: Path,
    settings: Settings,
    options: BatchOptions,
    *,
    transport: Any = None,
    policy: Any = None,
    observer: BatchObserver | None = None,
    on_engine: Callable[[BatchEngine], None] | None = None,
) -> BatchSummary:
    """Resolve every row of `path` into `options.out` (stdout when None); see BatchOptions.

    Returns the summary; `summary.interrupted` after SIGINT/SIGTERM (the progress is saved and
    `summary.resume_command` continues it). Raises UsageError for a run it must not start or
    resume, ConfigError when a provider rejects its key (after saving the progress).
    """
    options.validate()
    if options.rates:
        settings = settings.with_rates(options.rates)
    if options.out is not None and options.out.resolve() == path.resolve():
        raise UsageError("--out must not be the input file.")
    stream = RowStream(path, options.input_format)  # UsageError: missing file, bad header
    try:
        run = _BatchRun(path, settings, options, stream, observer, on_engine)
        return asyncio.run(run.run(transport, policy))
    finally:
        stream.close()


class _BatchRun:
    def __init__(
        self,
        path: Path,
        settings: Settings,
        options: BatchOptions,
        stream: RowStream,
        observer: BatchObserver | None,
        on_engine: Callable[[BatchEngine], None] | None,
    ) -> None:
        self.path = path
        self.settings = settings
        self.options = options
        self.stream = stream
        self.observer = observer
        self.on_engine = on_engine
        self.out_key = str(options.out.resolve()) if options.out is not None else "-"
        self.summary = BatchSummary(
            out=self.out_key, shard=str(options.shard) if options.shard else None
        )
        self.budget: GenerationBudget | None = None
        if options.generate:
            limit = options.max_generations
            self.budget = GenerationBudget(UNLIMITED if limit is None else limit)

    async def run(self, transport: Any, policy: Any) -> BatchSummary:
        resolver = open_resolver(
            self.settings, refresh=self.options.refresh, transport=transport, policy=policy
        )
        try:
            progress = resolver.store.progress
            identity = input_identity(self.path)
            # A shared store names runs by content, so another host's copy finds this run.
            content = content_sha256(self.path) if resolver.store.shared else None
            shard = str(self.options.shard) if self.options.shard else None
            run_id = run_id_for(identity, self.out_key, self.options.cast, shard, content)
            self.summary.run_id = run_id
            with progress.lock(run_id, self.options.out):
                return await self._run_locked(resolver, progress, run_id, identity)
        finally:
            await close_resolver(resolver)

    async def _run_locked(
        self, resolver: Resolver, progress: ProgressStore, run_id: str, identity: Any
    ) -> BatchSummary:
        options = self.options
        prepared = self._prepare(progress, run_id, identity)
        if prepared is None:
            return self.summary
        writer, done = prepared
        summary = self.summary
        if self.observer is not None:
            self.observer.started(summary.input_rows)

        async def emit(batch: list[tuple[int, Results]]) -> None:
            # Committed first: the table is the truth. (A server store's round trip in a worker
            # thread: the event loop keeps pacing the providers' requests meanwhile.)
            await store_call(resolver.store, progress.record, run_id, batch)
            try:
                writer.write_many(result for _, results in batch for result in results)
            except OSError as exc:
                raise UsageError(f"Cannot write {self._where}: {exc.strerror or exc}.") from None
            for _, results in batch:
                summary.add_row(results)
            if self.observer is not None:
                self.observer.rows_finished([results for _, results in batch])

        engine = BatchEngine(
            resolver,
            ResolveOptions(
                refresh=options.refresh,
                network=options.network,
                generate=options.generate,
                verify=options.verify,
                generation_budget=self.budget,
            ),
            emit,
            concurrency=options.concurrency,
            window=options.reorder_window,
            ordered=options.ordered,
            cast_size=options.cast,
        )
        if self.on_engine is not None:
            self.on_engine(engine)
        started = time.perf_counter()
        completed = False
        remove_handlers = _stop_on_signals(engine)
        try:
            completed = await engine.run(self._rows(), skip=done.__contains__)
        except CoverctlError as exc:
            with contextlib.suppress(StoreError):  # the store itself may be what went away
                progress.set_status(run_id, INTERRUPTED)
            command = resume_command(self.path, options)
            exc.message += f"\nProgress is saved; after fixing this, resume with:\n  {command}"
            raise
        finally:
            remove_handlers()
            writer.close()
            summary.elapsed_s = time.perf_counter() - started
            summary.providers = resolver.http.provider_stats()
            summary.deduplicated = engine.deduplicated
            summary.generations = self.budget.used if self.budget else 0
            generator = resolver.loaded_source("generate")
            if isinstance(generator, GenerationCounter):
                summary.generation_failures = generator.failures
                summary.generation_durations = list(generator.durations)
            summary.notices.extend(resolver.notices)
        if completed:
            progress.finish(run_id, summary.to_json())
        else:
            summary.interrupted = True
            summary.resume_command = resume_command(self.path, options)
            progress.set_status(run_id, INTERRUPTED, summary.to_json())
        return summary

    def _rows(self) -> Iterable[InputRow]:
        """The input rows this run processes: every row, or its shard's."""
        shard = self.options.shard
        if shard is None:
            return self.stream
        return (row for row in self.stream if shard.holds(row))

    def _prepare(
        self, progress: ProgressStore, run_id: str, identity: Any
    ) -> tuple[ResultWriter, RowSet] | None:
        """Start, resume or refuse (UsageError); None when the run already finished."""
        options, out, path = self.options, self.options.out, self.path
        where = str(out) if out is not None else "stdout"
        existing = progress.get_run(run_id)
        if existing is not None and (options.force or (out is None and not options.resume)):
            # Standard output cannot be checked or added to later: without --resume, a run to
            # stdout always starts afresh (the shell has already emptied any redirect target).
            progress.discard(run_id)
            existing = None
        if existing is not None and existing.status == FINISHED:
            if out is None or out.exists():
                finished = BatchSummary.from_json(existing.summary or {})
                finished.already_finished = True
                finished.run_id, finished.out = run_id, self.out_key
                finished.notices.append(
                    f"{path} was already processed into {where} "
                    f"({existing.finished_at}); nothing to do. Use --force to run it again."
                )
                self.summary = finished
                return None
            self.summary.notices.append(f"{out} is gone: processing the whole file again.")
            existing = None
        if existing is not None and not options.resume:
            raise UsageError(
                f"An interrupted run of {path} into {where} has {progress.count(run_id)} rows "
                "done. Add --resume to finish it (nothing done is redone), or --force to "
                "start again."
            )
        if existing is None and options.resume:
            self._nothing_to_resume(progress, identity)
        if existing is None:
            return self._start(progress, run_id, identity), RowSet()
        if existing.out_format != options.fmt:
            raise UsageError(
                f"The interrupted run writes {existing.out_format}; resume it with "
                f"--format {existing.out_format}."
            )
        return self._resume(progress, run_id)

    def _nothing_to_resume(self, progress: ProgressStore, identity: Any) -> None:
        out = self.options.out
        shard = str(self.options.shard) if self.options.shard else None
        for other in progress.runs_of(identity.path):
            if other.status == FINISHED or other.options.get("shard") != shard:
                continue  # done, or another shard's run (a run of its own)
            if other.out_path == self.out_key:
                raise UsageError(
                    f"{self.path} changed since its interrupted run (size, modification time "
                    "or content), so its row numbers may not mean the same rows: it cannot be "
                    "resumed. Start again with --force."
                )
            target = other.out_path if other.out_path != "-" else "stdout"
            raise UsageError(
                f"No interrupted run of {self.path} writes to "
                f"{out if out is not None else 'stdout'}; one writes to {target}: "
                "resume with that --out."
            )
        if out is not None and out.exists() and out.stat().st_size > 0:
            raise UsageError(
                f"There is no interrupted run of {self.path} to resume, and {out} already "
                "has content. Run without --resume to start (it overwrites the file)."
            )
        self.summary.notices.append("Nothing to resume: processing the whole file.")

    def _start(self, progress: ProgressStore, run_id: str, identity: Any) -> ResultWriter:
        options = self.options
        for other in progress.runs_of(identity.path):
            if other.out_path == self.out_key and other.run_id != run_id:
                progress.discard(other.run_id)  # superseded by this run
        progress.start_run(
            run_id,
            identity,
            self.out_key,
            options.fmt,
            {
                "cast": options.cast,
                "ordered": options.ordered,
                "generate": options.generate,
                "shard": str(options.shard) if options.shard else None,
            },
        )
        extra = [*(CAST_COLUMNS if options.cast else ()), *self.stream.extra_columns]
        return self._writer(extra_columns=extra)

    @property
    def _where(self) -> str:
        return str(self.options.out) if self.options.out is not None else "stdout"

    def _writer(self, **kwargs: Any) -> ResultWriter:
        try:
            return ResultWriter(self.options.out, self.options.fmt, **kwargs)
        except OSError as exc:
            raise UsageError(f"Cannot write {self._where}: {exc.strerror or exc}.") from None

    def _resume(self, progress: ProgressStore, run_id: str) -> tuple[ResultWriter, RowSet]:
        options, out, summary = self.options, self.options.out, self.summary
        recorded = RowSet()
        for row in progress.done_rows(run_id):
            recorded.add(row)
        extra = [*(CAST_COLUMNS if options.cast else ()), *self.stream.extra_columns]
        if out is None:
            writer = self._writer(extra_columns=extra)
            for _, results in progress.results(run_id):
                summary.add_row(results, earlier=True)
            summary.notices.append(
                f"Resuming: {len(recorded)} rows done earlier are not printed again "
                "(append this output to the earlier one, e.g. with >>)."
            )
        else:
            scan = scan_output(out, options.fmt, recorded)
            if scan.unrecorded:
                progress.record(run_id, scan.unrecorded)
                for row, _ in scan.unrecorded:
                    recorded.add(row)
            writer = self._writer(append=True, columns=scan.header, extra_columns=extra)
            rewritten = 0
            for row, results in progress.results(run_id):
                if row not in scan.rows:
                    writer.write_many(results)
                    rewritten += 1
                summary.add_row(results, earlier=True)
            message = f"Resuming: {len(recorded)} rows were done earlier"
            if scan.truncated_bytes:
                message += f"; cut {scan.truncated_bytes} bytes of a half-written row"
            if rewritten:
                message += f"; wrote {rewritten} saved rows the output lacked"
            summary.notices.append(message + ".")
        progress.set_status(run_id, RUNNING)
        return writer, recorded


def _stop_on_signals(engine: BatchEngine) -> Callable[[], None]:
    """SIGINT/SIGTERM stop the engine gracefully once; a second one is not caught."""
    loop = asyncio.get_running_loop()
    installed: list[int] = []

    def remove() -> None:
        while installed:
            loop.remove_signal_handler(installed.pop())

    def on_signal() -> None:
        engine.stop()
        remove()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or not a Unix loop: Ctrl-C raises instead
        installed.append(sig)
    return remove
