"""One run at a time: an exclusive, non-blocking lock per command for cron and CI.

``command_lock(settings, "dead-links")`` holds ``COVERCTL_HOME/locks/dead-links.lock`` for the
duration of a ``with`` block (with ``COVERCTL_REDIS_URL`` set, a lock in Redis instead, shared by
every host: see coverctl.fleet.locks). It is an OS file lock (``flock`` through filelock), so it
belongs to the process: a crash or ``kill -9`` releases it and nothing stale is left behind. A
second run that finds the lock held does not wait: it raises :class:`RunInProgress` at once
(exit code 4, "the environment does not let this run go ahead"; nothing was done), with the
holder's pid and start time when they are known, so an overlapping cron job ends in milliseconds
with a clear message instead of writing the same rows twice.

Beside the lock file, ``<name>.owner.json`` records who holds it (pid, host, start time,
command line). It is informational only: the lock is the ``flock``, never this file, and a stale
owner file left by a killed process is simply overwritten by the next holder.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coverctl.config import Settings
from coverctl.errors import CoverctlError, ExitCode, UsageError

__all__ = ["LOCK_DIR_NAME", "RunInProgress", "command_lock", "lock_path"]

LOCK_DIR_NAME = "locks"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


class RunInProgress(CoverctlError):
    """Another run of the same command holds its lock; this one did nothing."""

    exit_code = ExitCode.CONFIG

    def __init__(self, message: str, owner: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.owner = owner or {}


def lock_path(settings: Settings, name: str) -> Path:
    """``COVERCTL_HOME/locks/<name>.lock``; ``name`` is a command name such as ``audit``."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"Bad lock name {name!r}: use lower-case letters, digits, '-', '_'.")
    return settings.home / LOCK_DIR_NAME / f"{name}.lock"


def _owner_path(lock_file: Path) -> Path:
    return lock_file.with_suffix(".owner.json")


def _read_owner(lock_file: Path) -> dict[str, Any]:
    try:
        data = json.loads(_owner_path(lock_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_owner(lock_file: Path, command: str) -> None:
    owner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        # The sub-command only: arguments may carry a DSN or a path worth hiding.
        "command": f"coverctl {command}",
    }
    target = _owner_path(lock_file)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(owner), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:  # informational only: never fail a run over it
        tmp.unlink(missing_ok=True)


def describe_owner(owner: dict[str, Any]) -> str:
    """ " (pid 12, on host-b, started …)" for a lock holder's description; "" when unknown."""
    parts = []
    if owner.get("pid"):
        parts.append(f"pid {owner['pid']}")
    if owner.get("host") and owner.get("host") != socket.gethostname():
        parts.append(f"on {owner['host']}")
    if owner.get("started_at"):
        parts.append(f"started {owner['started_at']}")
    return f" ({', '.join(parts)})" if parts else ""


@contextmanager
def command_lock(settings: Settings, name: str) -> Iterator[Path | str]:
    """Hold the exclusive lock of command ``name``; raise RunInProgress if another run has it.

    Never blocks. Yields the lock file's path, or with ``COVERCTL_REDIS_URL`` the Redis key that
    is the lock for every host (coverctl.fleet.locks). Use it around the part of a command that
    writes (the store, a cache, an output file), after argument checks, so ``--help`` and usage
    errors never touch it::

        with command_lock(settings, "dead-links"):
            ...
    """
    path = lock_path(settings, name)  # checks the name
    if settings.redis_url is not None:
        from coverctl.fleet.locks import redis_command_lock

        with redis_command_lock(settings.redis_url.reveal(), name) as key:
            yield key
        return
    yield from _file_lock(path, name)


def _file_lock(path: Path, name: str) -> Iterator[Path]:
    from filelock import FileLock, Timeout

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CoverctlError(f"Cannot create the lock directory {path.parent}: {exc}.") from None
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        owner = _read_owner(path)
        raise RunInProgress(
            f"another `coverctl {name}` run is in progress{describe_owner(owner)}; "
            f"it holds {path}. This run did nothing; it exits so that two runs never write at "
            "once.",
            owner,
        ) from None
    try:
        _write_owner(path, name)
        yield path
    finally:
        _owner_path(path).unlink(missing_ok=True)
        lock.release()
