"""TFServingClient over real gRPC on loopback: against the local model server with
model_repo models, and against a scripted fault-injecting server (a fake, used only to
inject UNAVAILABLE, hangs, internal errors and malformed answers)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from protogen.tfserving import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from serving.gateway import tensors
from serving.gateway.errors import (
    BackendBadResponse,
    BackendDeadline,
    BackendError,
    BackendInvalidArgument,
    BackendNotFound,
    BackendUnavailable,
    BadRequest,
)
from serving.gateway.grpc_client import TFServingClient
from tests.model_server.support import free_port, start_server, wait_for

# -- against the real model server ---------------------------------------------------------


@pytest.fixture(scope="module")
def live(model_repo):
    server = start_server(model_config_file=model_repo.config_path, file_system_poll_wait_seconds=0)
    client = TFServingClient(f"127.0.0.1:{server.port}", deadline_seconds=30)
    yield client
    client.close()
    server.stop(grace=1)


@pytest.fixture(scope="module")
def digits(live):
    """(version, input name, instance shape, classes) as the server describes them."""
    info = live.metadata("digits")
    (name, spec), = info.inputs.items()
    return info.version, name, spec.shape[1:], info.outputs["probabilities"].shape[1]


def pixels(digits, n=2, dtype=np.float32):
    return {digits[1]: np.random.default_rng(0).random((n, *digits[2])).astype(dtype)}


def test_status(live, model_repo):
    (status,) = live.status("digits")
    assert status.version == model_repo.results["digits"].version
    assert status.state == "AVAILABLE" and status.error_code == 0


def test_metadata(live, digits, model_repo):
    info = live.metadata("digits", version=digits[0])
    assert info.version == model_repo.results["digits"].version
    assert info.method_name == "tensorflow/serving/predict"
    (spec,) = info.inputs.values()
    assert spec.dtype == "float32" and spec.shape[0] == -1
    assert info.outputs["probabilities"].dtype == "float32"
    assert info.outputs["probabilities"].shape == (-1, digits[3])


def test_predict_returns_the_version_and_the_outputs(live, digits):
    version, outputs = live.predict("digits", pixels(digits, 3))
    assert version == digits[0]
    probabilities = outputs["probabilities"]
    assert probabilities.shape == (3, digits[3]) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    pinned, _ = live.predict("digits", pixels(digits), version=digits[0])
    assert pinned == digits[0]


def test_concurrent_predicts_share_one_channel(live, digits):
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: live.predict("digits", pixels(digits, 1 + i % 3)), range(24)))
    assert [out["probabilities"].shape[0] for _, out in results] == [1 + i % 3 for i in range(24)]
    assert live._get_stubs() is live._get_stubs()


@pytest.mark.parametrize(
    "call, error, status, fragment",
    [
        (lambda c, d: c.predict("nope", pixels(d)), BackendNotFound, 404, "model 'nope' not found"),
        (lambda c, d: c.predict("digits", pixels(d), version=999), BackendNotFound, 404, "version 999 of model 'digits' not found"),
        (lambda c, d: c.status("nope"), BackendNotFound, 404, "model 'nope' not found"),
        (lambda c, d: c.metadata("digits", version=999), BackendNotFound, 404, "version 999"),
        (lambda c, d: c.metadata("digits", signature="nope"), BackendNotFound, 404, "no signature 'nope'"),
        (lambda c, d: c.predict("digits", pixels(d, dtype=np.float64)), BackendInvalidArgument, 400, "has dtype DT_DOUBLE"),
        (lambda c, d: c.predict("digits", {d[1]: np.zeros((1, 3), np.float32)}), BackendInvalidArgument, 400, "has shape [1, 3]"),
        (lambda c, d: c.predict("digits", {"nope": np.zeros((1, 3), np.float32)}), BackendInvalidArgument, 400, "Sent extra: {nope}"),
        (lambda c, d: c.predict("digits", pixels(d), signature="nope"), BackendInvalidArgument, 400, 'signature key "nope" not found'),
        (lambda c, d: c.predict("digits", {d[1]: np.array([1j])}), BadRequest, 400, "input '"),
    ],
    ids=[
        "unknown-model", "unknown-version", "status-unknown-model", "metadata-unknown-version",
        "metadata-unknown-signature", "wrong-dtype", "wrong-shape", "unknown-input",
        "unknown-signature", "unencodable-input",
    ],
)
def test_errors_are_ours_with_client_safe_messages(live, digits, call, error, status, fragment):
    with pytest.raises(error) as info:
        call(live, digits)
    assert info.value.status_code == status
    assert fragment in info.value.message
    assert "debug_error_string" not in info.value.message


def test_a_closed_client_reopens(live, digits):
    live.close()
    version, _ = live.predict("digits", pixels(digits))
    assert version == digits[0]


def test_the_channel_is_reopened_in_a_forked_child(live, digits):
    """gunicorn forks workers after the app (and maybe a used client) exists."""
    live.predict("digits", pixels(digits))
    parent_stubs = live._get_stubs()
    pid = os.fork()
    if pid == 0:  # the child: must never return into pytest
        code = 1
        try:
            version, outputs = live.predict("digits", pixels(digits))
            reopened = live._get_stubs() is not parent_stubs
            code = 0 if version == digits[0] and reopened and outputs["probabilities"].size else 3
        finally:
            os._exit(code)
    def reaped():
        done, status = os.waitpid(pid, os.WNOHANG)
        return (status,) if done else None

    (status,) = wait_for(reaped, 60, "the forked child")
    assert os.waitstatus_to_exitcode(status) == 0
    assert live.predict("digits", pixels(digits))[0] == digits[0]
    assert live._get_stubs() is parent_stubs


def test_unreachable_server_is_unavailable_without_transport_details():
    client = TFServingClient(f"127.0.0.1:{free_port()}", deadline_seconds=5, retries=1)
    with pytest.raises(BackendUnavailable) as info:
        client.status("digits")
    assert info.value.status_code == 503
    assert info.value.message == "model server is unavailable"
    assert info.value.grpc_code == "UNAVAILABLE"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"address": "nohost"},
        {"deadline_seconds": 0},
        {"retries": -1},
        {"backoff_seconds": 2, "backoff_max_seconds": 1},
        {"max_message_bytes": 0},
    ],
)
def test_bad_settings_are_refused(kwargs):
    kwargs = {"address": "127.0.0.1:8500", **kwargs}
    with pytest.raises(ValueError):
        TFServingClient(kwargs.pop("address"), **kwargs)


# -- against a scripted server (fault injection) -------------------------------------------


class Scripted(
    prediction_service_pb2_grpc.PredictionServiceServicer, model_service_pb2_grpc.ModelServiceServicer
):
    """A fake model server that answers from a script: for fault injection only."""

    def __init__(self):
        self.script: list = []
        self.calls = 0
        self.release = threading.Event()

    def Predict(self, request, context):
        self.calls += 1
        action = self.script.pop(0) if self.script else ok_response
        return action(request, context, self)

    def GetModelStatus(self, request, context):
        self.calls += 1
        response = get_model_status_pb2.GetModelStatusResponse()
        response.model_version_status.add(version=4, state=30)
        return response


def ok_response(request, context, fake):
    response = predict_pb2.PredictResponse()
    response.model_spec.name = request.model_spec.name
    response.model_spec.version.value = 4
    tensors.fill_tensor_proto(response.outputs["probabilities"], np.full((1, 2), 0.5, np.float32))
    return response


def fail(code, details="secret internal detail at /srv/node-17"):
    return lambda request, context, fake: context.abort(code, details)


def hang(request, context, fake):
    fake.release.wait(60)  # until the test releases it: the client's deadline fires first
    return ok_response(request, context, fake)


def serve(fake, port=0):
    server = grpc.server(ThreadPoolExecutor(4), options=[("grpc.so_reuseport", 0)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(fake, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(fake, server)
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, port


@pytest.fixture
def fake():
    fake = Scripted()
    server, port = serve(fake)
    fake.address = f"127.0.0.1:{port}"
    yield fake
    fake.release.set()
    server.stop(0)


def make_client(fake, **kwargs):
    kwargs.setdefault("deadline_seconds", 10)
    kwargs.setdefault("backoff_seconds", 0.01)
    return TFServingClient(fake.address, **kwargs)


INPUT = {"x": np.zeros((1, 2), np.float32)}


def test_unavailable_is_retried_until_it_succeeds(fake):
    fake.script = [fail(grpc.StatusCode.UNAVAILABLE)] * 2
    version, outputs = make_client(fake, retries=2).predict("m", INPUT)
    assert (version, fake.calls) == (4, 3)
    np.testing.assert_array_equal(outputs["probabilities"], [[0.5, 0.5]])


def test_retries_are_bounded(fake):
    fake.script = [fail(grpc.StatusCode.UNAVAILABLE)] * 5
    with pytest.raises(BackendUnavailable):
        make_client(fake, retries=1).predict("m", INPUT)
    assert fake.calls == 2


@pytest.mark.parametrize(
    "code, error, message",
    [
        (grpc.StatusCode.INTERNAL, BackendError, "model server failed (INTERNAL)"),
        (grpc.StatusCode.UNKNOWN, BackendError, "model server failed (UNKNOWN)"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, BackendError, "model server failed (RESOURCE_EXHAUSTED)"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, BackendDeadline, "model server did not answer within 10 seconds"),
        (grpc.StatusCode.NOT_FOUND, BackendNotFound, "model 'm' not found"),
    ],
)
def test_other_codes_are_not_retried_and_hide_server_details(fake, code, error, message):
    fake.script = [fail(code)]
    with pytest.raises(error) as info:
        make_client(fake, retries=3).predict("m", INPUT)
    assert type(info.value) is error
    assert info.value.message == message
    assert fake.calls == 1


def test_every_call_has_a_deadline(fake):
    fake.script = [hang]
    with pytest.raises(BackendDeadline) as info:
        make_client(fake, deadline_seconds=0.3).predict("m", INPUT)
    assert info.value.status_code == 504
    assert "0.3 seconds" in info.value.message


def test_a_restarted_server_is_found_again():
    first = Scripted()
    server, port = serve(first)
    client = TFServingClient(f"127.0.0.1:{port}", deadline_seconds=10, retries=0, backoff_seconds=0.01)
    assert client.status("m")[0].version == 4
    server.stop(0).wait()
    with pytest.raises(BackendUnavailable):
        client.status("m")
    second = Scripted()
    restarted, _ = serve(second, port)
    try:
        statuses = wait_for(lambda: _status_or_none(client), 30, "the restarted server")
        assert statuses[0].version == 4 and second.calls >= 1
    finally:
        restarted.stop(0)
        client.close()


def _status_or_none(client):
    try:
        return client.status("m")
    except BackendUnavailable:
        return None


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda r: setattr(r.outputs["probabilities"], "tensor_content", b"\x00" * 3), "bad output 'probabilities'"),
        (lambda r: r.model_spec.ClearField("version"), "did not say which version"),
    ],
)
def test_malformed_answers_are_bad_responses(fake, mutate, fragment):
    def malformed(request, context, f):
        response = ok_response(request, context, f)
        mutate(response)
        return response

    fake.script = [malformed]
    with pytest.raises(BackendBadResponse) as info:
        make_client(fake).predict("m", INPUT)
    assert info.value.status_code == 502 and fragment in info.value.message


def test_answers_in_repeated_val_fields_are_decoded(fake):
    def as_fields(request, context, f):
        response = predict_pb2.PredictResponse()
        response.model_spec.version.value = 9
        out = response.outputs["probabilities"]
        out.dtype = 1
        out.tensor_shape.dim.add(size=2)
        out.float_val.extend([0.25, 0.75])
        return response

    fake.script = [as_fields]
    version, outputs = make_client(fake).predict("m", INPUT)
    assert version == 9
    np.testing.assert_array_equal(outputs["probabilities"], np.array([0.25, 0.75], np.float32))


def test_message_size_limit_is_applied(fake):
    with pytest.raises(BackendError) as info:
        make_client(fake, max_message_bytes=1024).predict("m", {"x": np.zeros(4096, np.float32)})
    assert info.value.grpc_code == "RESOURCE_EXHAUSTED"
    assert fake.calls == 0


def test_the_deadline_bounds_the_retries_too(fake):
    fake.script = [fail(grpc.StatusCode.UNAVAILABLE)] * 1000
    with pytest.raises(BackendUnavailable):
        make_client(fake, retries=1000, deadline_seconds=0.5, backoff_seconds=0.05).predict("m", INPUT)
    # Each retry waits at least 25 ms, so 0.5 s leaves room for at most ~21 attempts.
    assert 2 <= fake.calls <= 25
