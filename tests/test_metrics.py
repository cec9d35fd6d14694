"""RunMetrics: the textfile written for node_exporter, parsed back with prometheus_client."""

from __future__ import annotations

import os
import time
from pathlib import Path
from unittest import mock

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from coverctl.metrics import RunMetrics

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def read_series(path: Path) -> Series:
    """Every sample in a metrics file, keyed by (sample name, labels)."""
    text = path.read_text(encoding="utf-8")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def filled_metrics() -> RunMetrics:
    metrics = RunMetrics("batch")
    metrics.requests.labels(source="tmdb").inc(3)
    metrics.requests.labels(source="tvdb").inc()
    metrics.cache_hits.inc(2)
    metrics.generation_failures.inc()
    metrics.generation_duration.observe(3.5)
    metrics.generation_duration.observe(45)
    metrics.dead_links.set(7)
    metrics.audit_problem_rows.labels(kind="low_quality").set(4)
    metrics.audit_problem_rows.labels(kind="dead_link").set(7)
    metrics.provider_requests.labels(provider="tmdb", outcome="ok").inc(3)
    metrics.provider_requests.labels(provider="tmdb", outcome="rate_limited").inc()
    return metrics


def test_written_file_parses_back_with_names_labels_and_values(tmp_path: Path) -> None:
    path = tmp_path / "batch.prom"
    metrics = filled_metrics()
    metrics.mark_success()
    metrics.write(path)
    series = read_series(path)

    c = "batch"
    assert series[key("image_requests_total", command=c, source="tmdb")] == 3
    assert series[key("image_requests_total", command=c, source="tvdb")] == 1
    assert series[key("image_cache_hits_total", command=c)] == 2
    assert series[key("image_generation_failures_total", command=c)] == 1
    assert series[key("image_generation_duration_seconds_count", command=c)] == 2
    assert series[key("image_generation_duration_seconds_sum", command=c)] == 48.5
    assert series[key("image_generation_duration_seconds_bucket", command=c, le="5.0")] == 1
    assert series[key("image_generation_duration_seconds_bucket", command=c, le="+Inf")] == 2
    assert series[key("dead_links", command=c)] == 7
    assert series[key("audit_problem_rows", command=c, kind="low_quality")] == 4
    assert series[key("audit_problem_rows", command=c, kind="dead_link")] == 7
    assert (
        series[key("coverctl_provider_requests_total", command=c, provider="tmdb", outcome="ok")]
        == 3
    )
    assert (
        series[
            key(
                "coverctl_provider_requests_total",
                command=c,
                provider="tmdb",
                outcome="rate_limited",
            )
        ]
        == 1
    )
    last_success = series[key("coverctl_last_success_timestamp_seconds", command=c)]
    assert time.time() - 60 < last_success <= time.time()


def test_every_series_carries_the_command_label_and_no_created_series(tmp_path: Path) -> None:
    # node_exporter rejects a series two .prom files both define: the command label keeps
    # batch.prom and audit.prom apart.
    path = tmp_path / "audit.prom"
    RunMetrics("audit").write(path)
    series = read_series(path)

    assert series
    assert all(dict(labels).get("command") == "audit" for _, labels in series)
    assert not [name for name, _ in series if name.endswith("_created")]
    families = {f.name: f.type for f in text_string_to_metric_families(path.read_text())}
    assert families == {
        "image_requests": "counter",
        "image_cache_hits": "counter",
        "image_generation_failures": "counter",
        "image_generation_duration_seconds": "histogram",
        "dead_links": "gauge",
        "audit_problem_rows": "gauge",
        "coverctl_provider_requests": "counter",
        "coverctl_service_requests": "counter",
        "coverctl_service_failures": "counter",
        "coverctl_last_success_timestamp_seconds": "gauge",
    }


def test_awkward_label_values_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "batch.prom"
    metrics = RunMetrics("batch")
    awkward = 'we"ird\\source\nwith newline'
    metrics.requests.labels(source=awkward).inc()
    metrics.write(path)

    assert read_series(path)[key("image_requests_total", command="batch", source=awkward)] == 1


def test_two_runs_do_not_share_values_or_the_global_registry(tmp_path: Path) -> None:
    first, second = filled_metrics(), RunMetrics("batch")
    first.write(tmp_path / "first.prom")
    second.write(tmp_path / "second.prom")

    assert read_series(tmp_path / "first.prom")[key("image_cache_hits_total", command="batch")] == 2
    second_series = read_series(tmp_path / "second.prom")
    assert second_series[key("image_cache_hits_total", command="batch")] == 0
    assert not [name for name, _ in second_series if name == "image_requests_total"]
    assert REGISTRY.get_sample_value("image_cache_hits_total") is None


def test_failed_run_keeps_the_previous_success_time(tmp_path: Path) -> None:
    path = tmp_path / "audit.prom"
    succeeded = RunMetrics("audit")
    succeeded.mark_success()
    succeeded.write(path)
    stamp = read_series(path)[key("coverctl_last_success_timestamp_seconds", command="audit")]

    RunMetrics("audit").write(path)  # a later run that never called mark_success

    assert read_series(path)[key("coverctl_last_success_timestamp_seconds", command="audit")] == (
        stamp
    )


def test_run_that_never_succeeded_reports_zero(tmp_path: Path) -> None:
    path = tmp_path / "audit.prom"
    path.write_text("not a metrics file {{{\n", encoding="utf-8")
    RunMetrics("audit").write(path)
    assert read_series(path)[key("coverctl_last_success_timestamp_seconds", command="audit")] == 0


@pytest.mark.parametrize(
    "target",
    [
        # Fails before anything is written to the temp file ...
        "prometheus_client.exposition.generate_latest",
        # ... and after the temp file is complete, at the rename.
        "prometheus_client.exposition.os.rename",
    ],
)
def test_failed_write_leaves_old_file_and_no_temp_file(tmp_path: Path, target: str) -> None:
    tmp_path = tmp_path / "metrics"
    tmp_path.mkdir()
    path = tmp_path / "batch.prom"
    metrics = filled_metrics()
    metrics.write(path)
    before = path.read_bytes()

    metrics.cache_hits.inc(100)
    with mock.patch(target, side_effect=OSError("disk full")), pytest.raises(OSError):
        metrics.write(path)

    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["batch.prom"]


def test_command_name_is_required() -> None:
    with pytest.raises(ValueError, match="command"):
        RunMetrics("")


def test_a_failed_service_command_counts_its_failure_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coverctl.cli.app import run

    path = tmp_path / "lens.prom"
    monkeypatch.setenv("SERPAPI_API_KEY", "")  # no key: a configuration failure, no request
    assert run(["lens", "https://example.org/a.jpg", "--metrics-file", str(path)]) == 4
    series = read_series(path)
    failures = key("coverctl_service_failures_total", command="lens", service="lens", kind="config")
    assert series[failures] == 1
    assert series[key("coverctl_last_success_timestamp_seconds", command="lens")] == 0
