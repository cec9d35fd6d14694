"""Helpers shared by the commands: settings, consoles, JSON printing."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from coverctl.config import Settings


def load_settings() -> Settings:
    return Settings.from_env()


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=None) + "\n")
    sys.stdout.flush()


def print_notices(notices: list[str], console: Console | None = None) -> None:
    console = console or stderr_console()
    for notice in notices:
        console.print(f"[yellow]note:[/] {notice}", markup=True)
