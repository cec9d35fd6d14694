"""What the image service commands (lens, identify, animate, edit) share: run one job on a
service session, an error as one JSON object for `--json`, Prometheus metrics for `--metrics-file`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from coverctl.errors import (
    BillingError,
    CoverctlError,
    CredentialRejected,
    ExitCode,
    ImageRejected,
    NoResult,
    ServiceFailed,
)

if TYPE_CHECKING:
    from coverctl.resolver import Resolver

T = TypeVar("T")

# The providers each command's metrics report on.
SERVICE_PROVIDERS: dict[str, tuple[str, ...]] = {
    "lens": ("serpapi",),
    "identify": ("vision", "tmdb"),
    "animate": ("luma",),
    "edit": ("gemini",),
}


def failure_kind(exc: BaseException) -> str:
    """The `kind` label of coverctl_service_failures_total for an error."""
    if isinstance(exc, CredentialRejected):
        return "credential"
    if isinstance(exc, BillingError):
        return "billing"
    if isinstance(exc, ServiceFailed):
        return "unavailable"
    if isinstance(exc, NoResult):
        return "no_result"
    if isinstance(exc, ImageRejected):
        return "rejected"
    if isinstance(exc, CoverctlError) and exc.exit_code == ExitCode.CONFIG:
        return "config"
    return "error"


def run_service(
    command: str,
    work: Callable[[Resolver], Awaitable[T]],
    *,
    as_json: bool,
    metrics_file: Path | None = None,
) -> T:
    """Run `work` on a service session; errors propagate (the app maps them to exit codes)
    after being printed as `{"status", "error", "exit_code"}` on stdout with `--json`."""
    from coverctl.cli.common import load_settings, print_json
    from coverctl.services.common import service_session

    settings = load_settings()
    stats: dict[str, dict[str, Any]] = {}

    async def main() -> T:
        async with service_session(settings) as resolver:
            try:
                return await work(resolver)
            finally:
                stats.update(resolver.http.provider_stats())

    failed: BaseException | None = None
    try:
        return asyncio.run(main())
    except CoverctlError as exc:
        failed = exc
        if as_json:
            status = "not_found" if exc.exit_code == ExitCode.INCOMPLETE else "error"
            print_json({"status": status, "error": exc.message, "exit_code": exc.exit_code})
        raise
    except BaseException as exc:
        failed = exc
        raise
    finally:
        if metrics_file is not None:
            _write_metrics(command, stats, failed, metrics_file)


def _write_metrics(
    command: str, stats: dict[str, dict[str, Any]], failed: BaseException | None, path: Path
) -> None:
    from coverctl.metrics import RunMetrics, provider_outcomes

    metrics = RunMetrics(command)
    for provider in SERVICE_PROVIDERS.get(command, ()):
        if provider in stats:
            for outcome, count in provider_outcomes(stats[provider]).items():
                if count:
                    metrics.service_requests.labels(service=provider, outcome=outcome).inc(count)
    if failed is None:
        metrics.mark_success()
    elif not isinstance(failed, KeyboardInterrupt):
        metrics.service_failures.labels(service=command, kind=failure_kind(failed)).inc()
    metrics.write(path)
