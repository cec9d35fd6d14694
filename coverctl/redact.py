"""Keeping secrets out of everything coverctl shows or stores: the one redaction module.

Every message that may carry a provider's text (an error body, a URL, a libpq reason, a doctor
detail) goes through :func:`scrub` before a user, a log or the store sees it. Three things are
hidden: the configured secret values themselves, credential query parameters (``api_key=…``), and
a password in a URL's ``user:password@``. Secrets are replaced longest first, so a secret that
contains another is never half-shown, and a secret cut off by shortening ("…" at the end of a
text trimmed for a table) is hidden too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import httpx

__all__ = ["SECRET_QUERY_PARAMS", "redact_url", "scrub"]

SECRET_QUERY_PARAMS: Final = frozenset(
    {"api_key", "apikey", "key", "token", "access_token", "sig", "pin", "password"}
)
_SECRET_PARAM_RE: Final = re.compile(
    r"(?i)([?&](?:" + "|".join(sorted(SECRET_QUERY_PARAMS)) + r")=)[^&#\s]*"
)
_USERINFO_RE: Final = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@")
_ELLIPSIS: Final = "…"
# A cut-off secret is recognised from this many leading characters on: shorter stubs are too
# likely to be ordinary text.
_MIN_CUT_SECRET: Final = 4


def redact_url(url: str | httpx.URL) -> str:
    """The URL (or text) with any credential query parameter or URL password as ``***``."""
    text = _USERINFO_RE.sub(r"\1:***@", str(url))
    return _SECRET_PARAM_RE.sub(r"\1***", text)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value, credential parameter and URL password as ``***``.

    Empty secrets are ignored. When ``text`` was shortened and ends in "…", a secret whose
    beginning is left at its end is hidden as well.
    """
    values = sorted({s for s in secrets if s}, key=len, reverse=True)
    for secret in values:
        text = text.replace(secret, "***")
    text = redact_url(text)
    if text.endswith(_ELLIPSIS):
        for secret in values:
            for size in range(len(secret) - 1, _MIN_CUT_SECRET - 1, -1):
                if text.endswith(secret[:size] + _ELLIPSIS):
                    return text[: -(size + 1)] + "***" + _ELLIPSIS
    return text
