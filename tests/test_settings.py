"""Settings from the environment: numbers must be finite and positive."""

from __future__ import annotations

import pytest

from coverctl.config import Settings, parse_rates
from coverctl.errors import UsageError


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-5", "abc"])
def test_rates_and_timeouts_must_be_finite_positive_numbers(value: str) -> None:
    with pytest.raises(UsageError):
        parse_rates(f"tmdb={value}")
    with pytest.raises(UsageError):
        Settings.from_env({"COVERCTL_HOME": "/tmp/x", "COVERCTL_RATE_TMDB": value})
    with pytest.raises(UsageError):
        Settings.from_env({"COVERCTL_HOME": "/tmp/x", "COVERCTL_HTTP_TIMEOUT": value})


def test_valid_rates_parse() -> None:
    assert parse_rates("tmdb=20, tvdb=2.5") == {"tmdb": 20.0, "tvdb": 2.5}
