"""Backend faults through gunicorn and the real gRPC client: down → 503 fast, slow → 504 at
the deadline, nonsense → 502, and /readyz answers within its own short deadline.

The backends here are FAKE gRPC servers (TF Serving's API from our stubs) whose only job
is to inject the fault: hang until released, or answer malformed outputs.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import requests

from protogen.tfserving import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from serving.gateway import tensors
from tests.e2e.support import Gateway, free_port


class FaultyModelServer(
    prediction_service_pb2_grpc.PredictionServiceServicer, model_service_pb2_grpc.ModelServiceServicer
):
    """Answers GetModelStatus (digits `version` AVAILABLE) and Predict as `mode` says."""

    def __init__(self, version: int):
        self.version = version
        self.mode = "ok"  # ok | hang | hang_status | wrong_shape | wrong_version
        self.release = threading.Event()
        self.server = grpc.server(ThreadPoolExecutor(8), options=[("grpc.so_reuseport", 0)])
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(self, self.server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def GetModelStatus(self, request, context):
        if self.mode == "hang_status":
            self.release.wait(60)
        response = get_model_status_pb2.GetModelStatusResponse()
        response.model_version_status.add(version=self.version, state=30)  # AVAILABLE
        return response

    def Predict(self, request, context):
        if self.mode == "hang":
            self.release.wait(60)  # the client's deadline fires first
        (x,) = (tensors.to_ndarray(t) for t in request.inputs.values())
        units = 9 if self.mode == "wrong_shape" else 10
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = self.version + (self.mode == "wrong_version")
        tensors.fill_tensor_proto(response.outputs["probabilities"], np.full((len(x), units), 0.1, np.float32))
        return response

    def stop(self):
        self.release.set()
        self.server.stop(0)


@pytest.fixture(scope="module")
def faulty(model_repo):
    server = FaultyModelServer(model_repo.results["digits"].version)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(model_repo, faulty, tmp_path_factory):
    gw = Gateway(model_repo.models_dir, f"127.0.0.1:{faulty.port}", tmp_path_factory.mktemp("gw") / "log",
                 GATEWAY_DEADLINE_SECONDS="1.5", GATEWAY_READY_TIMEOUT_SECONDS="0.5",
                 GATEWAY_VERSION_TTL_SECONDS="0", GATEWAY_MODELS="digits")
    yield gw
    assert gw.stop() == 0


@pytest.fixture
def mode(faulty):
    def set_mode(value):
        faulty.mode = value
        faulty.release.clear()
    yield set_mode
    faulty.release.set()
    faulty.mode = "ok"


def predict(gateway, n=1):
    return requests.post(f"{gateway.url}/v1/models/digits:predict",
                         json={"instances": [[0] * 64] * n}, timeout=60)


def test_the_fake_answers_when_told_to(gateway, mode):
    mode("ok")
    assert predict(gateway).status_code == 200


def test_slow_backend_is_504_at_the_deadline(gateway, mode):
    mode("hang")
    response = predict(gateway)
    assert response.status_code == 504
    assert response.json() == {"error": "model server did not answer within 1.5 seconds"}


@pytest.mark.parametrize(
    "fault, message",
    [
        ("wrong_shape", "the model answered 'probabilities' of shape [2, 9]; expected [2, 10] for 10 labels"),
        ("wrong_version", "the backend answered with version"),
    ],
)
def test_nonsense_is_502(gateway, mode, fault, message):
    mode(fault)
    response = predict(gateway, n=2)
    assert response.status_code == 502
    assert message in response.json()["error"]


def test_readyz_answers_within_its_deadline_while_the_backend_hangs(gateway, mode):
    """The status call hangs until released; were /readyz unbounded it would wait for the
    gateway's 1.5 s gRPC deadline and report that instead of its own 0.5 s one."""
    mode("hang_status")
    response = requests.get(f"{gateway.url}/readyz", timeout=60)
    assert response.status_code == 503
    assert "digits: the backend did not answer within 0.5 s" in response.json()["error"]
    assert requests.get(f"{gateway.url}/healthz", timeout=60).status_code == 200


def test_backend_down_is_503_not_a_wait_for_the_deadline(model_repo, tmp_path):
    """Nothing listens on the backend port: the answer is 503 (unavailable), not the 504 a
    wait for the 30 s deadline would give."""
    gw = Gateway(model_repo.models_dir, f"127.0.0.1:{free_port()}", tmp_path / "log",
                 GATEWAY_DEADLINE_SECONDS="30")
    try:
        response = predict(gw)
        assert response.status_code == 503
        assert response.json() == {"error": "model server is unavailable"}
        ready = requests.get(f"{gw.url}/readyz", timeout=60)
        assert ready.status_code == 503 and "model server is unavailable" in ready.json()["error"]
    finally:
        assert gw.stop() == 0
