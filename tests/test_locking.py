"""The per-command lock: exclusive, non-blocking, per process, released on every exit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from coverctl.config import Settings
from coverctl.errors import ExitCode, UsageError
from coverctl.locking import RunInProgress, command_lock, lock_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


def test_lock_file_lives_under_home_locks(settings: Settings) -> None:
    assert lock_path(settings, "dead-links") == settings.home / "locks" / "dead-links.lock"
    with command_lock(settings, "audit") as path:
        assert path == settings.home / "locks" / "audit.lock"
        assert path.exists()


@pytest.mark.parametrize("name", ["", "../etc", "a/b", "Audit", "x" * 80])
def test_lock_names_cannot_escape_the_lock_directory(settings: Settings, name: str) -> None:
    with pytest.raises(UsageError):
        lock_path(settings, name)


def test_second_holder_fails_at_once_with_owner_and_exit_four(settings: Settings) -> None:
    with command_lock(settings, "dead-links"):
        started = time.monotonic()
        with pytest.raises(RunInProgress) as caught, command_lock(settings, "dead-links"):
            pytest.fail("a second holder got the lock")
        assert time.monotonic() - started < 1.0  # never waits
    error = caught.value
    assert error.exit_code == ExitCode.CONFIG == 4
    assert "another `coverctl dead-links` run is in progress" in error.message
    assert f"pid {os.getpid()}" in error.message
    assert error.owner["pid"] == os.getpid()


def test_different_commands_do_not_block_each_other(settings: Settings) -> None:
    with command_lock(settings, "audit"), command_lock(settings, "dead-links"):
        pass


def test_lock_is_released_after_an_error_and_owner_file_removed(settings: Settings) -> None:
    with pytest.raises(ZeroDivisionError), command_lock(settings, "audit") as path:
        assert path.with_suffix(".owner.json").exists()
        _ = 1 / 0
    assert not path.with_suffix(".owner.json").exists()
    with command_lock(settings, "audit"):
        pass


def test_a_stale_owner_file_does_not_block(settings: Settings) -> None:
    path = lock_path(settings, "audit")
    path.parent.mkdir(parents=True)
    path.with_suffix(".owner.json").write_text('{"pid": 999999}')
    with command_lock(settings, "audit"):
        pass


def test_a_lock_held_by_another_process_is_seen_and_dies_with_it(settings: Settings) -> None:
    holder = (
        "import sys\n"
        "from coverctl.config import Settings\n"
        "from coverctl.locking import command_lock\n"
        "with command_lock(Settings.from_env(), 'dead-links'):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", holder],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with (
            pytest.raises(RunInProgress, match=f"pid {proc.pid}"),
            command_lock(settings, "dead-links"),
        ):
            pass
    finally:
        proc.kill()  # no clean release: the OS lock must go with the process
        proc.wait(10)
    with command_lock(settings, "dead-links"):
        pass
