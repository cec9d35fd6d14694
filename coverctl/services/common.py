"""What the image services share: one session over the resolver's client, store and cache; one
way to send a billed request; one reading of the providers' error replies; guarded downloads.

Every service request goes through the shared `HttpClient` (pacing per provider, Retry-After,
retries of idempotent requests, the breaker, redaction). A 429 is handed back here instead of
being waited out blindly, because SerpApi, OpenAI and Gemini answer 429 both for "slow down" and
for "the plan's quota is spent": the first pauses the provider for its Retry-After and tries
again, the second is a billing error at once (waiting cannot fix it).

Errors leave a service as the project's own, with the exit codes of the contract: a refused key
is `CredentialRejected` (4), a plan or credit problem `BillingError` (4), a service that stays
down or answers something unreadable `ServiceFailed` (4), and "the service answered, but with
nothing usable" `NoResult` (3). Every text is scrubbed of every configured secret.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import httpx

from coverctl.errors import (
    BillingError,
    CredentialRejected,
    ImageRejected,
    ProviderResponseError,
    ProviderUnavailable,
    ServiceFailed,
)
from coverctl.net.http import parse_retry_after
from coverctl.redact import scrub

if TYPE_CHECKING:
    from coverctl.config import Settings
    from coverctl.resolver import Resolver
    from coverctl.sources.base import SourceContext

__all__ = [
    "QuotaCheck",
    "check_reply",
    "download_asset",
    "error_text",
    "send",
    "service_errors",
    "service_session",
]

# Words a provider uses when a 429 (or 402/403) means "no more credit" rather than "slow down".
_QUOTA_WORDS: Final = (
    "run out",
    "ran out",
    "out of searches",
    "insufficient_quota",
    "insufficient credit",
    "insufficient balance",
    "exceeded your current quota",
    "quota exceeded",
    "billing",
    "upgrade your plan",
    "credit balance",
)
_ERROR_TEXT_LIMIT: Final = 200

QuotaCheck = Callable[[str], bool]


def is_quota_text(text: str) -> bool:
    """Whether a provider's error text says the plan, credit or quota is spent."""
    lowered = text.lower()
    return any(word in lowered for word in _QUOTA_WORDS)


@contextlib.asynccontextmanager
async def service_session(
    settings: Settings, *, transport: Any = None, policy: Any = None
) -> AsyncIterator[Resolver]:
    """A resolver (client, cache, store) for one service command; closed on exit.

    The services reuse the resolver's pieces rather than their own: `identify --character`,
    `animate` and `edit` resolve the character through it, and every request shares the one
    client's pacing."""
    from coverctl.resolver import close_resolver, open_resolver

    resolver = open_resolver(settings, transport=transport, policy=policy)
    try:
        yield resolver
    finally:
        await close_resolver(resolver)


def error_text(response: httpx.Response, secrets: list[str]) -> str:
    """The provider's own short error sentence, from any of the shapes the services use:
    SerpApi `{"error": str}`, OpenAI and Gemini `{"error": {"message": str}}`, Luma
    `{"detail": str}`; scrubbed of secrets and shortened."""
    try:
        payload = response.json()
    except ValueError:
        return ""
    text = ""
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        payload = payload[0]  # Gemini answers some errors as a one-element list
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            error = error.get("message") or error.get("status") or error.get("code")
        for value in (error, payload.get("detail"), payload.get("message")):
            if isinstance(value, str) and value.strip():
                text = value
                break
            if isinstance(value, list) and value and isinstance(value[0], dict):
                text = str(value[0].get("msg") or "")  # FastAPI validation errors
                break
    text = " ".join(scrub(text, secrets).split())
    if len(text) > _ERROR_TEXT_LIMIT:
        text = text[: _ERROR_TEXT_LIMIT - 1] + "…"
    return text


async def send(
    ctx: SourceContext,
    provider: str,
    method: str,
    url: str,
    *,
    label: str,
    quota_exhausted: QuotaCheck = is_quota_text,
    **kwargs: Any,
) -> httpx.Response:
    """One request through the shared client; a 429 that means "slow down" pauses `provider`
    for its Retry-After (for every task) and tries again, one that means "no credit left" raises
    BillingError at once. Other statuses are returned for `check_reply`."""
    http = ctx.http
    policy = http.policy
    secrets = ctx.settings.secrets()
    for _ in range(policy.max_rate_limited):
        response = await http.request(provider, method, url, return_statuses={429}, **kwargs)
        if response.status_code != 429:
            return response
        detail = error_text(response, secrets)
        if detail and quota_exhausted(detail):
            raise BillingError(
                f"{label} refused the request for the account's plan or credit ({detail}): "
                "check the account's billing."
            )
        wait = parse_retry_after(response.headers.get("Retry-After"))
        if wait > policy.max_retry_after:
            raise ServiceFailed(
                f"{label} is rate limiting us for {wait:.0f} s (HTTP 429); try again later."
            )
        http.gate(provider).pause(wait)  # the gate makes the next attempt (and every task) wait
        http.gate(provider).stats.retries += 1
    raise ServiceFailed(f"{label} kept answering HTTP 429 (rate limited); try again later.")


def check_reply(
    response: httpx.Response,
    *,
    label: str,
    env_key: str,
    secrets: list[str],
    ok: tuple[int, ...] = (200, 201),
) -> Any:
    """The reply's JSON when its status is in `ok`; else the project's error for it."""
    status = response.status_code
    detail = error_text(response, secrets)
    if status in (401, 403) and not (status == 403 and is_quota_text(detail)):
        raise CredentialRejected(label, env_key, detail)
    if status == 402 or (status in (400, 403) and detail and is_quota_text(detail)):
        raise BillingError(
            f"{label} refused the request for the account's plan or credit "
            f"({detail or f'HTTP {status}'}): check the account's billing."
        )
    if status not in ok:
        shown = f": {detail}" if detail else ""
        raise ServiceFailed(f"{label} answered HTTP {status}{shown}.")
    try:
        return response.json()
    except ValueError:
        raise ServiceFailed(
            f"{label} answered HTTP {status} with a body that is not JSON; "
            "check that its URL points at the API."
        ) from None


@contextlib.contextmanager
def service_errors(label: str, url_var: str) -> Iterator[None]:
    """Turn the shared client's provider errors into the service errors of the contract."""
    try:
        yield
    except ProviderUnavailable as exc:
        reason = exc.message.split(": ", 1)[-1]
        raise ServiceFailed(
            f"{label} is unavailable ({reason}); try again later, or check {url_var}."
        ) from None
    except ProviderResponseError as exc:
        reason = exc.message.split(": ", 1)[-1]
        raise ServiceFailed(f"{label} sent a reply coverctl cannot read ({reason}).") from None


def is_service_host(url: str, settings: Settings) -> bool:
    """Whether `url` is on the host of a configured service base URL (trusted like a provider)."""
    host = (urlsplit(url).hostname or "").lower()
    return bool(host) and host in settings.service_hosts()


async def download_asset(
    ctx: SourceContext,
    url: str,
    *,
    max_bytes: int,
    accept: str,
    what: str,
) -> bytes:
    """Download an asset a service returned (a video, a picture) through the network guard.

    A URL on a configured service's own host is trusted like a provider's picture; any other
    host must be public and is vetted on every redirect hop (`net.pictures.download_image`)."""
    from coverctl.net.pictures import download_image

    try:
        return await download_image(
            ctx,
            url,
            untrusted=not is_service_host(url, ctx.settings),
            max_bytes=max_bytes,
            accept=accept,
        )
    except ImageRejected as exc:
        raise ServiceFailed(f"The {what} could not be downloaded: {exc.message}") from None
    except ProviderUnavailable as exc:
        reason = exc.message.split(": ", 1)[-1]
        raise ServiceFailed(f"The {what} could not be downloaded ({reason}).") from None
