"""`coverctl doctor`: is every configured service reachable, and does it accept our credentials?

One cheap authenticated request per configured provider, all at once, each bounded by a short
timeout and never retried: each cascade provider's own probe, declared in its spec next to its
source (TMDB `GET /configuration`, TVDB `POST /login`, Hardcover a one-field GraphQL query,
Replicate `GET /account`), then Supabase `GET /rest/v1/`, SerpApi `GET /account.json`
(free), Luma `GET /credits`, Gemini `GET /models`, the vision API `GET /models`, Azure Blob one
page of the container list. Plus the local state: the store (opens, schema version), the cache
directory (writable) and the static image directory (exists, how many pictures); and Redis when
COVERCTL_REDIS_URL is set (PING, server version).

Each check ends `ok`, `skipped` (not configured) or `failed`, with a one-sentence fix that names
the variable or URL to change. Keys never appear: every text is scrubbed of every configured secret
before it leaves this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import httpx

from coverctl import __version__
from coverctl.config import Settings
from coverctl.errors import ConfigError, CoverctlError, CredentialRejected, ServiceUnreachable
from coverctl.redact import scrub
from coverctl.sources.spec import HttpProbe, ProbeFailed, ProbeRejected, probe_json

__all__ = ["DEFAULT_TIMEOUT", "CheckResult", "DoctorReport", "run_checks", "run_doctor"]

DEFAULT_TIMEOUT: Final = 5.0
IMAGE_SUFFIXES: Final = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"})
DEFAULT_STATIC_DIR: Final = Settings.__dataclass_fields__["static_dir"].default
_DETAIL_LIMIT: Final = 160

Status = Literal["ok", "skipped", "failed"]
T = TypeVar("T")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one component's check."""

    component: str
    status: Status
    detail: str
    latency_ms: int | None = None
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DoctorReport:
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        """False when a configured component failed (unconfigured ones are skipped, not failed)."""
        return all(check.status != "failed" for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [check.as_dict() for check in self.checks]}


def run_doctor(
    settings: Settings,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
) -> DoctorReport:
    """Run every check (see run_checks) from synchronous code."""
    return DoctorReport(asyncio.run(run_checks(settings, timeout=timeout, transport=transport)))


async def run_checks(
    settings: Settings,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[CheckResult]:
    """Every check, run concurrently; results in a fixed order, scrubbed of every secret."""
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        transport=transport,
        follow_redirects=False,
        headers={"User-Agent": f"coverctl/{__version__} (doctor)"},
    ) as client:
        probes = http_probes(settings)
        results = await asyncio.gather(
            asyncio.to_thread(check_store, settings),
            asyncio.to_thread(check_cache_dir, settings),
            asyncio.to_thread(check_static_dir, settings),
            *(_run_probe(client, p, timeout) for p in probes),
            check_azure(settings, timeout),
            asyncio.to_thread(check_redis, settings, timeout),
        )
    secrets = settings.secrets()
    return [_scrubbed(result, secrets) for result in results]


def _scrubbed(result: CheckResult, secrets: list[str]) -> CheckResult:
    return replace(
        result,
        detail=scrub(result.detail, secrets),
        fix=scrub(result.fix, secrets) if result.fix else None,
    )


# --- local state ---------------------------------------------------------------------------------


def check_store(settings: Settings) -> CheckResult:
    """The store opens (and is migrated to this version's schema); rows and version. The
    PostgreSQL one with COVERCTL_DATABASE_URL set, else the SQLite file under COVERCTL_HOME."""
    if settings.database_url:
        return check_shared_store(settings)
    from coverctl.store.db import SCHEMA_VERSION, SqliteStore

    path = settings.db_path
    if not path.exists():
        return _writable_location("store", path, f"no store yet; it will be created at {path}")
    started = time.perf_counter()
    try:
        store = SqliteStore(path)
        try:
            version, rows = store.schema_version, store.count()
        finally:
            store.close()
    except CoverctlError as exc:
        if "upgrade coverctl" in exc.message:  # written by a newer coverctl
            fix = "Upgrade coverctl, or set COVERCTL_HOME to another directory."
        else:
            fix = f"Set COVERCTL_HOME to a writable directory, or move {path} away to start afresh."
        return CheckResult("store", "failed", exc.message, fix=fix)
    return CheckResult(
        "store",
        "ok",
        f"{path}: schema version {version} (this coverctl: {SCHEMA_VERSION}), {rows} rows",
        latency_ms=_ms(started),
    )


def check_shared_store(settings: Settings) -> CheckResult:
    """COVERCTL_DATABASE_URL's server answers, accepts the login and holds (or now holds, once
    migrated) this version's schema: where, schema version and rows. Never the password."""
    from coverctl.store import DATABASE_URL_VAR, open_store
    from coverctl.store.pgschema import SCHEMA_VERSION

    started = time.perf_counter()
    try:
        store = open_store(settings)
        try:
            version, rows, where = store.schema_version, store.count(), store.location
        finally:
            store.close()
    except CoverctlError as exc:
        if "upgrade coverctl" in exc.message:
            fix = f"Upgrade coverctl (another one migrated {DATABASE_URL_VAR}'s database)."
        else:
            fix = (
                f"Check {DATABASE_URL_VAR} (postgresql://USER:PASSWORD@HOST:PORT/DBNAME): the "
                "server must be running and reachable from here, the login valid, the "
                "database created; or unset it to use the SQLite file under COVERCTL_HOME."
            )
        return CheckResult("store", "failed", exc.message, fix=fix)
    return CheckResult(
        "store",
        "ok",
        f"{where}: schema version {version} (this coverctl: {SCHEMA_VERSION}), {rows} rows, "
        "shared by every worker using it",
        latency_ms=_ms(started),
    )


def check_cache_dir(settings: Settings) -> CheckResult:
    """The cache directory accepts a new file (or, if missing, could be created)."""
    if settings.redis_url is not None:
        return CheckResult("cache", "skipped", "the cache is in Redis (COVERCTL_REDIS_URL)")
    path = settings.cache_dir
    if not path.exists():
        return _writable_location("cache", path, f"no cache yet; it will be created at {path}")
    if not path.is_dir():
        return CheckResult(
            "cache",
            "failed",
            f"{path} is not a directory",
            fix=f"Move {path} away, or set COVERCTL_HOME to another directory.",
        )
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-", delete=True):
            pass
    except OSError as exc:
        return CheckResult(
            "cache",
            "failed",
            f"cannot write in {path} ({exc.strerror or type(exc).__name__})",
            fix=f"Make {path} writable, or set COVERCTL_HOME to a writable directory.",
        )
    return CheckResult("cache", "ok", f"{path} is writable")


def check_redis(settings: Settings, timeout: float = DEFAULT_TIMEOUT) -> CheckResult:
    """Redis answers PING with the URL's credentials; its version (COVERCTL_REDIS_URL)."""
    if settings.redis_url is None:
        return CheckResult("redis", "skipped", "COVERCTL_REDIS_URL is not set")
    from coverctl.errors import RedisUnavailable
    from coverctl.fleet.connection import describe, redis_errors, server_version, sync_client

    url = settings.redis_url.reveal()
    started = time.perf_counter()
    try:
        client = sync_client(url, timeout=timeout, retries=0)
        try:
            with redis_errors(url, starting=True):
                client.ping()
                version = server_version(client)
        finally:
            client.close()
    except RedisUnavailable as exc:
        return CheckResult(
            "redis",
            "failed",
            exc.message,
            _ms(started),
            "Start Redis or correct COVERCTL_REDIS_URL (redis://[:password@]host:port/db); "
            "unset it to use the local disk cache and limits.",
        )
    return CheckResult(
        "redis",
        "ok",
        f"{describe(url)}: Redis {version}; cache, rate limits and locks are shared there",
        latency_ms=_ms(started),
    )


def _writable_location(component: str, path: Path, detail: str) -> CheckResult:
    """OK if the nearest existing ancestor of `path` is a directory we may create entries in."""
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK):
        return CheckResult(component, "ok", detail)
    return CheckResult(
        component,
        "failed",
        f"{path} cannot be created: {ancestor} is not a writable directory",
        fix="Set COVERCTL_HOME to a writable directory.",
    )


def check_static_dir(settings: Settings) -> CheckResult:
    """Local override images: the directory exists; how many pictures it (and characters/) holds."""
    path = settings.static_dir
    if not path.exists():
        if path == DEFAULT_STATIC_DIR:
            return CheckResult(
                "static",
                "skipped",
                f"no local override images ({path} does not exist; set COVERCTL_STATIC_DIR to use "
                "a directory of curated pictures)",
            )
        return CheckResult(
            "static",
            "failed",
            f"{path} does not exist",
            fix=f"Create {path}, or correct COVERCTL_STATIC_DIR.",
        )
    if not path.is_dir():
        return CheckResult(
            "static", "failed", f"{path} is not a directory", fix="Correct COVERCTL_STATIC_DIR."
        )
    count = sum(
        1
        for directory in (path, path / "characters")
        if directory.is_dir()
        for entry in directory.iterdir()
        if entry.suffix.lower() in IMAGE_SUFFIXES and entry.is_file()
    )
    return CheckResult("static", "ok", f"{path}: {count} image{'s' if count != 1 else ''}")


# --- HTTP providers ------------------------------------------------------------------------------


def _supabase(settings: Settings) -> HttpProbe:
    url, key = settings.supabase_url, settings.supabase_key
    request: httpx.Request | None = None
    misconfigured: tuple[str, str] | None = None
    if url and key:
        try:
            request = httpx.Request(
                "GET",
                f"{url.removesuffix('/rest/v1')}/rest/v1/",
                headers={"apikey": key.reveal(), "Authorization": f"Bearer {key.reveal()}"},
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError):
            misconfigured = (
                "SUPABASE_URL is not a valid URL",
                "Set SUPABASE_URL to the project URL, such as https://PROJECT.supabase.co.",
            )
    elif url or key:
        missing, given = (
            ("SUPABASE_KEY", "SUPABASE_URL") if url else ("SUPABASE_URL", "SUPABASE_KEY")
        )
        misconfigured = (
            f"{given} is set but {missing} is not",
            f"Set {missing} too"
            + (
                " (the project's service_role key)."
                if missing == "SUPABASE_KEY"
                else " (the project URL, such as https://PROJECT.supabase.co)."
            ),
        )
    return HttpProbe(
        "supabase",
        "Supabase",
        "SUPABASE_KEY",
        "SUPABASE_URL",
        url or "",
        request,
        lambda response: "API key accepted",
        "Check SUPABASE_KEY: the project's service_role key (Project settings > API).",
        unset="SUPABASE_URL and SUPABASE_KEY are not set",
        misconfigured=misconfigured,
    )


def _serpapi(settings: Settings) -> HttpProbe:
    request = None
    if settings.serpapi_api_key:
        # The Account API: free, and it says how many searches are left.
        request = httpx.Request(
            "GET",
            f"{settings.serpapi_url}/account.json",
            params={"api_key": settings.serpapi_api_key.reveal().strip()},
        )

    def accept(response: httpx.Response) -> str:
        left = probe_json(response).get("total_searches_left")
        if isinstance(left, int) and left <= 0:
            raise ProbeFailed("the account has no searches left this month (upgrade the plan)")
        return (
            f"API key accepted ({left} searches left)" if left is not None else "API key accepted"
        )

    return HttpProbe(
        "serpapi",
        "SerpApi",
        "SERPAPI_API_KEY",
        "SERPAPI_URL",
        settings.serpapi_url,
        request,
        accept,
        "Check SERPAPI_API_KEY at https://serpapi.com/manage-api-key.",
    )


def _luma(settings: Settings) -> HttpProbe:
    request = None
    if settings.lumaai_api_key:
        request = httpx.Request(
            "GET",
            f"{settings.lumaai_api_url}/credits",
            headers={"Authorization": f"Bearer {settings.lumaai_api_key.reveal().strip()}"},
        )

    def accept(response: httpx.Response) -> str:
        balance = probe_json(response).get("credit_balance")  # US cents
        if isinstance(balance, int | float):
            return f"API key accepted (credit balance ${balance / 100:.2f})"
        return "API key accepted"

    return HttpProbe(
        "luma",
        "Luma",
        "LUMAAI_API_KEY",
        "LUMAAI_API_URL",
        settings.lumaai_api_url,
        request,
        accept,
        "Check LUMAAI_API_KEY at https://lumalabs.ai/api/keys.",
    )


def _gemini(settings: Settings) -> HttpProbe:
    request = None
    if settings.gemini_api_key:
        request = httpx.Request(
            "GET",
            f"{settings.gemini_api_url}/models",
            params={"pageSize": "1"},
            headers={"x-goog-api-key": settings.gemini_api_key.reveal().strip()},
        )
    return HttpProbe(
        "gemini",
        "Gemini",
        "GEMINI_API_KEY",
        "GEMINI_API_URL",
        settings.gemini_api_url,
        request,
        lambda response: "API key accepted",
        "Check GEMINI_API_KEY at https://aistudio.google.com/apikey.",
        # Google answers a bad key with HTTP 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
        rejects=lambda response: response.status_code == 400 and "API_KEY_INVALID" in response.text,
    )


def _vision(settings: Settings) -> HttpProbe:
    request = None
    model = settings.vision_model
    if settings.vision_url:
        headers = {"Accept": "application/json"}
        if settings.vision_api_key:
            headers["Authorization"] = f"Bearer {settings.vision_api_key.reveal().strip()}"
        request = httpx.Request("GET", f"{settings.vision_url}/models", headers=headers)

    def accept(response: httpx.Response) -> str:
        data = probe_json(response).get("data")
        names = (
            {str(m.get("id")) for m in data if isinstance(m, dict)}
            if isinstance(data, list)
            else set()
        )
        if not model:
            raise ProbeFailed("COVERCTL_VISION_MODEL is not set (name a model that reads images)")
        if names and model not in names:
            raise ProbeFailed(f"the API offers no model {model!r}; check COVERCTL_VISION_MODEL")
        return f"model {model} available"

    return HttpProbe(
        "vision",
        "The vision API",
        "COVERCTL_VISION_API_KEY",
        "COVERCTL_VISION_URL",
        settings.vision_url or "",
        request,
        accept,
        "Check COVERCTL_VISION_API_KEY (an OpenAI-compatible API key; a local server needs none).",
        unset="COVERCTL_VISION_URL is not set (identify --reader vision is off)",
    )


# The services beside the cascade's providers, whose probes their specs declare (next to each
# source: the same auth and the same reading of a refusal).
SERVICE_PROBES: tuple[Callable[[Settings], HttpProbe], ...] = (
    _supabase,
    _serpapi,
    _luma,
    _gemini,
    _vision,
)


def http_probes(settings: Settings) -> list[HttpProbe]:
    """Every provider's probe (one per provider, in registry order), then the services'."""
    from coverctl.sources.registry import specs

    providers: dict[str, HttpProbe] = {}
    for spec in specs():
        if spec.probe is not None and spec.provider not in providers:
            providers[spec.provider] = spec.probe(settings)
    return [*providers.values(), *(probe(settings) for probe in SERVICE_PROBES)]


async def _run_probe(client: httpx.AsyncClient, probe: HttpProbe, timeout: float) -> CheckResult:
    if probe.misconfigured is not None:
        detail, fix = probe.misconfigured
        return CheckResult(probe.component, "failed", detail, fix=fix)
    if probe.request is None:
        return CheckResult(probe.component, "skipped", probe.unset or f"{probe.key_var} is not set")
    request = probe.request
    where = request.url.host + (f":{request.url.port}" if request.url.port else "")
    started = time.perf_counter()

    def failed(detail: str, fix: str) -> CheckResult:
        return CheckResult(probe.component, "failed", detail, latency_ms=_ms(started), fix=fix)

    try:
        async with asyncio.timeout(timeout):  # bounds the whole exchange, not just each read
            response = await client.send(request)
    except (TimeoutError, httpx.TimeoutException):
        return failed(
            f"{probe.label} at {where} did not answer within {timeout:g} s",
            f"Check {probe.url_var} ({probe.url}) and the network, or try again later.",
        )
    except httpx.TransportError as exc:
        return failed(
            f"cannot connect to {probe.label} at {where} ({_transport_reason(exc)})",
            f"Check {probe.url_var} ({probe.url}) and the network.",
        )
    status = response.status_code
    message = _error_message(response)
    suffix = f": {message}" if message else ""
    if status in (401, 403) or (probe.rejects is not None and probe.rejects(response)):
        return failed(f"{probe.label} rejected the key (HTTP {status}{suffix})", probe.key_fix)
    if status == 429:
        return failed(
            f"{probe.label} is rate limiting us (HTTP 429)",
            "Try again in a minute; lower COVERCTL_RATE_"
            f"{probe.component.upper()} if batches run at the same time.",
        )
    if status >= 500:
        return failed(
            f"{probe.label} at {where} has a server error (HTTP {status}{suffix})",
            f"Try again later; if it persists, check {probe.url_var} ({probe.url}).",
        )
    if status >= 300:
        return failed(
            f"{probe.label} at {where} answered HTTP {status}{suffix}",
            f"Check {probe.url_var} ({probe.url}) points at the API.",
        )
    try:
        detail = probe.accept(response)
    except ProbeRejected as exc:
        return failed(f"{probe.label} rejected the key ({_short(str(exc))})", probe.key_fix)
    except ProbeFailed as exc:
        return failed(
            f"{probe.label}: {_short(str(exc))}",
            f"Check {probe.url_var} ({probe.url}) points at the API.",
        )
    except ValueError:
        return failed(
            f"{probe.label} at {where} answered HTTP {status} with something that is not JSON",
            f"Check {probe.url_var} ({probe.url}) points at the API.",
        )
    return CheckResult(probe.component, "ok", detail, latency_ms=_ms(started))


def _error_message(response: httpx.Response) -> str:
    """A provider's own short error text, from any of the shapes the providers use."""
    if response.status_code < 400:
        return ""
    try:
        data = response.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    for name in ("status_message", "message", "detail", "error", "title", "msg"):
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            code = data.get("code")
            prefix = f"{code}: " if isinstance(code, str) and code else ""
            return _short(prefix + value.strip())
    return ""


def _transport_reason(exc: httpx.TransportError) -> str:
    """'Connection refused', 'Name or service not known', ...: the OS's words, never a URL."""
    cause: BaseException | None = exc
    for _ in range(10):  # httpx wraps httpcore, which wraps the socket error
        if cause is None:
            break
        if isinstance(cause, OSError) and (cause.errno or cause.strerror):
            # asyncio words a refusal "Connect call failed (...)": prefer the errno's own name.
            if isinstance(cause.errno, int) and cause.errno > 0:
                return os.strerror(cause.errno)
            return str(cause.strerror)
        cause = cause.__cause__ or cause.__context__
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    return found.group(1).strip() if found else type(exc).__name__


# --- Azure Blob Storage --------------------------------------------------------------------------


async def check_azure(settings: Settings, timeout: float) -> CheckResult:
    """List one page of containers with the connection string (in a daemon thread: the SDK is
    synchronous, and a hung call must not keep the process alive past the timeout)."""
    connection = settings.azure_connection_string
    if not connection:
        return CheckResult("azure", "skipped", "AZURE_STORAGE_CONNECTION_STRING is not set")
    from coverctl.push.azure import list_container_names

    var = "AZURE_STORAGE_CONNECTION_STRING"
    started = time.perf_counter()
    try:
        names = await _in_daemon_thread(
            lambda: list_container_names(connection, limit=20, timeout=timeout), timeout
        )
    except TimeoutError:
        return CheckResult(
            "azure",
            "failed",
            f"Azure Blob Storage did not answer within {timeout:g} s",
            latency_ms=_ms(started),
            fix=f"Check the endpoint in {var} and the network, or try again later.",
        )
    except CredentialRejected:
        return CheckResult(
            "azure",
            "failed",
            "Azure Blob Storage rejected the credentials",
            _ms(started),
            f"Check the AccountKey (or SAS) in {var}: copy it again from the storage account.",
        )
    except ServiceUnreachable as exc:
        fix = f"Check the BlobEndpoint or AccountName in {var}, and that the service is up."
        return CheckResult("azure", "failed", exc.message, _ms(started), fix)
    except ConfigError as exc:
        return CheckResult("azure", "failed", exc.message, _ms(started), f"Correct {var}.")
    except CoverctlError as exc:
        fix = f"Check that the credentials in {var} may list containers."
        return CheckResult("azure", "failed", exc.message, _ms(started), fix)
    shown = ", ".join(names) if names else "none yet"
    return CheckResult(
        "azure", "ok", f"credentials accepted; containers: {shown}", latency_ms=_ms(started)
    )


async def _in_daemon_thread(function: Callable[[], T], timeout: float) -> T:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def target() -> None:
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting task, which re-raises it
            error = exc
            _call_soon(loop, lambda: deliver(lambda: future.set_exception(error)))
        else:
            _call_soon(loop, lambda: deliver(lambda: future.set_result(result)))

    threading.Thread(target=target, name="coverctl-doctor-azure", daemon=True).start()
    return await asyncio.wait_for(future, timeout + 0.5)  # the SDK's own timeouts come first


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    # RuntimeError: the loop closed, doctor finished without waiting for this thread.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)


# --- helpers -------------------------------------------------------------------------------------


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"
