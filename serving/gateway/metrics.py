"""Prometheus metrics of the gateway, and the `/metrics` exposition.

Under gunicorn every worker is a separate process: `serving/gunicorn.conf.py` points
`PROMETHEUS_MULTIPROC_DIR` at a fresh folder before any worker imports this module, so
prometheus_client writes each worker's values there and `/metrics` (answered by any
worker) aggregates all of them. Without that variable (tests, `flask run`) the default
in-process registry is used.

Labels are bounded: `route` is the URL rule (e.g. `/v1/models/<model:name>:predict`),
never the raw path, and `model` is only recorded for models the backend knows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from serving.gateway.backend import Backend, SignatureInfo, VersionStatus
from serving.gateway.errors import GatewayError

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter(
    "gateway_requests_total", "HTTP requests answered, by route and status.",
    ["method", "route", "status"],
)
REQUEST_LATENCY = Histogram(
    "gateway_request_duration_seconds", "Time to answer an HTTP request, by route.",
    ["method", "route"], buckets=LATENCY_BUCKETS,
)
BACKEND_LATENCY = Histogram(
    "gateway_backend_duration_seconds", "Time of a call to the model server, by call and outcome.",
    ["call", "outcome"], buckets=LATENCY_BUCKETS,
)
INSTANCES = Histogram(
    "gateway_instances_per_request", "Instances in a predict/infer request that reached the model.",
    ["model"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
)
PREDICTIONS = Counter(
    "gateway_predictions_total", "Instances answered, by model and the version that answered.",
    ["model", "version"],
)
MODEL_VERSION = Gauge(
    "gateway_model_version", "The model version that answered the latest prediction.",
    ["model"], multiprocess_mode="livemostrecent",
)


def render() -> tuple[bytes, str]:
    """The exposition text of every metric (of every worker under gunicorn)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# `labels(...)` validates and looks up its child under a lock on every call; the children
# of the label values seen so far are kept here instead (label values are bounded, see
# above, and prometheus_client keeps every child anyway). Bounded all the same, in case.
_CHILD_CACHE_LIMIT = 4096
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_prediction_children: dict[tuple[str, int], tuple[Any, Any, Any]] = {}
_backend_children: dict[tuple[str, str], Any] = {}


def _remember(cache: dict, key: Any, children: Any) -> Any:
    if len(cache) < _CHILD_CACHE_LIMIT:
        cache[key] = children
    return children


def record_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered HTTP request."""
    key = (method, route, status)
    children = _request_children.get(key)
    if children is None:
        children = _remember(_request_children, key, (
            REQUESTS.labels(method, route, str(status)), REQUEST_LATENCY.labels(method, route)
        ))
    children[0].inc()
    children[1].observe(seconds)


def record_prediction(model: str, version: int, instances: int) -> None:
    """Count a successful prediction of `instances` by `model` version `version`."""
    key = (model, version)
    children = _prediction_children.get(key)
    if children is None:
        children = _remember(_prediction_children, key, (
            INSTANCES.labels(model), PREDICTIONS.labels(model, str(version)), MODEL_VERSION.labels(model)
        ))
    children[0].observe(instances)
    children[1].inc(instances)
    children[2].set(version)


def observe_backend(call: str, outcome: str, seconds: float) -> None:
    """Time one call to the model server."""
    key = (call, outcome)
    child = _backend_children.get(key)
    if child is None:
        child = _remember(_backend_children, key, BACKEND_LATENCY.labels(call, outcome))
    child.observe(seconds)


class InstrumentedBackend:
    """A Backend that times every call into `gateway_backend_duration_seconds`."""

    def __init__(self, inner: Backend):
        self.inner = inner

    def status(self, model: str) -> list[VersionStatus]:
        """Backend.status, timed."""
        return self._timed("status", self.inner.status, model)

    def metadata(self, model: str, version: int | None = None, signature: str = "serving_default") -> SignatureInfo:
        """Backend.metadata, timed."""
        return self._timed("metadata", self.inner.metadata, model, version, signature)

    def predict(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        version: int | None = None,
        signature: str = "serving_default",
    ) -> tuple[int, dict[str, np.ndarray]]:
        """Backend.predict, timed."""
        return self._timed("predict", self.inner.predict, model, inputs, version, signature)

    def close(self) -> None:
        """Backend.close."""
        self.inner.close()

    def _timed(self, call: str, fn: Any, *args: Any) -> Any:
        start = time.perf_counter()
        outcome = "ok"
        try:
            return fn(*args)
        except GatewayError as exc:
            outcome = type(exc).__name__
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            observe_backend(call, outcome, time.perf_counter() - start)
