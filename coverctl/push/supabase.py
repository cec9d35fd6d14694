"""Publish rows to Supabase through PostgREST: batched upserts on the unique key.

Each batch is one `POST /rest/v1/character_images?on_conflict=...` with
`Prefer: resolution=merge-duplicates,return=minimal`. Timeouts, connection errors, 5xx and 429 are
retried by stamina with exponential backoff and jitter (a 429 waits exactly its Retry-After); an
upsert is idempotent, so repeating a batch whose reply was lost is safe. The key is sent in
`apikey` and `Authorization` and nowhere else: no message quotes it, and server text is scrubbed
of it before it is shown.

PostgREST's merge-duplicates overwrites every column it is sent, `created_at` included, with the
local row's values (the store keeps it stable for a row). `id` is never sent (push/rows.py): the
table's own id, a uuid, a bigint identity or none, is left alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from coverctl.config import Secret
from coverctl.errors import ConfigError, CoverctlError, CredentialRejected, ServiceUnreachable
from coverctl.net.http import parse_retry_after
from coverctl.push.rows import (
    CONFLICT_COLUMNS,
    DEFAULT_BATCH_SIZE,
    TABLE_NAME,
    PushReport,
    batched,
    prepare_rows,
)
from coverctl.redact import scrub
from coverctl.retrying import retry_context

__all__ = ["PushReport", "push_rows"]

PROVIDER = "Supabase"
KEY_VAR = "SUPABASE_KEY"
URL_VAR = "SUPABASE_URL"
PREFER = "resolution=merge-duplicates,return=minimal"
SCHEMA_FILE = "sql/character_images.sql"

BACKOFF_INITIAL = 0.25  # seconds before the first retry at least; doubles each time
BACKOFF_JITTER = 0.25  # plus up to this much, at random
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 120.0  # never wait longer than this for one Retry-After
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 523, 524})


class _Retryable(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


def push_rows(
    url: str,
    key: Secret,
    rows: Iterable[Mapping[str, Any]],
    *,
    client: httpx.Client | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_retries: int = 4,
) -> PushReport:
    """Upsert `rows` into the project's `character_images` table.

    `url` is the project URL (SUPABASE_URL, with or without /rest/v1). Raises
    CredentialRejected (401/403), ConfigError (no such table, no unique index, bad URL),
    ServiceUnreachable (still failing after `max_retries` retries), CoverctlError (PostgREST
    refused a batch, e.g. a check violation), InputRowError (a malformed row; nothing is sent).
    Batches before a failed one stay committed.
    """
    started = time.monotonic()
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if not key:
        raise ConfigError(f"{KEY_VAR} is not set: use the project's service_role key.")
    endpoint, host = _endpoint(url)
    prepared, dropped = prepare_rows(rows)
    report = PushReport(target="supabase", duplicates_dropped=dropped)
    secret = key.reveal()
    headers = {
        "apikey": secret,
        "Authorization": f"Bearer {secret}",
        "Content-Type": "application/json",
        "Prefer": PREFER,
    }
    params = {"on_conflict": ",".join(CONFLICT_COLUMNS)}
    own_client = client is None
    http = client if client is not None else httpx.Client(timeout=DEFAULT_TIMEOUT)
    batches = list(batched(prepared, batch_size))
    try:
        for number, batch in enumerate(batches, start=1):
            body = json.dumps(list(batch), ensure_ascii=False).encode("utf-8")
            where = f"batch {number} of {len(batches)}"
            try:
                for attempt in retry_context(
                    on=_retry_wait,
                    attempts=max_retries + 1,
                    timeout=None,
                    wait_initial=BACKOFF_INITIAL,
                    wait_max=BACKOFF_CAP,
                    wait_jitter=BACKOFF_JITTER,
                ):
                    with attempt:
                        if attempt.num > 1:
                            report.retries += 1
                        _send(http, endpoint, params, headers, body, host, secret, report, where)
            except _Retryable as failure:
                raise ServiceUnreachable(
                    f"{PROVIDER} at {host} still failed after {max_retries + 1} tries "
                    f"({failure.reason}) on {where}.{_progress(report)}"
                ) from None
            report.batches += 1
            report.rows_sent += len(batch)
    finally:
        if own_client:
            http.close()
    report.elapsed = time.monotonic() - started
    return report


def _send(
    http: httpx.Client,
    endpoint: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    host: str,
    secret: str,
    report: PushReport,
    where: str,
) -> None:
    try:
        response = http.post(endpoint, params=params, headers=headers, content=body)
    except httpx.TimeoutException as exc:
        raise _Retryable(f"timed out: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        raise _Retryable(f"cannot connect: {type(exc).__name__}") from None
    status = response.status_code
    if status in (200, 201, 204):
        return
    if status in _RETRY_STATUSES:
        wait = _retry_after(response.headers.get("Retry-After")) if status == 429 else None
        raise _Retryable(f"HTTP {status}", wait)

    error = _error_body(response, secret)
    code, message = error.get("code", ""), error.get("message", "")
    summary = ": ".join(part for part in (code, message) if part) or f"HTTP {status}"
    progress = _progress(report)
    if status in (401, 403):
        raise CredentialRejected(PROVIDER, KEY_VAR, detail=summary)
    if status == 404 or code in {"PGRST205", "42P01"}:
        raise ConfigError(
            f"{PROVIDER} at {host} has no table {TABLE_NAME} ({summary}): create it by running "
            f"{SCHEMA_FILE} in the Supabase SQL editor, and check {URL_VAR}."
        )
    if code in {"42P10", "PGRST204", "42703"}:
        raise ConfigError(
            f"The table {TABLE_NAME} on {PROVIDER} does not match {SCHEMA_FILE} ({summary}): "
            f"run that file to add the missing unique index or columns.{progress}"
        )
    if status == 413:
        raise CoverctlError(
            f"{PROVIDER} refused {where} as too large (HTTP 413): use a smaller batch size."
            f"{progress}"
        )
    hint = error.get("hint", "")
    details = error.get("details", "")
    extra = "".join(
        f" {label}: {text.rstrip('.')}."
        for label, text in (("Details", details), ("Hint", hint))
        if text
    )
    raise CoverctlError(f"{PROVIDER} refused {where} (HTTP {status}, {summary}).{extra}{progress}")


def _endpoint(url: str) -> tuple[str, str]:
    text = (url or "").strip().rstrip("/")
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(
            f"{URL_VAR} must be the project URL, such as https://PROJECT.supabase.co."
        )
    base = text.removesuffix("/rest/v1")
    host = parsed.host + (f":{parsed.port}" if parsed.port else "")
    return f"{base}/rest/v1/{TABLE_NAME}", host


def _retry_wait(exc: Exception) -> bool | float:
    """stamina's `on` hook: False when `exc` is not worth another try; the seconds a 429's
    Retry-After asked for; True for stamina's own backoff (5xx, timeouts, connection errors)."""
    if not isinstance(exc, _Retryable):
        return False
    return exc.wait if exc.wait is not None else True


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), capped; None if absent."""
    if not value or not value.strip():
        return None
    return min(parse_retry_after(value), RETRY_AFTER_CAP)


def _error_body(response: httpx.Response, secret: str) -> dict[str, str]:
    """PostgREST's {"code","details","hint","message"} as strings, scrubbed of the key."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        data = {"message": text}
    out: dict[str, str] = {}
    for name in ("code", "details", "hint", "message"):
        value = data.get(name)
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        out[name] = scrub(text, [secret])[:300]
    return out


def _progress(report: PushReport) -> str:
    if not report.batches:
        return ""
    return (
        f" {report.rows_sent} rows in {report.batches} earlier batches were saved; "
        "pushing again is safe."
    )
