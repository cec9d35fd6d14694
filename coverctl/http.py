"""One shared async HTTP client for all providers: pacing, Retry-After, retries, breaker, redaction.

Every provider call goes through `HttpClient.request`, which
- waits for the provider's gate: a leaky-bucket rate limit (aiolimiter) shared by all tasks, plus
  any pause a 429's `Retry-After` imposed (no task may call that provider before it ends);
- retries timeouts, connection errors and 5xx with exponential backoff and jitter (stamina);
- never retries other 4xx: the caller decides what a 401 or 404 means;
- opens a circuit after repeated failures so a dead provider is skipped for a cool-down;
- raises only the project's own errors, with URLs redacted.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import stamina
from aiolimiter import AsyncLimiter

from coverctl import __version__
from coverctl.errors import ProviderUnavailable, ResponseTooLarge

# httpx logs full request URLs (with query strings) at INFO: keep it quiet so no key is logged.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

SECRET_QUERY_PARAMS = frozenset({"api_key", "apikey", "key", "token", "access_token", "sig", "pin"})
_SECRET_PARAM_RE = re.compile(
    r"(?i)([?&](?:" + "|".join(sorted(SECRET_QUERY_PARAMS)) + r")=)[^&#\s]*"
)
T = TypeVar("T")


def redact_url(url: str | httpx.URL) -> str:
    """The URL with any credential in its query string replaced by `***`."""
    return _SECRET_PARAM_RE.sub(r"\1***", str(url))


def scrub(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret value (and credential query parameter) replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return redact_url(text)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    wait_initial: float = 0.5
    wait_max: float = 8.0
    wait_jitter: float = 0.5
    max_retry_after: float = 120.0  # a longer Retry-After makes the provider unavailable instead
    breaker_threshold: int = 5  # consecutive failed requests that open the circuit
    breaker_cooldown: float = 60.0


@dataclass
class ProviderStats:
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    failures: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


class ProviderGate:
    """Pacing and health of one provider, shared by every task of the process."""

    def __init__(self, name: str, rate: float, burst: int, policy: RetryPolicy) -> None:
        self.name = name
        self.rate = rate
        burst = max(1, burst)
        self._limiter = AsyncLimiter(burst, burst / rate)
        self._policy = policy
        self.paused_until = 0.0  # monotonic time before which no request may start
        self.open_until = 0.0  # monotonic time the circuit stays open
        self.consecutive_failures = 0
        self.stats = ProviderStats()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)
        self.stats.rate_limited += 1

    def check_circuit(self) -> None:
        remaining = self.open_until - time.monotonic()
        if remaining > 0:
            raise ProviderUnavailable(
                self.name, f"skipped for {remaining:.0f} s after repeated failures"
            )

    def record_success(self) -> None:
        self.consecutive_failures = 0

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        self.stats.failures += 1
        if self.consecutive_failures >= self._policy.breaker_threshold:
            self.open_until = time.monotonic() + self._policy.breaker_cooldown

    @property
    def circuit_open(self) -> bool:
        return self.open_until > time.monotonic()

    async def acquire(self) -> None:
        while True:
            self.check_circuit()
            wait = self.paused_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            await self._limiter.acquire()
            # A 429 may have paused the provider while we waited for the limiter.
            if self.paused_until <= time.monotonic():
                return


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def parse_retry_after(value: str | None, default: float = 1.0) -> float:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return default
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class HttpClient:
    """The process-wide async client. Use as `async with HttpClient(...) as http:`."""

    def __init__(
        self,
        *,
        rates: Mapping[str, float],
        bursts: Mapping[str, int] | None = None,
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._rates = dict(rates)
        self._bursts = dict(bursts or {})
        self._secrets = list(secrets)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            headers={"User-Agent": f"coverctl/{__version__}"},
            follow_redirects=True,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
        )
        self.gates: dict[str, ProviderGate] = {}
        self._inflight: dict[str, asyncio.Future[Any]] = {}

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def gate(self, provider: str) -> ProviderGate:
        gate = self.gates.get(provider)
        if gate is None:
            rate = self._rates.get(provider, 10.0)
            gate = ProviderGate(provider, rate, self._bursts.get(provider, 1), self.policy)
            self.gates[provider] = gate
        return gate

    def calls(self, provider: str | None = None) -> int:
        """HTTP requests actually sent (to one provider, or to all)."""
        if provider is not None:
            return self.gate(provider).stats.requests if provider in self.gates else 0
        return sum(g.stats.requests for g in self.gates.values())

    async def single_flight(self, key: str, factory: Callable[[], Awaitable[T]]) -> T:
        """Run `factory()` once for concurrent callers with the same key; all get its result."""
        future = self._inflight.get(key)
        if future is not None:
            return await asyncio.shield(future)
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await factory()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._inflight[key]

    async def request(
        self,
        provider: str,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        timeout: float | None = None,
        max_bytes: int | None = None,
        idempotent: bool = True,
        return_statuses: Collection[int] = (),
    ) -> httpx.Response:
        """Send one request with pacing and retries; return any response that is not 429/5xx.

        - `timeout` replaces the client's timeout for this request (Replicate's `Prefer: wait`
          holds a request up to 60 s; an image download deserves less than an API call).
        - `max_bytes` streams the body and raises ResponseTooLarge as soon as it is longer, so a
          stranger's "image" can never fill memory.
        - `idempotent=False` is for a request that must not run twice (one that spends money):
          it is retried only when it certainly never reached the server (a 429, a refused
          connection), never after a timeout or a 5xx, which may have been acted on.
        - `return_statuses` are handed back as they are instead of being handled (for a provider
          whose rate-limit answers the caller handles itself).
        """
        gate = self.gate(provider)
        policy = self.policy
        options = _SendOptions(timeout, max_bytes, idempotent, frozenset(return_statuses))

        def backoff(exc: Exception) -> bool | float:
            if not isinstance(exc, _Retryable):
                return False
            if exc.retry_after is not None:
                return 0.0  # the gate itself waits out the pause, for every task
            return True

        try:
            async for attempt in stamina.retry_context(
                on=backoff,
                attempts=policy.attempts,
                timeout=None,
                wait_initial=policy.wait_initial,
                wait_max=policy.wait_max,
                wait_jitter=policy.wait_jitter,
            ):
                with attempt:
                    if attempt.num > 1:
                        gate.stats.retries += 1
                    return await self._send_once(gate, method, url, params, headers, json, options)
        except _Retryable as exc:
            gate.record_failure()
            raise ProviderUnavailable(provider, exc.reason) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(
        self,
        gate: ProviderGate,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json: Any,
        options: _SendOptions | None = None,
    ) -> httpx.Response:
        options = options or _SendOptions()
        await gate.acquire()
        gate.stats.requests += 1
        timeout: Any = httpx.USE_CLIENT_DEFAULT
        if options.timeout is not None:
            timeout = httpx.Timeout(options.timeout, connect=min(options.timeout, 5.0))
        request = self._client.build_request(
            method, url, params=params, headers=headers, json=json, timeout=timeout
        )
        try:
            if options.max_bytes is None:
                response = await self._client.send(request)
            else:
                response = await self._send_bounded(gate.name, request, options.max_bytes)
        except httpx.TimeoutException as exc:
            gate.record_failure()
            never_sent = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            _fail_unless_retry_is_safe(gate.name, "timed out", options, never_sent)
            raise _Retryable("timed out") from None
        except httpx.TransportError as exc:
            gate.record_failure()
            reason = f"connection failed ({type(exc).__name__})"
            _fail_unless_retry_is_safe(
                gate.name, reason, options, isinstance(exc, httpx.ConnectError)
            )
            raise _Retryable(reason) from None
        gate.stats.statuses[response.status_code] += 1
        if response.status_code in options.return_statuses:
            return response
        if response.status_code == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after > self.policy.max_retry_after:
                raise ProviderUnavailable(
                    gate.name, f"rate limited for {retry_after:.0f} s (HTTP 429)"
                )
            gate.pause(retry_after)
            raise _Retryable("rate limited (HTTP 429)", retry_after=retry_after)
        if response.status_code >= 500:
            gate.record_failure()
            reason = f"server error (HTTP {response.status_code})"
            _fail_unless_retry_is_safe(gate.name, reason, options, never_sent=False)
            raise _Retryable(reason)
        gate.record_success()
        return response

    async def _send_bounded(
        self, provider: str, request: httpx.Request, max_bytes: int
    ) -> httpx.Response:
        """Send `request`, reading at most `max_bytes` of its (decoded) body."""
        response = await self._client.send(request, stream=True)
        chunks: list[bytes] = []
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ResponseTooLarge(provider, f"the response is {_megabytes(int(declared))}")
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ResponseTooLarge(
                        provider, f"the response is over {_megabytes(max_bytes)}"
                    )
                chunks.append(chunk)
        finally:
            await response.aclose()
        # The body is already decoded: the new response must not decode it again.
        headers = [
            (key, value)
            for key, value in response.headers.multi_items()
            if key.lower() not in {"content-encoding", "content-length", "transfer-encoding"}
        ]
        return httpx.Response(
            response.status_code, headers=headers, content=b"".join(chunks), request=request
        )


@dataclass(frozen=True)
class _SendOptions:
    timeout: float | None = None
    max_bytes: int | None = None
    idempotent: bool = True
    return_statuses: frozenset[int] = frozenset()


def _fail_unless_retry_is_safe(
    provider: str, reason: str, options: _SendOptions, never_sent: bool
) -> None:
    """A request that must not run twice is given up unless it certainly never arrived."""
    if not options.idempotent and not never_sent:
        raise ProviderUnavailable(provider, f"{reason}; not retried, it may have been acted on")


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"
