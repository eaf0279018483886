"""numpy arrays <-> `tensorflow.TensorProto` (our generated copy), without TensorFlow.

Numeric arrays travel as `tensor_content`: the row-major little-endian bytes of the whole
array, one memory copy each way and no per-element Python work. Strings travel in
`string_val` (TensorFlow has no byte layout for them). Decoding also accepts the repeated
`*_val` fields, because TF Serving answers that way by default (`AsProtoField`), with
TensorFlow's rules: no values means zeros, fewer values than elements repeat the last one.

The same codec is used by the gateway's gRPC client and by the local model server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from protogen.tfserving import tensor_pb2, types_pb2

DataType = types_pb2.DataType


class TensorError(ValueError):
    """A tensor cannot be encoded or decoded (unsupported dtype, size mismatch, bad shape)."""


# DataType <-> numpy dtype for the types that have a fixed-size byte layout.
_NUMPY_BY_DTYPE: dict[int, np.dtype] = {
    types_pb2.DT_FLOAT: np.dtype("<f4"),
    types_pb2.DT_DOUBLE: np.dtype("<f8"),
    types_pb2.DT_INT32: np.dtype("<i4"),
    types_pb2.DT_UINT8: np.dtype("u1"),
    types_pb2.DT_INT16: np.dtype("<i2"),
    types_pb2.DT_INT8: np.dtype("i1"),
    types_pb2.DT_INT64: np.dtype("<i8"),
    types_pb2.DT_BOOL: np.dtype("?"),
    types_pb2.DT_UINT16: np.dtype("<u2"),
    types_pb2.DT_HALF: np.dtype("<f2"),
    types_pb2.DT_UINT32: np.dtype("<u4"),
    types_pb2.DT_UINT64: np.dtype("<u8"),
}
_DTYPE_BY_KIND: dict[tuple[str, int], int] = {
    (np_dtype.kind, np_dtype.itemsize): dt for dt, np_dtype in _NUMPY_BY_DTYPE.items()
}
# The hot path's lookups, done once: the wire dtypes themselves and their native order.
_DTYPE_BY_NUMPY: dict[np.dtype, int] = {
    np_dtype: dt for dt, np_dtype in _NUMPY_BY_DTYPE.items() if np_dtype.isnative
}
_NATIVE_BY_DTYPE: dict[int, np.dtype] = {
    dt: np_dtype.newbyteorder("=") for dt, np_dtype in _NUMPY_BY_DTYPE.items()
}

# Which repeated field carries the values of each DataType (TensorFlow's choice).
_VAL_FIELD: dict[int, str] = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
}


def dtype_name(dtype: int) -> str:
    """The DataType's proto name, e.g. "DT_FLOAT" (or "DT_<n>" for one we do not know)."""
    try:
        return DataType.Name(dtype)
    except ValueError:
        return f"DT_{dtype}"


def numpy_dtype(dtype: int) -> np.dtype:
    """The numpy dtype of a DataType (object for DT_STRING); TensorError if unsupported."""
    if dtype == types_pb2.DT_STRING:
        return np.dtype(object)
    try:
        return _NUMPY_BY_DTYPE[dtype]
    except KeyError:
        raise TensorError(f"unsupported tensor dtype {dtype_name(dtype)}") from None


def data_type(np_dtype: np.dtype | type | str) -> int:
    """The DataType of a numpy dtype: str/bytes/object arrays are DT_STRING."""
    np_dtype = np.dtype(np_dtype)
    if np_dtype.kind in "SUO":
        return types_pb2.DT_STRING
    try:
        return _DTYPE_BY_KIND[(np_dtype.kind, np_dtype.itemsize)]
    except KeyError:
        raise TensorError(f"unsupported array dtype {np_dtype}") from None


def shape_of(proto: tensor_pb2.TensorProto) -> tuple[int, ...]:
    """The tensor's shape; TensorError if it is unknown-rank or has a negative dimension."""
    shape = proto.tensor_shape
    if shape.unknown_rank:
        raise TensorError("tensor has unknown rank")
    dims = tuple([d.size for d in shape.dim])
    if dims and min(dims) < 0:
        raise TensorError(f"tensor shape {list(dims)} has a negative dimension")
    return dims


def fill_tensor_proto(proto: tensor_pb2.TensorProto, array: np.ndarray | Sequence) -> tensor_pb2.TensorProto:
    """Write `array` into `proto` (e.g. `request.inputs["pixels"]`, no extra copy); return it."""
    array = np.asarray(array)
    dt = _DTYPE_BY_NUMPY.get(array.dtype)
    if dt is None:
        dt = data_type(array.dtype)
    proto.dtype = dt
    dims = proto.tensor_shape.dim
    for d in array.shape:  # add() per dimension: no Dim message built and copied
        dims.add(size=d)
    if dt == types_pb2.DT_STRING:
        proto.string_val.extend(_as_bytes(v) for v in array.reshape(-1).tolist())
    else:
        wire = _NUMPY_BY_DTYPE[dt]
        # tobytes() writes row-major order whatever the strides: one copy.
        proto.tensor_content = (array if array.dtype == wire else array.astype(wire)).tobytes()
    return proto


def to_tensor_proto(array: np.ndarray | Sequence) -> tensor_pb2.TensorProto:
    """A new TensorProto holding `array` (tensor_content for numbers, string_val for strings)."""
    return fill_tensor_proto(tensor_pb2.TensorProto(), array)


def to_ndarray(proto: tensor_pb2.TensorProto, *, copy: bool = True) -> np.ndarray:
    """The array a TensorProto holds, from tensor_content or the repeated value fields.

    With copy=False a tensor_content array is a read-only view of the message's bytes.
    Raises TensorError when the dtype is unsupported or the values do not fit the shape.
    """
    dt = proto.dtype
    np_dtype = numpy_dtype(dt)
    shape = shape_of(proto)
    count = math.prod(shape)
    if dt == types_pb2.DT_STRING:
        values = np.empty(len(proto.string_val), dtype=object)
        values[:] = list(proto.string_val)
        return _fit(values, shape, count, np_dtype)
    content = proto.tensor_content
    if content:
        if len(content) != count * np_dtype.itemsize:
            raise TensorError(
                f"tensor_content has {len(content)} bytes, shape {list(shape)} of "
                f"{dtype_name(dt)} needs {count * np_dtype.itemsize}"
            )
        array = np.frombuffer(content, dtype=np_dtype).reshape(shape)
        return array.astype(_NATIVE_BY_DTYPE[dt], copy=copy)
    field = getattr(proto, _VAL_FIELD[dt])
    if dt == types_pb2.DT_HALF:
        values = np.array(field, dtype=np.uint16).view(np.float16)
    else:
        values = np.array(field, dtype=np_dtype.newbyteorder("="))
    return _fit(values, shape, count, np_dtype)


def _fit(values: np.ndarray, shape: tuple[int, ...], count: int, np_dtype: np.dtype) -> np.ndarray:
    """TensorFlow's rule for *_val fields: none → zeros, fewer → repeat the last value."""
    if values.size == count:
        return values.reshape(shape)
    if values.size > count:
        raise TensorError(f"tensor has {values.size} values, shape {list(shape)} holds {count}")
    if values.size == 0:
        if np_dtype.kind == "O":
            filled = np.empty(count, dtype=object)
            filled[:] = b""
            return filled.reshape(shape)
        return np.zeros(shape, dtype=np_dtype.newbyteorder("="))
    return np.pad(values, (0, count - values.size), mode="edge").reshape(shape)


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TensorError(f"string tensors hold str or bytes, not {type(value).__name__}")
