"""The gRPC API of the local model server, over real sockets: answers, and every status
code TF Serving would send, with messages that name what is wrong."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from protogen.tfserving import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    types_pb2,
)
from serving.gateway import tensors
from serving.model_server.servable import read_signature_defs

CODE = grpc.StatusCode


@pytest.fixture(scope="module")
def stubs(address):
    channel = grpc.insecure_channel(address)
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()


@pytest.fixture(scope="module")
def digits(model_repo):
    """(version, input name, instance shape, classes) of the trained digits model."""
    result = model_repo.results["digits"]
    signature = read_signature_defs(result.version_dir)["serving_default"]
    (name, info), = signature.inputs.items()
    shape = tuple(d.size for d in info.tensor_shape.dim)[1:]
    classes = signature.outputs["probabilities"].tensor_shape.dim[1].size
    return result.version, name, shape, classes


def predict_request(model="digits", inputs=None, version=None, label=None, signature=None):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    if signature is not None:
        request.model_spec.signature_name = signature
    for key, array in (inputs or {}).items():
        tensors.fill_tensor_proto(request.inputs[key], array)
    return request


def rpc_error(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    return info.value


def batch(digits, n=3, dtype=np.float32):
    _, name, shape, _ = digits
    rng = np.random.default_rng(0)
    return {name: rng.random((n, *shape)).astype(dtype)}


# -- Predict -------------------------------------------------------------------------


def test_predict_answers_probabilities_and_the_version_that_ran(stubs, digits):
    version, _, _, classes = digits
    response = stubs[0].Predict(predict_request(inputs=batch(digits, 5)), timeout=30)
    assert response.model_spec.name == "digits"
    assert response.model_spec.version.value == version
    assert response.model_spec.signature_name == "serving_default"
    probabilities = tensors.to_ndarray(response.outputs["probabilities"])
    assert probabilities.shape == (5, classes)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_predict_matches_the_savedmodel_run_in_process(stubs, digits, model_repo):
    import tensorflow as tf

    inputs = batch(digits, 4)
    response = stubs[0].Predict(predict_request(inputs=inputs), timeout=30)
    served = tensors.to_ndarray(response.outputs["probabilities"])
    loaded = tf.saved_model.load(str(model_repo.results["digits"].version_dir))
    (name, array), = inputs.items()
    expected = loaded.signatures["serving_default"](**{name: tf.constant(array)})["probabilities"]
    np.testing.assert_allclose(served, expected.numpy(), rtol=1e-6, atol=1e-7)


def test_predict_honours_version_and_explicit_default_signature(stubs, digits):
    version = digits[0]
    request = predict_request(inputs=batch(digits), version=version, signature="serving_default")
    response = stubs[0].Predict(request, timeout=30)
    assert response.model_spec.version.value == version


def test_predict_output_filter(stubs, digits):
    request = predict_request(inputs=batch(digits))
    request.output_filter.append("probabilities")
    response = stubs[0].Predict(request, timeout=30)
    assert list(response.outputs) == ["probabilities"]


def test_predict_accepts_an_empty_batch(stubs, digits):
    response = stubs[0].Predict(predict_request(inputs=batch(digits, 0)), timeout=30)
    assert tensors.to_ndarray(response.outputs["probabilities"]).shape == (0, digits[3])


def test_predict_accepts_repeated_float_val_inputs(stubs, digits):
    _, name, shape, _ = digits
    request = predict_request()
    proto = request.inputs[name]
    proto.dtype = types_pb2.DT_FLOAT
    for size in (2, *shape):
        proto.tensor_shape.dim.add(size=size)
    proto.float_val.extend([0.5] * (2 * math.prod(shape)))
    response = stubs[0].Predict(request, timeout=30)
    assert tensors.to_ndarray(response.outputs["probabilities"]).shape[0] == 2


def test_concurrent_predicts_all_succeed(stubs, digits):
    def one(i):
        response = stubs[0].Predict(predict_request(inputs=batch(digits, 1 + i % 4)), timeout=60)
        return tensors.to_ndarray(response.outputs["probabilities"]).shape[0]

    with ThreadPoolExecutor(8) as pool:
        sizes = list(pool.map(one, range(40)))
    assert sizes == [1 + i % 4 for i in range(40)]


@pytest.mark.parametrize(
    "make, code, fragments",
    [
        (lambda d: predict_request("nope", batch(d)), CODE.NOT_FOUND, ["Servable not found for request: Latest(nope)"]),
        (lambda d: predict_request(inputs=batch(d), version=999), CODE.NOT_FOUND, ["Specific(digits, 999)"]),
        (lambda d: predict_request(inputs=batch(d), label="canary"), CODE.INVALID_ARGUMENT, ["Unrecognized servable version label: canary"]),
        (lambda d: predict_request("", batch(d)), CODE.INVALID_ARGUMENT, ["ModelSpec has no name specified."]),
        (lambda d: predict_request(inputs=batch(d), signature="nope"), CODE.FAILED_PRECONDITION, ['Serving signature key "nope" not found.']),
        (lambda d: predict_request(inputs=batch(d), signature="__saved_model_init_op"), CODE.INTERNAL, ["Expected prediction signature method_name"]),
        (lambda d: predict_request(inputs={}), CODE.INVALID_ARGUMENT, ["input size does not match signature", "Missing but required: {<input>}"]),
        (lambda d: predict_request(inputs={**batch(d), "extra": np.zeros(3, np.float32)}), CODE.INVALID_ARGUMENT, ["Sent extra: {extra}"]),
        (lambda d: predict_request(inputs={"wrong": batch(d)[d[1]]}), CODE.INVALID_ARGUMENT, ["Sent extra: {wrong}", "Missing but required: {<input>}"]),
        (lambda d: predict_request(inputs=batch(d, dtype=np.float64)), CODE.INVALID_ARGUMENT, ["input '<input>'", "DT_DOUBLE", "DT_FLOAT"]),
        (lambda d: predict_request(inputs={d[1]: np.zeros((2, 5), np.float32)}), CODE.INVALID_ARGUMENT, ["input '<input>' has shape [2, 5]"]),
        (lambda d: predict_request(inputs={d[1]: np.zeros((2, *d[2], 1), np.float32)}), CODE.INVALID_ARGUMENT, ["input '<input>' has shape"]),
    ],
    ids=[
        "unknown-model", "unknown-version", "unknown-label", "no-model-name", "unknown-signature",
        "not-a-predict-signature", "missing-input", "extra-input", "misnamed-input", "wrong-dtype",
        "wrong-shape", "wrong-rank",
    ],
)
def test_predict_errors(stubs, digits, make, code, fragments):
    error = rpc_error(stubs[0].Predict, make(digits))
    assert error.code() == code
    for fragment in fragments:
        assert fragment.replace("<input>", digits[1]) in error.details()


def test_predict_tensor_content_of_the_wrong_size_is_a_parsing_error(stubs, digits):
    request = predict_request(inputs=batch(digits))
    name = digits[1]
    request.inputs[name].tensor_content = request.inputs[name].tensor_content[:-4]
    error = rpc_error(stubs[0].Predict, request)
    assert error.code() == CODE.INVALID_ARGUMENT
    assert f"tensor parsing error: {name}" in error.details()


@pytest.mark.parametrize(
    "filters, fragment",
    [(["nope"], "output tensor alias not found in signature: nope"), (["probabilities"] * 2, "duplicate output tensor alias: probabilities")],
)
def test_predict_bad_output_filter(stubs, digits, filters, fragment):
    request = predict_request(inputs=batch(digits))
    request.output_filter.extend(filters)
    error = rpc_error(stubs[0].Predict, request)
    assert error.code() == CODE.INVALID_ARGUMENT
    assert fragment in error.details()


# -- GetModelMetadata ------------------------------------------------------------------


def metadata_request(model="digits", fields=("signature_def",), version=None):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    request.metadata_field.extend(fields)
    return request


def test_metadata_returns_the_signature_def_map_like_tf_serving(stubs, digits):
    version, name, shape, classes = digits
    response = stubs[0].GetModelMetadata(metadata_request(version=version), timeout=30)
    assert response.model_spec.name == "digits"
    assert response.model_spec.version.value == version
    assert response.metadata["signature_def"].type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    # Like TF Serving: every SignatureDef of the MetaGraph, Keras' init op included.
    assert set(signature_map.signature_def) == {"serving_default", "__saved_model_init_op"}
    serving = signature_map.signature_def["serving_default"]
    assert serving.method_name == "tensorflow/serving/predict"
    assert list(serving.inputs) == [name]
    info = serving.inputs[name]
    assert info.name == f"serving_default_{name}:0"
    assert info.dtype == types_pb2.DT_FLOAT
    assert [d.size for d in info.tensor_shape.dim] == [-1, *shape]
    out = serving.outputs["probabilities"]
    assert out.dtype == types_pb2.DT_FLOAT
    assert [d.size for d in out.tensor_shape.dim] == [-1, classes]


@pytest.mark.parametrize(
    "request_, code, fragment",
    [
        (metadata_request(fields=()), CODE.INVALID_ARGUMENT, "must specify at least one metadata_field"),
        (metadata_request(fields=("signature_def", "labels")), CODE.INVALID_ARGUMENT, "Metadata field labels is not supported"),
        (get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"]), CODE.INVALID_ARGUMENT, "Missing ModelSpec"),
        (metadata_request("nope"), CODE.NOT_FOUND, "Servable not found for request: Latest(nope)"),
        (metadata_request(version=999), CODE.NOT_FOUND, "Specific(digits, 999)"),
    ],
    ids=["no-field", "unknown-field", "no-model-spec", "unknown-model", "unknown-version"],
)
def test_metadata_errors(stubs, request_, code, fragment):
    error = rpc_error(stubs[0].GetModelMetadata, request_)
    assert error.code() == code
    assert fragment in error.details()


# -- GetModelStatus --------------------------------------------------------------------


def status_request(model="digits", version=None):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    return request


def test_status_reports_every_version(stubs, model_repo):
    for name, result in model_repo.results.items():
        response = stubs[1].GetModelStatus(status_request(name), timeout=30)
        (status,) = response.model_version_status
        assert status.version == result.version
        assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
        assert status.status.error_code == 0 and status.status.error_message == ""


def test_status_of_one_version(stubs, digits):
    response = stubs[1].GetModelStatus(status_request(version=digits[0]), timeout=30)
    assert [s.version for s in response.model_version_status] == [digits[0]]


@pytest.mark.parametrize(
    "request_, code, fragment",
    [
        (status_request("nope"), CODE.NOT_FOUND, "Could not find any versions of model nope"),
        (status_request(version=999), CODE.NOT_FOUND, "Could not find version 999 of model digits"),
        (get_model_status_pb2.GetModelStatusRequest(), CODE.INVALID_ARGUMENT, "Missing ModelSpec"),
    ],
    ids=["unknown-model", "unknown-version", "no-model-spec"],
)
def test_status_errors(stubs, request_, code, fragment):
    error = rpc_error(stubs[1].GetModelStatus, request_)
    assert error.code() == code
    assert fragment in error.details()
