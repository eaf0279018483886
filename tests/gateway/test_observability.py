"""Request ids, JSON access logs, the answering version header, and Prometheus metrics."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROW = [0.0] * 64


def sample(client, name: str, **labels) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_a_sane_request_id_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "req-42.a:b"})
    assert response.headers["X-Request-ID"] == "req-42.a:b"


@pytest.mark.parametrize("given", [None, "", "has space", "x" * 129, "quote\"", "tab\there", "ünïcode"])
def test_otherwise_one_is_generated(client, given):
    headers = {} if given is None else {"X-Request-ID": given}
    response = client.get("/healthz", headers=headers)
    rid = response.headers["X-Request-ID"]
    assert rid != given and len(rid) == 32 and rid.isalnum()


def test_every_request_gets_a_distinct_id(client):
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


def test_predict_answers_with_the_version_in_body_and_header(client):
    response = client.post("/v1/models/digits:predict", json={"instances": [ROW]})
    assert response.status_code == 200
    assert response.get_json()["model_version"] == "1"
    assert response.headers["X-Model-Version"] == "1"


def test_one_json_access_log_line_per_request(client, caplog):
    caplog.set_level(logging.INFO, logger="serving.gateway.access")
    client.post("/v1/models/digits:predict", json={"instances": [ROW]}, headers={"X-Request-ID": "log-me"})
    (record,) = [r for r in caplog.records if r.name == "serving.gateway.access"]
    from serving.gateway.observability import JsonFormatter

    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "request"
    assert line["request_id"] == "log-me"
    assert line["route"] == "/v1/models/<model:name>:predict"
    assert (line["status"], line["model"], line["model_version"]) == (200, "digits", "1")
    assert line["duration_ms"] >= 0 and line["method"] == "POST"


def test_requests_are_counted_by_route_and_status(client):
    route = "/v1/models/<model:name>:predict"
    ok_before = sample(client, "gateway_requests_total", method="POST", route=route, status="200")
    bad_before = sample(client, "gateway_requests_total", method="POST", route=route, status="400")
    client.post("/v1/models/digits:predict", json={"instances": [ROW]})
    client.post("/v1/models/digits:predict", json={"instances": []})
    assert sample(client, "gateway_requests_total", method="POST", route=route, status="200") == ok_before + 1
    assert sample(client, "gateway_requests_total", method="POST", route=route, status="400") == bad_before + 1


def test_unmatched_paths_share_one_label(client):
    before = sample(client, "gateway_requests_total", method="GET", route="<unmatched>", status="404")
    client.get("/random/path/1")
    client.get("/random/path/2")
    assert sample(client, "gateway_requests_total", method="GET", route="<unmatched>", status="404") == before + 2


def test_prediction_metrics(client):
    before = sample(client, "gateway_predictions_total", model="digits", version="1")
    count_before = sample(client, "gateway_instances_per_request_count", model="digits")
    backend_before = sample(client, "gateway_backend_duration_seconds_count", call="predict", outcome="ok")
    client.post("/v1/models/digits:predict", json={"instances": [ROW] * 3})
    assert sample(client, "gateway_predictions_total", model="digits", version="1") == before + 3
    assert sample(client, "gateway_instances_per_request_count", model="digits") == count_before + 1
    assert sample(client, "gateway_model_version", model="digits") == 1
    assert sample(client, "gateway_backend_duration_seconds_count", call="predict", outcome="ok") == backend_before + 1
    assert sample(client, "gateway_request_duration_seconds_count", route="/v1/models/<model:name>:predict") > 0


# -- the access line written without the logging machinery ----------------------------------

ACCESS_FIELDS = [
    "ts", "level", "logger", "msg", "request_id", "method", "path", "route", "status", "duration_ms",
    "bytes_in", "bytes_out", "model", "model_version", "remote_addr", "user_agent",
]


@pytest.fixture
def direct_log(app, monkeypatch):
    """The gateway logger with only its own stderr handler, as in production (pytest adds its own)."""
    from serving.gateway import observability

    gateway_log = logging.getLogger("serving.gateway")
    ours = [h for h in gateway_log.handlers if isinstance(h, observability._StderrHandler)]
    monkeypatch.setattr(gateway_log, "handlers", ours)
    assert observability._direct_handler() is ours[0]
    return ours[0]


def test_the_direct_line_is_the_one_logging_would_write(direct_log, monkeypatch, capsys):
    import time

    from serving.gateway import observability

    monkeypatch.setattr(time, "time", lambda: 1767225599.9876)
    fields = {
        "request_id": "r-1", "method": "POST", "path": "/v1/models/dïgits:predict", "route": "<unmatched>",
        "status": 404, "duration_ms": 0.123, "bytes_in": 0, "bytes_out": 52, "model": None,
        "model_version": None, "remote_addr": None, "user_agent": 'quote" and \\ slash',
    }
    observability._write_access_line(direct_log, fields)
    written = capsys.readouterr().err
    record = observability.access_log.makeRecord(
        "serving.gateway.access", logging.INFO, "", 0, "request", (), None, extra=fields
    )
    assert written == direct_log.format(record) + "\n"
    assert json.loads(written)["ts"] == "2025-12-31T23:59:59.987Z"


def test_a_predict_writes_one_access_line_directly(client, direct_log, capsys):
    response = client.post(
        "/v1/models/digits:predict", json={"instances": [ROW]},
        headers={"X-Request-ID": "direct-1", "User-Agent": "probe/1.0"},
    )
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if "serving.gateway.access" in x]
    (line,) = lines
    assert list(line) == ACCESS_FIELDS
    assert (line["request_id"], line["method"], line["status"]) == ("direct-1", "POST", 200)
    assert (line["path"], line["route"]) == ("/v1/models/digits:predict", "/v1/models/<model:name>:predict")
    assert (line["model"], line["model_version"], line["user_agent"]) == ("digits", "1", "probe/1.0")
    assert line["bytes_in"] == int(response.request.headers["Content-Length"])
    assert line["bytes_out"] == len(response.get_data())
    assert line["remote_addr"] == "127.0.0.1" and line["duration_ms"] >= 0


def test_another_handler_or_a_filter_gets_the_record(direct_log, monkeypatch):
    from serving.gateway import observability

    monkeypatch.setattr(observability.access_log, "filters", [lambda record: True])
    assert observability._direct_handler() is None
    monkeypatch.setattr(observability.access_log, "filters", [])
    monkeypatch.setattr(direct_log, "level", logging.WARNING)
    assert observability._direct_handler() is None
    monkeypatch.setattr(direct_log, "level", logging.NOTSET)
    monkeypatch.setattr(logging.getLogger("serving.gateway"), "handlers", [direct_log, logging.NullHandler()])
    assert observability._direct_handler() is None


def test_fresh_ids_are_uuid4_hex():
    import uuid

    from serving.gateway.observability import new_request_id

    ids = [new_request_id() for _ in range(200)]
    assert len(set(ids)) == 200
    for rid in ids:
        parsed = uuid.UUID(hex=rid)
        assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, rid)
