"""The gateway under gunicorn with its production config (2 workers): metrics aggregated
across workers, request ids and JSON access logs, body limits over real HTTP."""

from __future__ import annotations

import json
import time

import requests
from prometheus_client.parser import text_string_to_metric_families


def wait_for(check, what: str, timeout: float = 30.0):
    """Bounded poll: log lines reach the file a moment after the answer."""
    deadline = time.monotonic() + timeout
    while (value := check()) is None:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)  # poll interval
    return value


def counter(url: str, name: str, **labels: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=30).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_add_up_across_workers(url):
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    before = counter(url, "gateway_requests_total", **labels)
    for _ in range(40):  # a new connection each time: both workers answer some
        response = requests.get(f"{url}/healthz", headers={"Connection": "close"}, timeout=30)
        assert response.status_code == 200
    assert counter(url, "gateway_requests_total", **labels) == before + 40
    text = requests.get(f"{url}/metrics", timeout=30).text
    assert "gateway_request_duration_seconds_bucket" in text


def test_prediction_metrics_name_model_and_version(url, model_repo):
    version = str(model_repo.results["digits"].version)
    before = counter(url, "gateway_predictions_total", model="digits", version=version)
    instances = model_repo.results["digits"].test_inputs[:3].tolist()
    assert requests.post(f"{url}/v1/models/digits:predict", json={"instances": instances}, timeout=30).ok
    assert counter(url, "gateway_predictions_total", model="digits", version=version) == before + 3
    assert counter(url, "gateway_model_version", model="digits") == float(version)
    assert counter(url, "gateway_backend_duration_seconds_count", call="predict", outcome="ok") >= 1


def test_request_id_is_echoed_and_logged_as_json(stack, url):
    response = requests.get(f"{url}/v1/models/digits", headers={"X-Request-ID": "e2e-log-check-1"}, timeout=30)
    assert response.headers["X-Request-ID"] == "e2e-log-check-1"
    assert len(requests.get(f"{url}/healthz", timeout=30).headers["X-Request-ID"]) == 32

    def logged():
        for line in stack.log_path.read_text(errors="replace").splitlines():
            if "e2e-log-check-1" in line:
                return json.loads(line)
        return None

    line = wait_for(logged, "the access log line")
    assert line["logger"] == "serving.gateway.access" and line["msg"] == "request"
    assert (line["method"], line["route"], line["status"]) == ("GET", "/v1/models/<model:name>", 200)
    assert line["duration_ms"] >= 0 and line["ts"].endswith("Z")


def test_bodies_are_bounded_with_and_without_content_length(url):
    big = b'{"instances": [' + b"0," * 5_000_000 + b"0]}"
    response = requests.post(f"{url}/v1/models/digits:predict", data=big,
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 413 and "larger than the limit" in response.json()["error"]

    def chunks():
        for _ in range(10_000):
            yield b"[" * 1024

    response = requests.post(f"{url}/v1/models/digits:predict", data=chunks(),
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 413


def test_deeply_nested_json_is_400_over_http(url):
    body = b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = requests.post(f"{url}/v1/models/digits:predict", data=body,
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 400 and "depth limit exceeded" in response.json()["error"]
