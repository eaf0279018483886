"""Our generated messages are TF Serving's on the wire: bytes written by one side parse on
the other into equal messages, tensors decode to the same arrays, and the official
tensorflow-serving-api stubs talk to our model server unchanged."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2 as tf_tensor_pb2
from tensorflow_serving.apis import get_model_metadata_pb2 as off_metadata
from tensorflow_serving.apis import get_model_status_pb2 as off_status
from tensorflow_serving.apis import model_service_pb2_grpc as off_model_service
from tensorflow_serving.apis import predict_pb2 as off_predict
from tensorflow_serving.apis import prediction_log_pb2 as off_log
from tensorflow_serving.apis import prediction_service_pb2_grpc as off_prediction_service

from protogen.tfserving import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    meta_graph_pb2,
    predict_pb2,
    prediction_log_pb2,
    tensor_pb2,
)
from serving.gateway import tensors

ARRAYS = {
    "float32": np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7,
    "float64": np.linspace(-1, 1, 6).reshape(3, 2),
    "int32": np.array([[-(2**31), 0, 2**31 - 1]], dtype=np.int32),
    "int64": np.array([-(2**63), 1, 2**63 - 1], dtype=np.int64),
    "uint8": np.arange(256, dtype=np.uint8).reshape(16, 16),
    "bool": np.array([[True, False], [False, True]]),
    "string": np.array([[b"a", b""], [b"\xff\x00", "é".encode()]], dtype=object),
    "empty": np.zeros((0, 4), np.float32),
    "scalar": np.array(3.5, np.float32),
}


def roundtrip(ours, official_class):
    """ours → bytes → official → bytes → ours; returns (official message, ours again)."""
    theirs = official_class.FromString(ours.SerializeToString())
    back = type(ours).FromString(theirs.SerializeToString())
    return theirs, back


@pytest.mark.parametrize("key", ARRAYS)
def test_our_tensors_decode_with_tf_make_ndarray(key):
    array = ARRAYS[key]
    proto = tensors.to_tensor_proto(array)
    official = tf.make_ndarray(tf_tensor_pb2.TensorProto.FromString(proto.SerializeToString()))
    assert official.dtype == array.dtype
    np.testing.assert_array_equal(official, array)


@pytest.mark.parametrize("key", ARRAYS)
def test_tf_make_tensor_proto_decodes_with_ours(key):
    array = ARRAYS[key]
    official = tf.make_tensor_proto(array)
    ours = tensor_pb2.TensorProto.FromString(official.SerializeToString())
    decoded = tensors.to_ndarray(ours)
    assert decoded.dtype == array.dtype
    np.testing.assert_array_equal(decoded, array)


@pytest.mark.parametrize(
    "values, dtype",
    [([1.5, 2.5], tf.float32), ([1, 2], tf.int64), ([True], tf.bool), ([7], tf.uint8), ([0.25], tf.float16), ([3], tf.int8)],
)
def test_repeated_val_fields_from_tensorflow_decode_with_ours(values, dtype):
    """TF Serving answers in the *_val fields by default (AsProtoField), and repeats
    the last value to fill the shape: decoding follows TensorFlow's own rules."""
    official = tf.make_tensor_proto(values, dtype=dtype, shape=[2, 2])
    ours = tensor_pb2.TensorProto.FromString(official.SerializeToString())
    np.testing.assert_array_equal(tensors.to_ndarray(ours), tf.make_ndarray(official))


def test_predict_request_roundtrip():
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.model_spec.version.value = 3
    request.model_spec.signature_name = "serving_default"
    request.output_filter.append("probabilities")
    tensors.fill_tensor_proto(request.inputs["pixels"], ARRAYS["float32"])
    theirs, back = roundtrip(request, off_predict.PredictRequest)

    expected = off_predict.PredictRequest()
    expected.model_spec.name = "digits"
    expected.model_spec.version.value = 3
    expected.model_spec.signature_name = "serving_default"
    expected.output_filter.append("probabilities")
    expected.inputs["pixels"].CopyFrom(tf.make_tensor_proto(ARRAYS["float32"]))
    assert theirs == expected
    assert back == request
    np.testing.assert_array_equal(tf.make_ndarray(theirs.inputs["pixels"]), ARRAYS["float32"])


def test_predict_request_with_version_label_roundtrip():
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.model_spec.version_label = "canary"
    theirs, back = roundtrip(request, off_predict.PredictRequest)
    assert theirs.model_spec.WhichOneof("version_choice") == "version_label"
    assert theirs.model_spec.version_label == "canary"
    assert back == request


def test_predict_response_roundtrip():
    response = predict_pb2.PredictResponse()
    response.model_spec.name = "digits"
    response.model_spec.version.value = 7
    response.model_spec.signature_name = "serving_default"
    tensors.fill_tensor_proto(response.outputs["probabilities"], ARRAYS["float64"].astype(np.float32))
    theirs, back = roundtrip(response, off_predict.PredictResponse)
    assert theirs.model_spec.version.value == 7
    np.testing.assert_array_equal(
        tf.make_ndarray(theirs.outputs["probabilities"]), ARRAYS["float64"].astype(np.float32)
    )
    assert back == response


def test_get_model_status_response_roundtrip():
    response = get_model_status_pb2.GetModelStatusResponse()
    states = get_model_status_pb2.ModelVersionStatus
    for version, state, code, message in [(1, states.END, 0, ""), (2, states.AVAILABLE, 0, ""), (3, states.END, 3, "bad")]:
        item = response.model_version_status.add(version=version, state=state)
        item.status.error_code = code
        item.status.error_message = message
    theirs, back = roundtrip(response, off_status.GetModelStatusResponse)
    assert [(s.version, off_status.ModelVersionStatus.State.Name(s.state)) for s in theirs.model_version_status] == [
        (1, "END"), (2, "AVAILABLE"), (3, "END")
    ]
    assert theirs.model_version_status[2].status.error_message == "bad"
    assert back == response


def test_get_model_metadata_response_roundtrip():
    signature = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    info = signature.inputs["pixels"]
    info.name = "serving_default_pixels:0"
    info.dtype = 1
    for size in (-1, 8, 8, 1):
        info.tensor_shape.dim.add(size=size)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    signature_map.signature_def["serving_default"].CopyFrom(signature)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = "digits"
    response.model_spec.version.value = 2
    response.metadata["signature_def"].Pack(signature_map)

    theirs, back = roundtrip(response, off_metadata.GetModelMetadataResponse)
    unpacked = off_metadata.SignatureDefMap()
    assert theirs.metadata["signature_def"].Unpack(unpacked)
    tensor_info = unpacked.signature_def["serving_default"].inputs["pixels"]
    assert tensor_info.name == "serving_default_pixels:0"
    assert [d.size for d in tensor_info.tensor_shape.dim] == [-1, 8, 8, 1]
    assert back == response


def test_official_warmup_records_parse_as_ours():
    request = off_predict.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(ARRAYS["float32"]))
    record = off_log.PredictionLog(predict_log=off_log.PredictLog(request=request)).SerializeToString()
    ours = prediction_log_pb2.PredictionLog.FromString(record)
    assert ours.WhichOneof("log_type") == "predict_log"
    np.testing.assert_array_equal(tensors.to_ndarray(ours.predict_log.request.inputs["pixels"]), ARRAYS["float32"])


# -- the official stubs against our model server -----------------------------------------


@pytest.fixture(scope="module")
def channel(address):
    with grpc.insecure_channel(address) as channel:
        yield channel


def test_official_prediction_stub_predicts(channel, model_repo):
    result = model_repo.results["digits"]
    stub = off_prediction_service.PredictionServiceStub(channel)
    metadata_request = off_metadata.GetModelMetadataRequest(metadata_field=["signature_def"])
    metadata_request.model_spec.name = "digits"
    metadata = stub.GetModelMetadata(metadata_request, timeout=30)
    signature_map = off_metadata.SignatureDefMap()
    assert metadata.metadata["signature_def"].Unpack(signature_map)
    serving = signature_map.signature_def["serving_default"]
    (name, info), = serving.inputs.items()
    shape = [3 if d.size == -1 else d.size for d in info.tensor_shape.dim]

    request = off_predict.PredictRequest()
    request.model_spec.name = "digits"
    request.model_spec.signature_name = "serving_default"
    request.inputs[name].CopyFrom(tf.make_tensor_proto(np.random.default_rng(1).random(shape, np.float32)))
    response = stub.Predict(request, timeout=30)
    assert response.model_spec.version.value == result.version
    probabilities = tf.make_ndarray(response.outputs["probabilities"])
    assert probabilities.shape[0] == 3
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_official_model_stub_reports_status(channel, model_repo):
    stub = off_model_service.ModelServiceStub(channel)
    request = off_status.GetModelStatusRequest()
    request.model_spec.name = "breast_cancer"
    response = stub.GetModelStatus(request, timeout=30)
    (status,) = response.model_version_status
    assert status.version == model_repo.results["breast_cancer"].version
    assert status.state == off_status.ModelVersionStatus.AVAILABLE


def test_official_stub_sees_tf_serving_error_codes(channel):
    stub = off_prediction_service.PredictionServiceStub(channel)
    request = off_predict.PredictRequest()
    request.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "Servable not found for request: Latest(nope)"
