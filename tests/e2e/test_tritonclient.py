"""The Open Inference Protocol endpoints driven by a standard client, `tritonclient.http`,
used as its documentation shows (binary tensors by default, JSON when asked)."""

from __future__ import annotations

import numpy as np
import pytest
import requests
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


@pytest.fixture(scope="module")
def triton(url):
    client = httpclient.InferenceServerClient(url=url.removeprefix("http://"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def digits(model_repo):
    return model_repo.results["digits"]


def test_health_and_metadata(triton, digits):
    assert triton.is_server_live()
    assert triton.is_server_ready()
    assert triton.is_model_ready("digits")
    assert triton.is_model_ready("digits", str(digits.version))
    assert not triton.is_model_ready("no_such_model")
    server = triton.get_server_metadata()
    assert "binary_tensor_data" in server["extensions"]
    meta = triton.get_model_metadata("digits")
    assert meta["name"] == "digits" and str(digits.version) in meta["versions"]
    assert meta["inputs"] == [{"name": "pixels", "datatype": "FP32", "shape": [-1, 8, 8, 1]}]
    assert {o["name"] for o in meta["outputs"]} == {"probabilities", "label"}


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_unchanged_client(triton, url, digits, binary):
    x = digits.test_inputs[:5].astype(np.float32)
    inputs = [httpclient.InferInput("pixels", list(x.shape), "FP32")]
    inputs[0].set_data_from_numpy(x, binary_data=binary)
    outputs = None if binary else [
        httpclient.InferRequestedOutput("probabilities", binary_data=False),
        httpclient.InferRequestedOutput("label", binary_data=False),
    ]
    result = triton.infer("digits", inputs, outputs=outputs, request_id="req-7")
    probs = result.as_numpy("probabilities")
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
    np.testing.assert_allclose(probs, digits.test_probabilities[:5], atol=1e-5)
    v1 = requests.post(f"{url}/v1/models/digits:predict", json={"instances": x.tolist()}, timeout=30).json()
    assert labels == [p["label"] for p in v1["predictions"]]
    response = result.get_response()
    assert response["model_name"] == "digits" and response["model_version"] == str(digits.version)
    assert response["id"] == "req-7"


def test_infer_a_pinned_version_and_one_output(triton, digits):
    x = digits.test_inputs[:2].astype(np.float32).reshape(2, 64)
    inputs = [httpclient.InferInput("pixels", [2, 64], "FP32")]
    inputs[0].set_data_from_numpy(x)
    result = triton.infer("digits", inputs, model_version=str(digits.version),
                          outputs=[httpclient.InferRequestedOutput("label")])
    assert result.as_numpy("probabilities") is None
    assert len(result.as_numpy("label")) == 2


def test_errors_reach_the_client_as_messages(triton):
    inputs = [httpclient.InferInput("pixels", [1, 63], "FP32")]
    inputs[0].set_data_from_numpy(np.zeros((1, 63), np.float32))
    with pytest.raises(InferenceServerException) as info:
        triton.infer("digits", inputs)
    assert info.value.status() == "400"
    assert "inputs[0].shape: expected [-1, 8, 8, 1] (or [-1, 64]), got [1, 63]" in info.value.message()
