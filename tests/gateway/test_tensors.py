"""numpy <-> TensorProto without TensorFlow: tensor_content for numbers, string_val for
strings, the repeated *_val fields decoded with TensorFlow's rules, and clear errors.
(Agreement with TensorFlow's own make_ndarray/make_tensor_proto: tests/protos.)"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from protogen.tfserving import tensor_pb2, types_pb2
from serving.gateway import tensors
from serving.gateway.tensors import TensorError

NUMERIC = {
    "float32": types_pb2.DT_FLOAT,
    "float64": types_pb2.DT_DOUBLE,
    "int32": types_pb2.DT_INT32,
    "int64": types_pb2.DT_INT64,
    "uint8": types_pb2.DT_UINT8,
    "bool": types_pb2.DT_BOOL,
}


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (2, 0, 4), (1, 8, 8, 1)])
def test_numeric_arrays_travel_as_tensor_content(dtype, shape):
    array = (np.arange(int(np.prod(shape))) % 7).astype(dtype).reshape(shape)
    proto = tensors.to_tensor_proto(array)
    assert proto.dtype == NUMERIC[dtype]
    assert [d.size for d in proto.tensor_shape.dim] == list(shape)
    assert proto.tensor_content == array.astype(np.dtype(dtype).newbyteorder("<")).tobytes()
    assert not proto.float_val and not proto.int_val and not proto.int64_val
    decoded = tensors.to_ndarray(proto)
    assert decoded.dtype == np.dtype(dtype) and decoded.shape == shape
    np.testing.assert_array_equal(decoded, array)


def test_the_byte_layout_is_little_endian_row_major():
    proto = tensors.to_tensor_proto(np.array([[1.0, 2.0]], dtype=">f4"))  # big-endian input
    assert proto.tensor_content == b"\x00\x00\x80?\x00\x00\x00@"
    transposed = np.arange(6, dtype=np.int32).reshape(2, 3).T  # not C-contiguous
    np.testing.assert_array_equal(tensors.to_ndarray(tensors.to_tensor_proto(transposed)), transposed)


@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_]),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
    )
)
def test_any_numeric_array_round_trips(array):
    decoded = tensors.to_ndarray(tensors.to_tensor_proto(array))
    assert decoded.dtype == array.dtype and decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)  # NaNs compare equal here


def test_strings_travel_as_string_val():
    array = np.array([["a", "é"], ["", "z"]])
    proto = tensors.to_tensor_proto(array)
    assert proto.dtype == types_pb2.DT_STRING
    assert list(proto.string_val) == [b"a", "é".encode(), b"", b"z"]
    assert not proto.tensor_content
    decoded = tensors.to_ndarray(proto)
    assert decoded.dtype == object and decoded.shape == (2, 2)
    assert decoded[0, 1] == "é".encode()
    assert list(tensors.to_ndarray(tensors.to_tensor_proto([b"\x00\xff"]))) == [b"\x00\xff"]


def test_fill_tensor_proto_writes_into_a_map_entry():
    from protogen.tfserving import predict_pb2

    request = predict_pb2.PredictRequest()
    returned = tensors.fill_tensor_proto(request.inputs["x"], np.ones((2, 2), np.float32))
    assert returned is request.inputs["x"]
    assert len(request.inputs["x"].tensor_content) == 16


def val_proto(dtype, shape, field, values):
    proto = tensor_pb2.TensorProto(dtype=dtype)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    getattr(proto, field).extend(values)
    return proto


@pytest.mark.parametrize(
    "dtype, field, values, expected_dtype",
    [
        (types_pb2.DT_FLOAT, "float_val", [1.5, -2.0, 3.25, 0.0], np.float32),
        (types_pb2.DT_DOUBLE, "double_val", [1e300, -1e-300, 2.0, 0.5], np.float64),
        (types_pb2.DT_INT32, "int_val", [-5, 0, 7, 2**31 - 1], np.int32),
        (types_pb2.DT_INT64, "int64_val", [-(2**63), 0, 1, 2**63 - 1], np.int64),
        (types_pb2.DT_UINT8, "int_val", [0, 1, 128, 255], np.uint8),
        (types_pb2.DT_INT8, "int_val", [-128, 0, 1, 127], np.int8),
        (types_pb2.DT_INT16, "int_val", [-3, 0, 1, 300], np.int16),
        (types_pb2.DT_UINT16, "int_val", [0, 1, 2, 65535], np.uint16),
        (types_pb2.DT_BOOL, "bool_val", [True, False, True, True], np.bool_),
        (types_pb2.DT_UINT32, "uint32_val", [0, 1, 2, 2**32 - 1], np.uint32),
        (types_pb2.DT_UINT64, "uint64_val", [0, 1, 2, 2**64 - 1], np.uint64),
    ],
)
def test_repeated_val_fields_decode(dtype, field, values, expected_dtype):
    decoded = tensors.to_ndarray(val_proto(dtype, (2, 2), field, values))
    assert decoded.dtype == expected_dtype
    np.testing.assert_array_equal(decoded, np.array(values, dtype=expected_dtype).reshape(2, 2))


def test_half_val_holds_float16_bit_patterns():
    bits = np.array([1.0, -2.5], dtype=np.float16).view(np.uint16).tolist()
    decoded = tensors.to_ndarray(val_proto(types_pb2.DT_HALF, (2,), "half_val", bits))
    np.testing.assert_array_equal(decoded, np.array([1.0, -2.5], np.float16))


def test_short_val_fields_follow_tensorflow_fill_rules():
    one = tensors.to_ndarray(val_proto(types_pb2.DT_FLOAT, (2, 3), "float_val", [7.0]))
    np.testing.assert_array_equal(one, np.full((2, 3), 7.0, np.float32))
    fewer = tensors.to_ndarray(val_proto(types_pb2.DT_INT64, (4,), "int64_val", [1, 2]))
    np.testing.assert_array_equal(fewer, [1, 2, 2, 2])
    none = tensors.to_ndarray(val_proto(types_pb2.DT_DOUBLE, (2,), "double_val", []))
    np.testing.assert_array_equal(none, [0.0, 0.0])
    strings = tensors.to_ndarray(val_proto(types_pb2.DT_STRING, (3,), "string_val", []))
    assert list(strings) == [b"", b"", b""]


def test_copy_false_is_a_read_only_view():
    proto = tensors.to_tensor_proto(np.ones(3, np.float32))
    view = tensors.to_ndarray(proto, copy=False)
    assert not view.flags.writeable
    assert tensors.to_ndarray(proto).flags.writeable


@pytest.mark.parametrize(
    "proto, fragment",
    [
        (val_proto(types_pb2.DT_FLOAT, (2,), "float_val", [1, 2, 3]), "3 values, shape [2] holds 2"),
        (tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=b"\x00" * 7), "needs 4"),
        (tensor_pb2.TensorProto(dtype=types_pb2.DT_BFLOAT16), "unsupported tensor dtype DT_BFLOAT16"),
        (tensor_pb2.TensorProto(dtype=types_pb2.DT_COMPLEX64), "unsupported tensor dtype DT_COMPLEX64"),
        (tensor_pb2.TensorProto(dtype=99), "unsupported tensor dtype DT_99"),
        (val_proto(types_pb2.DT_FLOAT, (-1, 2), "float_val", []), "negative dimension"),
        (tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape={"unknown_rank": True}), "unknown rank"),
    ],
    ids=["too-many-values", "content-size", "bfloat16", "complex", "unknown-enum", "negative-dim", "unknown-rank"],
)
def test_undecodable_tensors_raise_tensor_error(proto, fragment):
    with pytest.raises(TensorError) as info:
        tensors.to_ndarray(proto)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "array, fragment",
    [
        (np.array([1 + 2j]), "unsupported array dtype complex128"),
        (np.array(["2024-01-01"], dtype="datetime64[D]"), "unsupported array dtype datetime64"),
        (np.array([1, "a"], dtype=object), "str or bytes, not int"),
    ],
)
def test_unencodable_arrays_raise_tensor_error(array, fragment):
    with pytest.raises(TensorError) as info:
        tensors.to_tensor_proto(array)
    assert fragment in str(info.value)


def test_dtype_helpers():
    assert tensors.data_type(np.float32) == types_pb2.DT_FLOAT
    assert tensors.data_type("U3") == types_pb2.DT_STRING
    assert tensors.numpy_dtype(types_pb2.DT_STRING) == np.dtype(object)
    assert tensors.dtype_name(types_pb2.DT_FLOAT) == "DT_FLOAT"
