"""The one redaction module: every secret shape coverctl must never show."""

from __future__ import annotations

from coverctl.redact import redact_url, scrub


def test_secret_values_are_hidden_longest_first() -> None:
    # A secret that contains another must not be left half-shown by replacing the short one first.
    text = scrub("key=abcd1234efgh and abcd1234", ["abcd1234", "abcd1234efgh"])
    assert text == "key=*** and ***"


def test_credential_parameters_and_url_passwords_are_hidden() -> None:
    assert redact_url("https://x/3/search?query=a&api_key=S1&page=1") == (
        "https://x/3/search?query=a&api_key=***&page=1"
    )
    assert scrub("see postgresql://user:pw123@db:5432/covers", []) == (
        "see postgresql://user:***@db:5432/covers"
    )


def test_a_secret_cut_off_by_shortening_is_hidden() -> None:
    assert scrub("token rejected: Bearer sk-live-12…", ["sk-live-1234567890"]) == (
        "token rejected: Bearer ***…"
    )
    # Too short a stub is ordinary text, not a secret.
    assert scrub("the word sk…", ["sk-live-1234567890"]) == "the word sk…"


def test_empty_secrets_change_nothing() -> None:
    assert scrub("nothing to hide", ["", ""]) == "nothing to hide"
