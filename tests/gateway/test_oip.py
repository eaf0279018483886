"""Open Inference Protocol codec: JSON and binary tensors in, probabilities and labels out."""

from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest

from serving.gateway import oip
from serving.gateway.errors import BadRequest
from serving.gateway.postprocess import decode
from tests.gateway import support

META = support.image_metadata()
ROW = list(range(64))


def tensor(**overrides):
    return {"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": ROW, **overrides}


def parse(doc, binary: bytes = b"", header: str | None = None):
    body = orjson.dumps(doc)
    if binary or header is not None:
        header = str(len(body)) if header is None else header
    return oip.parse_infer_request(body + binary, header, max_instances=8)


@pytest.mark.parametrize(
    "shape, data",
    [([1, 64], ROW), ([1, 8, 8, 1], np.reshape(ROW, (1, 8, 8, 1)).tolist()), ([1, 8, 8], ROW), ([2, 64], ROW * 2)],
)
def test_accepted_shapes_and_layouts(shape, data):
    request = parse({"inputs": [tensor(shape=shape, data=data)]})
    batch = oip.input_batch(request, META)
    assert batch.shape == (shape[0], 8, 8, 1)
    np.testing.assert_array_equal(batch[0].ravel(), ROW)


def test_binary_input_data():
    values = np.arange(128, dtype=np.float32).reshape(2, 64)
    doc = {"inputs": [tensor(shape=[2, 64], data=None) | {"parameters": {"binary_data_size": values.nbytes}}]}
    del doc["inputs"][0]["data"]
    request = parse(doc, values.tobytes())
    np.testing.assert_array_equal(oip.input_batch(request, META).reshape(2, 64), values)


@pytest.mark.parametrize("datatype, dtype", [("INT32", np.int32), ("UINT8", np.uint8), ("FP64", np.float64), ("FP16", np.float16)])
def test_other_numeric_datatypes(datatype, dtype):
    values = np.arange(64).astype(dtype)
    request = parse({"inputs": [tensor(datatype=datatype, data=values.tolist())]})
    np.testing.assert_array_equal(request.inputs[0].data.ravel(), values.astype(np.float64))


@pytest.mark.parametrize(
    "doc, binary, header, message",
    [
        ([1], b"", None, "expected a JSON object with \"inputs\""),
        ({"inputs": []}, b"", None, "inputs: expected a non-empty list"),
        ({"inputs": [tensor()], "bogus": 1}, b"", None, "unknown field 'bogus'"),
        ({"inputs": [tensor()], "id": 5}, b"", None, "id: expected a string"),
        ({"inputs": [5]}, b"", None, "inputs[0]: expected an object"),
        ({"inputs": [tensor(name="")]}, b"", None, "inputs[0].name: expected a non-empty string"),
        ({"inputs": [tensor(datatype="BYTES")]}, b"", None, "inputs[0].datatype: 'BYTES' is not supported"),
        ({"inputs": [tensor(datatype="BOOL")]}, b"", None, "'BOOL' is not supported"),
        ({"inputs": [tensor(shape=[1, -64])]}, b"", None, "inputs[0].shape: expected a list of non-negative integers"),
        ({"inputs": [tensor(shape="1x64")]}, b"", None, "inputs[0].shape"),
        ({"inputs": [tensor(shape=[9, 64], data=ROW * 9)]}, b"", None, "a batch of 9 is not between 1 and 8"),
        ({"inputs": [tensor(shape=[0, 64], data=[])]}, b"", None, "a batch of 0"),
        ({"inputs": [tensor(data=ROW[:-1])]}, b"", None, "inputs[0].data: shape [1, 64] needs 64 values, got 63"),
        ({"inputs": [tensor(data=ROW[:-1] + ["x"])]}, b"", None, "inputs[0].data[63]: expected a number, got a string"),
        ({"inputs": [tensor(data=ROW[:-1] + [True])]}, b"", None, "inputs[0].data[63]: expected a number, got a boolean"),
        ({"inputs": [tensor(data=ROW[:-1] + [1e39])]}, b"", None, "inputs[0].data[63]: 1e+39 is not a finite float32"),
        ({"inputs": [tensor(datatype="INT8", data=ROW[:-1] + [300])]}, b"", None, "inputs[0].data[63]: 300 is not a valid INT8 value"),
        ({"inputs": [tensor(datatype="INT32", data=ROW[:-1] + [1.5])]}, b"", None, "1.5 is not a valid INT32 value"),
        ({"inputs": [tensor(data=None)]}, b"", None, "inputs[0].data: expected a number, got null"),
        ({"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32"}]}, b"", None, "inputs[0]: missing data"),
        ({"inputs": [tensor()], "parameters": []}, b"", None, "parameters: expected an object"),
        ({"inputs": [tensor()], "parameters": {"binary_data_output": "yes"}}, b"", None, "binary_data_output: expected true or false"),
        ({"inputs": [tensor()], "outputs": [{"id": 1}]}, b"", None, "outputs[0]: expected an object with a name"),
        ({"inputs": [tensor()]}, b"", "abc", "Inference-Header-Content-Length: expected an integer"),
        ({"inputs": [tensor()]}, b"", "99999", "is not within the"),
        ({"inputs": [tensor()]}, b"\x00" * 4, None, "binary data: 4 bytes after the last input's data"),
        ({"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "parameters": {"binary_data_size": 256}}]},
         b"\x00" * 100, None, "the binary data ends before this input's 256 bytes"),
        ({"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "parameters": {"binary_data_size": 10}}]},
         b"\x00" * 10, None, "binary_data_size: expected 256 bytes"),
        ({"inputs": [tensor() | {"parameters": {"binary_data_size": 256}}]}, b"\x00" * 256, None, "not both"),
    ],
)
def test_bad_requests_name_the_field(doc, binary, header, message):
    with pytest.raises(BadRequest) as info:
        parse(doc, binary, header)
    assert message in info.value.message


def test_binary_nan_is_refused():
    values = np.zeros(64, np.float32)
    values[5] = np.nan
    doc = {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "parameters": {"binary_data_size": 256}}]}
    with pytest.raises(BadRequest, match=r"inputs\[0\]\.data\[5\]: nan is not a finite float32 value"):
        parse(doc, values.tobytes())


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"inputs": [tensor(name="features")]}, "inputs[0].name: expected 'pixels', got 'features'"),
        ({"inputs": [tensor(), tensor()]}, "inputs: this model takes exactly one input, 'pixels'"),
        ({"inputs": [tensor(shape=[2, 32], data=ROW)]}, "inputs[0].shape: expected [-1, 8, 8, 1] (or [-1, 64]), got [2, 32]"),
    ],
)
def test_requests_that_do_not_fit_the_model(doc, message):
    with pytest.raises(BadRequest) as info:
        oip.input_batch(parse(doc), META)
    assert info.value.message == message


def test_unknown_requested_output():
    request = parse({"inputs": [tensor()], "outputs": [{"name": "logits"}]})
    with pytest.raises(BadRequest, match="outputs\\[0\\].name: unknown output 'logits'"):
        oip.check_outputs(request, META)


def decoded_batch():
    probs = np.full((2, 10), 0.05, np.float32)
    probs[0, 3] = probs[1, 7] = 0.55
    return decode({"probabilities": probs}, META, 2)


def test_json_response():
    request = parse({"id": "r1", "inputs": [tensor(shape=[2, 64], data=ROW * 2)]})
    body, headers = oip.encode_response(request, "digits", 3, META, decoded_batch())
    assert headers == {}
    doc = orjson.loads(body)
    assert (doc["model_name"], doc["model_version"], doc["id"]) == ("digits", "3", "r1")
    probs, label = doc["outputs"]
    assert (probs["name"], probs["datatype"], probs["shape"]) == ("probabilities", "FP32", [2, 10])
    assert len(probs["data"]) == 20 and probs["data"][3] == pytest.approx(0.55)
    assert label == {"name": "label", "datatype": "BYTES", "shape": [2], "data": ["3", "7"]}


def test_binary_response_when_asked_for_every_output():
    request = parse({"inputs": [tensor(shape=[2, 64], data=ROW * 2)], "parameters": {"binary_data_output": True}})
    body, headers = oip.encode_response(request, "digits", 3, META, decoded_batch())
    size = int(headers[oip.HEADER_LENGTH])
    doc = orjson.loads(body[:size])
    probs_meta, label_meta = doc["outputs"]
    assert "data" not in probs_meta and probs_meta["parameters"] == {"binary_data_size": 80}
    blob = body[size:]
    probs = np.frombuffer(blob[:80], "<f4").reshape(2, 10)
    assert probs[1, 7] == np.float32(0.55)
    labels, rest = [], blob[80:]
    while rest:
        (n,) = struct.unpack("<I", rest[:4])
        labels.append(rest[4:4 + n].decode())
        rest = rest[4 + n:]
    assert labels == ["3", "7"] and label_meta["parameters"] == {"binary_data_size": len(blob) - 80}


def test_only_the_requested_outputs_in_the_requested_form():
    request = parse({"inputs": [tensor()], "outputs": [{"name": "label", "parameters": {"binary_data": False}}]})
    body, headers = oip.encode_response(request, "digits", 1, META, decode({"probabilities": np.eye(10, dtype=np.float32)[[4]]}, META, 1))
    assert headers == {}
    assert orjson.loads(body)["outputs"] == [{"name": "label", "datatype": "BYTES", "shape": [1], "data": ["4"]}]


def test_infer_over_http_answers_with_the_version(client):
    response = client.post("/v2/models/digits/infer", json={"inputs": [tensor()]})
    assert response.status_code == 200 and response.headers["X-Model-Version"] == "1"
    assert [o["name"] for o in response.get_json()["outputs"]] == ["probabilities", "label"]
    binary = client.post("/v2/models/digits/versions/1/infer", json={"inputs": [tensor()], "parameters": {"binary_data_output": True}})
    assert binary.mimetype == "application/octet-stream" and oip.HEADER_LENGTH in binary.headers


def test_infer_without_a_content_type_as_tritonclient_sends_it(client):
    response = client.post("/v2/models/digits/infer", data=orjson.dumps({"inputs": [tensor()]}))
    assert response.status_code == 200


def test_v2_model_metadata(client):
    doc = client.get("/v2/models/digits").get_json()
    assert doc == {
        "name": "digits",
        "versions": ["1"],
        "platform": "tensorflow_savedmodel",
        "inputs": [{"name": "pixels", "datatype": "FP32", "shape": [-1, 8, 8, 1]}],
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
        ],
    }
    assert client.get("/v2").get_json()["extensions"] == ["binary_tensor_data"]
