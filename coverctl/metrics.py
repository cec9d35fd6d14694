"""Prometheus metrics for one run, written for node_exporter's textfile collector.

Each command that takes ``--metrics-file`` fills a :class:`RunMetrics` and writes it once at the
end. node_exporter merges every ``*.prom`` file in its directory and rejects a series that two
files both define, so every series written here carries a ``command`` label: ``batch.prom`` and
``audit.prom`` can then both hold ``image_requests_total{source="tmdb"}``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import write_to_textfile
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["GENERATION_BUCKETS", "PROVIDER_OUTCOMES", "RunMetrics", "provider_outcomes"]

LAST_SUCCESS_METRIC = "coverctl_last_success_timestamp_seconds"

# AI generation takes seconds to a minute (Replicate's "Prefer: wait" blocks up to 60 s).
GENERATION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)

# Values for the ``outcome`` label of coverctl_provider_requests_total; a small fixed set keeps
# the number of series bounded.
PROVIDER_OUTCOMES = ("ok", "not_found", "rate_limited", "auth_error", "error", "timeout")


class _CommandLabelled:
    """A collector that re-exports a registry with ``command="<name>"`` on every sample.

    ``*_created`` samples are dropped: they change on every run and say nothing a textfile
    reader needs (the file's mtime and coverctl_last_success_timestamp_seconds cover it).
    """

    def __init__(self, registry: CollectorRegistry, command: str) -> None:
        self._registry = registry
        self._command = command

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            relabelled = copy.copy(family)
            relabelled.samples = [
                sample._replace(labels={**sample.labels, "command": self._command})
                for sample in family.samples
                if sample.name != f"{family.name}_created"
            ]
            yield relabelled


class RunMetrics:
    """Collects one run's metrics in its own CollectorRegistry (never the global one)."""

    def __init__(self, command: str) -> None:
        if not command:
            raise ValueError("RunMetrics needs the command name, e.g. 'audit'")
        self.command = command
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "image_requests", "Image look-ups made, by source.", ["source"], registry=reg
        )
        self.cache_hits = Counter(
            "image_cache_hits", "Image look-ups answered from the cache.", registry=reg
        )
        self.generation_failures = Counter(
            "image_generation_failures", "AI image generations that failed.", registry=reg
        )
        self.generation_duration = Histogram(
            "image_generation_duration_seconds",
            "Wall time of one AI image generation.",
            buckets=GENERATION_BUCKETS,
            registry=reg,
        )
        self.dead_links = Gauge(
            "dead_links", "Stored image URLs found dead in this run.", registry=reg
        )
        self.audit_problem_rows = Gauge(
            "audit_problem_rows", "Stored rows with a problem, by kind.", ["kind"], registry=reg
        )
        self.provider_requests = Counter(
            "coverctl_provider_requests",
            "HTTP requests to external providers, by provider and outcome.",
            ["provider", "outcome"],
            registry=reg,
        )
        # The image services (lens, identify, animate, edit): requests by outcome, failures by
        # kind (credential, billing, unavailable, no_result, rejected).
        self.service_requests = Counter(
            "coverctl_service_requests",
            "HTTP requests to the image services, by service and outcome.",
            ["service", "outcome"],
            registry=reg,
        )
        self.service_failures = Counter(
            "coverctl_service_failures",
            "Image service commands (lens, identify, animate, edit) that failed, by kind.",
            ["service", "kind"],
            registry=reg,
        )
        # Unlabelled here: the command label is added to every series on write.
        self.last_success = Gauge(
            LAST_SUCCESS_METRIC,
            "Unix time the command last finished successfully.",
            registry=reg,
        )
        self._succeeded = False

    def mark_success(self) -> None:
        """Record that the run finished successfully now."""
        self.last_success.set_to_current_time()
        self._succeeded = True

    def write(self, path: Path) -> None:
        """Write the Prometheus text format to ``path`` atomically.

        write_to_textfile writes ``<path>.<pid>.<thread>`` in the same directory and renames it
        over ``path``; on failure it removes the temp file and leaves ``path`` as it was. The temp
        name does not end in ``.prom``, so node_exporter never reads a half-written file.

        A run that did not succeed keeps the last success time found in the file it replaces,
        so a failed night shows "last success: yesterday" rather than 1970.
        """
        if not self._succeeded:
            previous = self._previous_success(Path(path))
            if previous is not None:
                self.last_success.set(previous)
        write_to_textfile(str(path), _CommandLabelled(self.registry, self.command))

    def _previous_success(self, path: Path) -> float | None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        try:
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if (
                        sample.name == LAST_SUCCESS_METRIC
                        and sample.labels.get("command") == self.command
                    ):
                        return float(sample.value)
        except ValueError:  # not a metrics file we can read: start afresh
            return None
        return None


def provider_outcomes(stats: dict[str, Any]) -> dict[str, int]:
    """Requests to one provider (HttpClient.provider_stats) by the metrics' outcome label."""
    outcomes = dict.fromkeys(("ok", "not_found", "rate_limited", "auth_error", "error"), 0)
    answered = 0
    for status_text, count in stats["statuses"].items():
        status = int(status_text)
        answered += count
        if status == 404:
            outcomes["not_found"] += count
        elif status == 429:
            outcomes["rate_limited"] += count
        elif status in (401, 403):
            outcomes["auth_error"] += count
        elif status >= 400:
            outcomes["error"] += count
        else:
            outcomes["ok"] += count
    outcomes["timeout"] = stats["timeouts"]
    outcomes["error"] += max(0, stats["requests"] - answered - stats["timeouts"])
    return outcomes
