"""Command logging: timestamped plain lines off a terminal, --quiet, secrets never logged."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from coverctl.cli.logs import LOGGER_NAME, configure_logging

PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (INFO|WARNING|ERROR|DEBUG) .+$")


@pytest.fixture(autouse=True)
def restore_logger() -> Iterator[None]:
    logger = logging.getLogger(LOGGER_NAME)
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_off_a_terminal_lines_are_plain_with_a_utc_timestamp(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging(tty=False)
    logging.getLogger("coverctl.maintenance.deadlinks").info("checked %d URLs", 12)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and PLAIN_LINE.match(err[0]), err
    assert err[0].endswith("INFO checked 12 URLs")


def test_quiet_keeps_warnings_only(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging(quiet=True, tty=False)
    log = logging.getLogger("coverctl.maintenance.audit")
    log.info("routine")
    log.warning("worth a look")
    err = capsys.readouterr().err
    assert "routine" not in err and "WARNING worth a look" in err


def test_configuring_twice_does_not_print_twice(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging(tty=False)
    configure_logging(tty=False)
    logging.getLogger("coverctl").info("once")
    assert capsys.readouterr().err.count("once") == 1


def test_secrets_and_credential_parameters_are_scrubbed(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging(tty=False, secrets=["s3cr3t-token-value"])
    log = logging.getLogger("coverctl.maintenance.audit")
    log.warning("provider said %s", "bad key s3cr3t-token-value")
    log.warning("GET https://api.example/3/movie?api_key=abcdef123&page=2 failed")
    err = capsys.readouterr().err
    assert "s3cr3t-token-value" not in err and "abcdef123" not in err
    assert "bad key ***" in err and "api_key=***&page=2" in err


def test_on_a_terminal_rich_renders_the_record(capsys) -> None:  # type: ignore[no-untyped-def]
    from rich.logging import RichHandler

    logger = configure_logging(tty=True)
    assert any(isinstance(h, RichHandler) for h in logger.handlers)
    logging.getLogger("coverctl").warning("pretty")
    assert "pretty" in capsys.readouterr().err
