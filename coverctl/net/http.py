"""One shared async HTTP client for all providers: pacing, Retry-After, retries, breaker, redaction.

Every provider call goes through `HttpClient.request`, which
- waits for the provider's gate: a leaky-bucket rate limit (aiolimiter) shared by all tasks, plus
  any pause a 429's `Retry-After` imposed (no task may call that provider before it ends); with
  COVERCTL_REDIS_URL the rate and the pause are shared by every worker on every host instead
  (coverctl.fleet.limiter), and failing Redis stops the call rather than letting it go unpaced;
- retries timeouts, connection errors and 5xx with exponential backoff and jitter (stamina);
- never retries other 4xx: the caller decides what a 401 or 404 means;
- waits out up to `rate_limit_attempts` 429s (each pauses the provider for every task);
- opens a circuit after repeated failures so a dead provider is skipped for a cool-down, then
  lets one probe request through (half-open) before trusting it again;
- bounds the requests in flight for gates that have a concurrency limit (each image host's
  "image_fetch:<host>" gate: picture downloads never share a gate, a pause or a breaker with the
  API that listed the picture);
- raises only the project's own errors, with URLs redacted.

A request for a URL that came from outside (a picture to check, an asset a service returned) is
sent with `guard=AllowRules(...)`: it goes through a second httpx client whose transport is the
network guard (coverctl.net.guard: every address vetted, connections pinned to it, every
redirect hop vetted again), under the same gates as any other request. That client ignores proxy
settings from the environment: a proxy would resolve the name itself and undo the pinning.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx
from aiolimiter import AsyncLimiter

from coverctl import __version__
from coverctl.constants import DEFAULT_CONCURRENCY_LIMITS
from coverctl.errors import ProviderUnavailable, ResponseTooLarge
from coverctl.net.guard import ALLOW_EXTENSION, AllowRules, GuardedTransport

# Re-exported for callers that predate coverctl.redact, the one home of redaction.
from coverctl.redact import redact_url as redact_url
from coverctl.redact import scrub as scrub
from coverctl.retrying import retry_context

# httpx logs full request URLs (with query strings) at INFO: keep it quiet so no key is logged.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

if TYPE_CHECKING:
    from coverctl.fleet import Fleet

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    wait_initial: float = 0.5
    wait_max: float = 8.0
    wait_jitter: float = 0.5
    max_retry_after: float = 120.0  # a longer Retry-After makes the provider unavailable instead
    breaker_threshold: int = 5  # consecutive failed requests that open the circuit
    breaker_cooldown: float = 60.0
    # How many 429s one request may wait out before giving up; None: the same as `attempts`.
    # A 429 is the provider asking us to wait, not a failure: it never counts towards the breaker.
    rate_limit_attempts: int | None = None

    @property
    def max_rate_limited(self) -> int:
        return max(1, self.rate_limit_attempts or self.attempts)


# What a client gets without an explicit policy: patient with 429s (each one pauses the provider
# for every task, so a request that meets several is waiting its turn, not failing).
DEFAULT_POLICY = RetryPolicy(rate_limit_attempts=10)


@dataclass
class ProviderStats:
    """What happened with one provider since the client was created."""

    requests: int = 0  # HTTP requests actually sent
    rate_limited: int = 0  # 429 answers (each paused the provider)
    retries: int = 0  # requests sent again after a 429, 5xx, timeout or connection error
    failures: int = 0  # 5xx answers, timeouts and connection errors
    timeouts: int = 0
    gave_up: int = 0  # calls that ended as ProviderUnavailable after their retries
    breaker_opened: int = 0  # times the circuit opened
    skipped: int = 0  # calls refused without a request because the circuit was open
    paused_s: float = 0.0  # total Retry-After pause imposed
    statuses: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "retries": self.retries,
            "failures": self.failures,
            "timeouts": self.timeouts,
            "gave_up": self.gave_up,
            "breaker_opened": self.breaker_opened,
            "skipped": self.skipped,
            "paused_s": round(self.paused_s, 3),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


class Pacer(Protocol):
    """A provider's rate limit: `acquire` returns 0.0 once a request may go, or the seconds of a
    pause (another worker's 429) to wait before asking again. `pause` shares a 429's pause."""

    async def acquire(self) -> float: ...

    async def pause(self, seconds: float) -> None: ...


class LocalPacer:
    """The rate limit of one process: a leaky bucket (aiolimiter); pauses are the gate's own."""

    def __init__(self, rate: float, burst: int) -> None:
        self._limiter = AsyncLimiter(burst, burst / rate)

    async def acquire(self) -> float:
        await self._limiter.acquire()
        return 0.0

    async def pause(self, seconds: float) -> None:
        return None


class ProviderGate:
    """Pacing and health of one provider, shared by every task of the process.

    Pacing: a leaky bucket (aiolimiter) at the provider's rate, plus `paused_until`, set by a 429's
    Retry-After. A request starts only after both let it through, and the pause is checked again
    after the limiter wait, so a task that was queued in the limiter when the 429 came in waits
    out the pause too. Everything between that last check and handing the request to the
    transport is synchronous: no task can pass the gate after a 429 was seen and before its pause
    is set. With a shared pacer (coverctl.fleet) the rate and the pauses are the fleet's: a pause
    is also announced to every worker, and one announced by another worker is waited out here.

    Health: a circuit breaker. `breaker_threshold` consecutive failures (5xx, timeouts, connection
    errors; not 4xx, not 429) open it for `breaker_cooldown` seconds, during which calls fail at
    once with ProviderUnavailable. Then it is half-open: one request probes the provider (the
    others are still refused); its success closes the circuit, its failure opens it again.
    """

    def __init__(
        self,
        name: str,
        rate: float,
        burst: int,
        policy: RetryPolicy,
        concurrency: int | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.name = name
        self.rate = rate
        self.burst = max(1, burst)
        self.shared = pacer is not None
        self._pacer: Pacer = pacer or LocalPacer(rate, self.burst)
        self._announcing: set[asyncio.Task[None]] = set()
        # Requests in flight at once (None: bounded by the rate alone). Held from the send to the
        # end of the body, so a slow image host cannot take more than its share of connections.
        self.concurrency = concurrency
        self.slots = asyncio.Semaphore(concurrency) if concurrency else None
        self._policy = policy
        self.paused_until = 0.0  # monotonic time before which no request may start
        self.open_until = 0.0  # monotonic time the circuit stays open; 0 when closed
        self.consecutive_failures = 0
        self._probing = False  # a half-open probe request is in flight
        self.stats = ProviderStats()

    def pause(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        if until > self.paused_until:
            self.stats.paused_s += until - max(self.paused_until, time.monotonic())
            self.paused_until = until
        self.stats.rate_limited += 1
        if self.shared:
            # This process waits from now on; the other workers as soon as Redis has it. The
            # next `acquire` here makes sure it got there (or raises that Redis is gone).
            task = asyncio.get_running_loop().create_task(self._pacer.pause(seconds))
            self._announcing.add(task)

    async def settle(self) -> None:
        """Wait for the pauses this gate is announcing to the fleet; raise if one failed."""
        while self._announcing:
            announcing = list(self._announcing)
            self._announcing.clear()
            results = await asyncio.gather(*announcing, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    def _adopt_pause(self, seconds: float) -> None:
        """Another worker's pause: wait it out here too (it is not this gate's 429)."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def _refuse(self) -> None:
        self.stats.skipped += 1
        remaining = self.open_until - time.monotonic()
        if remaining > 0:
            raise ProviderUnavailable(
                self.name, f"skipped for {remaining:.0f} s after repeated failures"
            )
        raise ProviderUnavailable(
            self.name, "skipped while one request checks whether it has recovered"
        )

    def check_circuit(self) -> None:
        """Raise ProviderUnavailable when the circuit is open (or half-open and being probed)."""
        if self.open_until and (self.open_until > time.monotonic() or self._probing):
            self._refuse()

    def _enter(self) -> bool:
        """Final check before a request is sent; True when this request is the half-open probe."""
        self.check_circuit()
        if self.open_until:
            self._probing = True
            return True
        return False

    def release_probe(self) -> None:
        """The probe ended without a verdict (429, cancelled, unexpected error): let another try."""
        self._probing = False

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self.open_until = 0.0
        self._probing = False

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        self.stats.failures += 1
        if self._probing or self.consecutive_failures >= self._policy.breaker_threshold:
            if not self.circuit_open:
                self.stats.breaker_opened += 1
            self.open_until = time.monotonic() + self._policy.breaker_cooldown
            self._probing = False

    @property
    def circuit_open(self) -> bool:
        return self.open_until > time.monotonic()

    async def acquire(self) -> bool:
        """Wait until a request may start; True when it is the half-open probe.

        Raises ProviderUnavailable at once while the circuit is open, or while a Retry-After
        pause longer than the policy's patience (`max_retry_after`) is still running.
        """
        while True:
            await self.settle()
            self.check_circuit()
            wait = self.paused_until - time.monotonic()
            if wait > self._policy.max_retry_after:
                raise ProviderUnavailable(self.name, f"rate limited for another {wait:.0f} s")
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            shared_pause = await self._pacer.acquire()
            if shared_pause > 0:
                self._adopt_pause(shared_pause)
                continue
            # A 429 may have paused the provider while we waited for the limiter.
            if self.paused_until <= time.monotonic():
                return self._enter()


class _RateLimited(Exception):
    """A 429 whose Retry-After the gate is now waiting out (for every task)."""


class _Retryable(Exception):
    """A timeout, connection error or 5xx: retried with backoff, counted by the breaker."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
        concurrency: Mapping[str, int] | None = None,
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        guarded_transport: httpx.AsyncBaseTransport | None = None,
        secrets: Sequence[str] = (),
        fleet: Fleet | None = None,
    ) -> None:
        """`transport` replaces the network for every request (tests: a MockTransport, which
        the guard then vets requests for without pinning); `guarded_transport` replaces the
        guard's transport for requests sent with `guard` (tests: a GuardedTransport with a fake
        resolver and network)."""
        self.policy = policy or DEFAULT_POLICY
        # Shared pacing and single-flight for every worker (COVERCTL_REDIS_URL); closed with us.
        self.fleet = fleet
        self._rates = dict(rates)
        self._bursts = dict(bursts or {})
        self._concurrency = dict(DEFAULT_CONCURRENCY_LIMITS if concurrency is None else concurrency)
        self._secrets = list(secrets)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            headers={"User-Agent": f"coverctl/{__version__}"},
            follow_redirects=True,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
        )
        self._guarded = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=guarded_transport or GuardedTransport(inner=transport),
            headers={"User-Agent": f"coverctl/{__version__}"},
            follow_redirects=False,
            trust_env=False,
        )
        self.gates: dict[str, ProviderGate] = {}
        self._inflight: dict[str, asyncio.Future[Any]] = {}

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        try:
            try:
                await self._client.aclose()
            finally:
                await self._guarded.aclose()
        finally:
            if self.fleet is not None:
                # Pauses still on their way to Redis get there (others should learn of them);
                # whether Redis took them no longer matters to this client.
                announcing = [task for gate in self.gates.values() for task in gate._announcing]
                await asyncio.gather(*announcing, return_exceptions=True)
                await self.fleet.aclose()

    def gate(self, provider: str) -> ProviderGate:
        """The gate of `provider`. A name like "image_fetch:host" gets a gate of its own (pacing,
        Retry-After pause, breaker and in-flight limit per host) with the rate, burst and
        concurrency configured for "image_fetch"."""
        gate = self.gates.get(provider)
        if gate is None:
            family = provider.split(":", 1)[0]
            rate = self._rates.get(provider, self._rates.get(family, 10.0))
            burst = self._bursts.get(provider, self._bursts.get(family, 1))
            limit = self._concurrency.get(provider, self._concurrency.get(family))
            pacer = self.fleet.limiter(provider, rate, burst) if self.fleet else None
            gate = ProviderGate(provider, rate, burst, self.policy, limit, pacer)
            self.gates[provider] = gate
        return gate

    def provider_stats(self) -> dict[str, dict[str, Any]]:
        """Per-provider counters (see ProviderStats) plus rate and circuit state, for summaries."""
        return {
            name: {
                **gate.stats.as_dict(),
                "rate": gate.rate,
                "circuit_open": gate.circuit_open,
            }
            for name, gate in sorted(self.gates.items())
        }

    def calls(self, provider: str | None = None) -> int:
        """HTTP requests actually sent (to one provider, or to all)."""
        if provider is not None:
            return self.gate(provider).stats.requests if provider in self.gates else 0
        return sum(g.stats.requests for g in self.gates.values())

    async def single_flight(
        self,
        key: str,
        factory: Callable[[], Awaitable[T]],
        *,
        published: Callable[[], T | None] | None = None,
    ) -> T:
        """Run `factory()` once for concurrent callers with the same key; all get its result.

        With a fleet and `published` (reads what `factory` stores in the shared cache), once for
        every worker of the fleet too: see coverctl.fleet.flight."""
        future = self._inflight.get(key)
        if future is not None:
            return await asyncio.shield(future)
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            if self.fleet is not None and published is not None:
                result = await self.fleet.single_flight(key, factory, published)
            else:
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
        content: bytes | None = None,
        timeout: float | None = None,
        max_bytes: int | None = None,
        idempotent: bool = True,
        return_statuses: Collection[int] = (),
        follow_redirects: bool = True,
        guard: AllowRules | None = None,
    ) -> httpx.Response:
        """Send one request with pacing and retries; return any response that is not 429/5xx.

        - `content` is a raw body (a multipart upload built by the caller), instead of `json`.
        - `timeout` replaces the client's timeout for this request (Replicate's `Prefer: wait`
          holds a request up to 60 s; an image download deserves less than an API call).
        - `max_bytes` streams the body and raises ResponseTooLarge as soon as it is longer, so a
          stranger's "image" can never fill memory.
        - `idempotent=False` is for a request that must not run twice (one that spends money):
          it is retried only when it certainly never reached the server (a 429, a refused
          connection), never after a timeout or a 5xx, which may have been acted on.
        - `return_statuses` are handed back as they are instead of being handled (for a provider
          whose rate-limit answers the caller handles itself).
        - `follow_redirects=False` hands a 3xx back so the caller can follow it under the next
          host's gate.
        - `guard` sends the request through the network guard (a URL that came from outside),
          exempting what those rules allow; every redirect hop is vetted too. A refused address
          raises coverctl.errors.AddressRefused at once: nothing was sent, nothing is retried.
        """
        gate = self.gate(provider)
        policy = self.policy
        options = _SendOptions(
            timeout,
            max_bytes,
            idempotent,
            frozenset(return_statuses),
            follow_redirects,
            content,
            guard,
        )

        def transient(exc: Exception) -> bool:
            return isinstance(exc, _Retryable)

        rate_limited = 0
        while True:
            try:
                async for attempt in retry_context(
                    on=transient,
                    attempts=policy.attempts,
                    timeout=None,
                    wait_initial=policy.wait_initial,
                    wait_max=policy.wait_max,
                    wait_jitter=policy.wait_jitter,
                ):
                    with attempt:
                        if attempt.num > 1:
                            gate.stats.retries += 1
                        return await self._send_once(
                            gate, method, url, params, headers, json, options
                        )
            except _RateLimited:
                # The gate already paused the provider for every task: try again after it.
                rate_limited += 1
                if rate_limited >= policy.max_rate_limited:
                    gate.stats.gave_up += 1
                    raise ProviderUnavailable(provider, "rate limited (HTTP 429)") from None
                gate.stats.retries += 1
            except _Retryable as exc:
                gate.stats.gave_up += 1
                raise ProviderUnavailable(provider, exc.reason) from None

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
        if gate.slots is None:
            return await self._send_paced(gate, method, url, params, headers, json, options)
        # The slot is taken before the pacing wait: a task queued for a slot holds no limiter
        # token, so the rate is spent only by requests that can go out at once.
        async with gate.slots:
            return await self._send_paced(gate, method, url, params, headers, json, options)

    async def _send_paced(
        self,
        gate: ProviderGate,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json: Any,
        options: _SendOptions | None,
    ) -> httpx.Response:
        probe = await gate.acquire()
        try:
            return await self._send_through(
                gate, method, url, params, headers, json, options or _SendOptions()
            )
        finally:
            if probe:
                gate.release_probe()  # no-op when a success or failure already settled it

    async def _send_through(
        self,
        gate: ProviderGate,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json: Any,
        options: _SendOptions,
    ) -> httpx.Response:
        gate.stats.requests += 1
        timeout: Any = httpx.USE_CLIENT_DEFAULT
        if options.timeout is not None:
            timeout = httpx.Timeout(options.timeout, connect=min(options.timeout, 5.0))
        client = self._client if options.guard is None else self._guarded
        request = client.build_request(
            method,
            url,
            params=params,
            headers=headers,
            json=json,
            content=options.content,
            timeout=timeout,
            extensions=None if options.guard is None else {ALLOW_EXTENSION: options.guard},
        )
        try:
            if options.max_bytes is None:
                response = await client.send(request, follow_redirects=options.follow_redirects)
            else:
                response = await self._send_bounded(
                    client, gate.name, request, options.max_bytes, options.follow_redirects
                )
        except httpx.TimeoutException as exc:
            gate.stats.timeouts += 1
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
                # Too long to wait for: every task gives up on this provider until it ends.
                gate.pause(retry_after)
                gate.stats.gave_up += 1
                raise ProviderUnavailable(
                    gate.name, f"rate limited for {retry_after:.0f} s (HTTP 429)"
                )
            gate.pause(retry_after)
            raise _RateLimited()
        if response.status_code >= 500:
            gate.record_failure()
            reason = f"server error (HTTP {response.status_code})"
            _fail_unless_retry_is_safe(gate.name, reason, options, never_sent=False)
            raise _Retryable(reason)
        gate.record_success()
        return response

    async def _send_bounded(
        self,
        client: httpx.AsyncClient,
        provider: str,
        request: httpx.Request,
        max_bytes: int,
        follow_redirects: bool = True,
    ) -> httpx.Response:
        """Send `request`, reading at most `max_bytes` of its (decoded) body."""
        response = await client.send(request, stream=True, follow_redirects=follow_redirects)
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
    follow_redirects: bool = True
    content: bytes | None = None
    guard: AllowRules | None = None


def _fail_unless_retry_is_safe(
    provider: str, reason: str, options: _SendOptions, never_sent: bool
) -> None:
    """A request that must not run twice is given up unless it certainly never arrived."""
    if not options.idempotent and not never_sent:
        raise ProviderUnavailable(provider, f"{reason}; not retried, it may have been acted on")


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"
