"""Logging for commands that cron runs: the ``coverctl`` logger, on stderr, secrets scrubbed.

On a terminal, records go through rich's handler (coloured level, aligned time). Anywhere else
(cron mail, CI logs, systemd journal) they are plain lines with an ISO-8601 UTC timestamp::

    2025-01-21T03:00:04Z INFO dead-links: checked 98211 URLs, 412 dead

``--quiet`` keeps warnings and errors only. Library modules log to ``coverctl.<module>`` and
never configure logging themselves; a command calls :func:`configure_logging` once. Every record
passes through a filter that replaces configured secret values and credential query parameters
with ``***`` (the same rule as ``coverctl.net.http.scrub``), so a message that quotes a URL or an
error from a provider cannot leak a key.

This module lives in ``cli/`` because it is the only place allowed to import rich.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from typing import TextIO

__all__ = ["LOGGER_NAME", "PLAIN_FORMAT", "configure_logging"]

LOGGER_NAME = "coverctl"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(message)s"
PLAIN_DATEFMT = "%Y-%m-%dT%H:%M:%SZ"
_MARK = "_coverctl_cli_handler"


class _CurrentStderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at emit time (tests swap it; so does pytest)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler.__init__ assigns it
        pass


class _ScrubSecrets(logging.Filter):
    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        from coverctl.redact import scrub

        message = record.getMessage()
        cleaned = scrub(message, self._secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _utc_formatter() -> logging.Formatter:
    formatter = logging.Formatter(PLAIN_FORMAT, datefmt=PLAIN_DATEFMT)
    formatter.converter = time.gmtime
    return formatter


def configure_logging(
    *,
    quiet: bool = False,
    verbose: bool = False,
    secrets: Sequence[str] = (),
    tty: bool | None = None,
) -> logging.Logger:
    """Attach one stderr handler to the ``coverctl`` logger (replacing one set up earlier).

    ``tty`` overrides terminal detection (tests). Records still propagate to the root logger,
    which has no handler in the CLI, so nothing is printed twice.
    """
    logger = logging.getLogger(LOGGER_NAME)
    for previous in [h for h in logger.handlers if getattr(h, _MARK, False)]:
        logger.removeHandler(previous)
    if tty is None:
        tty = sys.stderr.isatty()
    handler: logging.Handler
    if tty:
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(
            console=Console(stderr=True),
            show_path=False,
            markup=False,
            rich_tracebacks=False,
            log_time_format="[%X]",
        )
    else:
        handler = _CurrentStderrHandler()
        handler.setFormatter(_utc_formatter())
    setattr(handler, _MARK, True)
    handler.addFilter(_ScrubSecrets(secrets))
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    handler.setLevel(level)
    logger.addHandler(handler)
    logger.setLevel(level)
    return logger
