"""The metric helpers count into the right label children, cached or not."""

from __future__ import annotations

from prometheus_client import REGISTRY

from serving.gateway import metrics


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_requests_count_per_label_set_every_time():
    labels = {"method": "PATCH", "route": "/test/metrics/<x>"}
    before_ok = value("gateway_requests_total", **labels, status="200")
    before_bad = value("gateway_requests_total", **labels, status="400")
    before_count = value("gateway_request_duration_seconds_count", **labels)
    for _ in range(3):
        metrics.record_request("PATCH", "/test/metrics/<x>", 200, 0.002)
    metrics.record_request("PATCH", "/test/metrics/<x>", 400, 0.002)
    assert value("gateway_requests_total", **labels, status="200") == before_ok + 3
    assert value("gateway_requests_total", **labels, status="400") == before_bad + 1
    assert value("gateway_request_duration_seconds_count", **labels) == before_count + 4
    assert value("gateway_request_duration_seconds_bucket", **labels, le="0.0025") >= 4


def test_predictions_count_instances_and_set_the_version():
    before = value("gateway_predictions_total", model="test-metrics", version="7")
    metrics.record_prediction("test-metrics", 7, 5)
    metrics.record_prediction("test-metrics", 7, 2)
    assert value("gateway_predictions_total", model="test-metrics", version="7") == before + 7
    assert value("gateway_instances_per_request_count", model="test-metrics") >= 2
    metrics.record_prediction("test-metrics", 8, 1)
    assert value("gateway_model_version", model="test-metrics") == 8


def test_counting_goes_on_when_the_child_cache_is_full(monkeypatch):
    monkeypatch.setattr(metrics, "_backend_children", {})
    monkeypatch.setattr(metrics, "_CHILD_CACHE_LIMIT", 0)
    labels = {"call": "test-full-cache", "outcome": "ok"}
    before = value("gateway_backend_duration_seconds_count", **labels)
    metrics.observe_backend("test-full-cache", "ok", 0.01)
    metrics.observe_backend("test-full-cache", "ok", 0.01)
    assert value("gateway_backend_duration_seconds_count", **labels) == before + 2
    assert metrics._backend_children == {}
