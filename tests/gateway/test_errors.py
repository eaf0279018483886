"""Every error is JSON {"error": ...} with the right status, never HTML, a stack trace or
gRPC text; backend faults map to 503 / 504 / 502 (injected with the scripted fake)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from serving.gateway.errors import (
    BackendDeadline,
    BackendError,
    BackendInvalidArgument,
    BackendUnavailable,
)
from tests.gateway import support

PREDICT = "/v1/models/digits:predict"
ROW = [0.0] * 64


def assert_json_error(response, status: int, fragment: str = ""):
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) >= {"error"} and isinstance(body["error"], str)
    assert fragment in body["error"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


@pytest.mark.parametrize(
    "method, path, kwargs, status, fragment",
    [
        ("post", PREDICT, {"data": b"{}", "content_type": "text/plain"}, 415, "Content-Type 'text/plain' is not supported"),
        ("post", PREDICT, {"data": b'{"instances": [[1]]}'}, 415, "missing Content-Type"),
        ("post", PREDICT, {"data": b"{}", "content_type": "application/x-www-form-urlencoded"}, 415, "send application/json"),
        ("post", PREDICT, {"json": {"instances": [ROW]}, "headers": {"Content-Encoding": "gzip"}}, 415, "Content-Encoding 'gzip'"),
        ("post", PREDICT, {"data": b"{nope", "content_type": "application/json"}, 400, "request body is not valid JSON"),
        ("post", PREDICT, {"data": b"[" * 100_00 + b"]" * 100_00, "content_type": "application/json"}, 400, "depth limit exceeded"),
        ("post", PREDICT, {"data": b"x" * (64 * 1024 + 1), "content_type": "application/json"}, 413, "larger than the limit of 65536 bytes"),
        ("post", PREDICT, {"json": {"instances": [ROW] * 9}}, 400, "9 instances exceed the limit of 8"),
        ("post", PREDICT, {"json": {"instances": []}}, 400, "instances is empty"),
        ("post", PREDICT, {"json": {"instances": [ROW[:-1]]}}, 400, "instances[0]: expected 64 values, got 63"),
        ("post", PREDICT, {"json": {"instances": [ROW], "top_k": 11}}, 400, "top_k: expected an integer between 1 and 10, got 11"),
        ("post", "/v1/models/nope:predict", {"json": {"instances": [ROW]}}, 404, "unknown model 'nope'"),
        ("post", "/v1/models/digits/versions/7:predict", {"json": {"instances": [ROW]}}, 404, "model 'digits' has no version 7"),
        ("post", "/v1/models/digits/versions/99999999999999999999:predict", {"json": {"instances": [ROW]}}, 404, "no such endpoint"),
        ("post", "/v1/models/..:predict", {"json": {"instances": [ROW]}}, 404, "no such endpoint"),
        ("get", PREDICT, {}, 405, "method GET is not allowed on /v1/models/digits:predict; allowed: POST"),
        ("put", "/v1/models/digits", {}, 405, "allowed: GET"),
        ("get", "/nowhere", {}, 404, "no such endpoint: GET /nowhere"),
        ("get", "/v1/models/nope", {}, 404, "unknown model 'nope'"),
        ("get", "/v1/models/digits/versions/3", {}, 404, "model 'digits' has no version 3"),
        ("post", "/v2/models/digits/infer", {"data": b"{}", "content_type": "text/csv"}, 415, "text/csv"),
    ],
)
def test_client_errors(client, method, path, kwargs, status, fragment):
    response = getattr(client, method)(path, **kwargs)
    assert_json_error(response, status, fragment)


def test_bodies_without_a_length_are_bounded_too(client):
    # What gunicorn hands over for Transfer-Encoding: chunked (no CONTENT_LENGTH).
    response = client.post(
        PREDICT,
        input_stream=io.BytesIO(b"x" * 100_000),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
    )
    assert_json_error(response, 413, "larger than the limit of 65536 bytes")


def test_405_names_the_allowed_methods_in_a_header(client):
    response = client.delete(PREDICT)
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize(
    "fault, status, fragment",
    [
        (BackendUnavailable("model server is unavailable"), 503, "model server is unavailable"),
        (BackendDeadline("model server did not answer within 5 seconds"), 504, "did not answer within 5 seconds"),
        (BackendError("model server failed (INTERNAL)"), 502, "model server failed"),
        (BackendInvalidArgument("input 'pixels' refused"), 400, "refused"),
    ],
)
@pytest.mark.parametrize("path", [PREDICT, "/v2/models/digits/infer"])
def test_backend_faults(client, backend, fault, status, fragment, path):
    backend.fail["predict"] = fault
    if path == PREDICT:
        response = client.post(path, json={"instances": [ROW]})
    else:
        response = client.post(path, json={"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": ROW}]})
    assert_json_error(response, status, fragment)


def test_backend_down_on_the_status_call_is_503(client, backend):
    backend.fail["status"] = BackendUnavailable("model server is unavailable")
    assert_json_error(client.post(PREDICT, json={"instances": [ROW]}), 503, "unavailable")


@pytest.mark.parametrize(
    "outputs, fragment",
    [
        (lambda x: {"probabilities": np.zeros((x.shape[0], 9), np.float32)}, "expected [1, 10] for 10 labels"),
        (lambda x: {"probabilities": np.zeros((x.shape[0] + 1, 10), np.float32)}, "shape [2, 10]"),
        (lambda x: {"logits": np.zeros((x.shape[0], 10), np.float32)}, "without its 'probabilities' output"),
        (lambda x: {"probabilities": np.full((x.shape[0], 10), np.inf, np.float32)}, "not probabilities"),
    ],
)
def test_nonsense_answers_are_502(client, backend, outputs, fragment):
    backend.answer = lambda model, version, x: (version, outputs(x))
    assert_json_error(client.post(PREDICT, json={"instances": [ROW]}), 502, fragment)


def test_an_unexpected_exception_is_a_json_500_with_the_request_id_only(client, backend):
    backend.fail["predict"] = RuntimeError("secret internals /etc/passwd")
    response = client.post(PREDICT, json={"instances": [ROW]}, headers={"X-Request-ID": "abc-123"})
    body = assert_json_error(response, 500)
    assert body == {"error": "internal error (request id abc-123)"}


def test_an_unexpected_exception_is_logged_with_its_trace(client, backend, caplog):
    backend.fail["predict"] = RuntimeError("boom")
    client.post(PREDICT, json={"instances": [ROW]})
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)


def test_metadata_missing_for_the_served_version_is_503(client, backend, repo):
    support.publish(repo, support.image_metadata(version=2))
    (repo / "digits" / "2" / "assets.extra" / "serving_metadata.json").write_text("{}")
    backend.versions["digits"] = {2: "AVAILABLE"}
    body = assert_json_error(client.post(PREDICT, json={"instances": [ROW]}), 503)
    assert body["error"] == "the serving metadata of model 'digits' version 2 is unreadable"
