"""Open Inference Protocol (KServe v2) REST: infer requests in, infer responses out.

JSON tensors per the protocol (`data` nested or flat in row-major order), plus Triton's
binary tensor data extension that standard clients such as `tritonclient.http` use by
default: a request whose `Inference-Header-Content-Length` header gives the size of the
JSON part, followed by raw little-endian input bytes (`parameters.binary_data_size`), and
outputs returned the same way when `binary_data` / `binary_data_output` asks for it.

The input tensor carries RAW values (as `/v1` instances do): the gateway normalizes
them with the answering version's metadata. The response has two outputs: the model's
`probabilities` (FP32, [batch, units]) and `label` (BYTES, [batch]).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from protogen.contract.serving_metadata_pb2 import InputSpec, ServingMetadata
from serving.gateway.errors import BadRequest
from serving.gateway.instances import check_float32_range, json_type, numeric_array, parse_json
from serving.gateway.postprocess import Decoded, output_name

HEADER_LENGTH = "Inference-Header-Content-Length"
LABEL_OUTPUT = "label"
NUMERIC_DATATYPES = {
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}
REQUEST_FIELDS = ("id", "parameters", "inputs", "outputs")


@dataclass(frozen=True)
class InputTensor:
    """One request input: its declared name, datatype and shape, and its values (float64)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray


@dataclass(frozen=True)
class RequestedOutput:
    """An output the client asked for, and whether it wants it as binary data."""

    name: str
    binary: bool


@dataclass(frozen=True)
class InferRequest:
    """A parsed, structurally valid infer request (the model's spec is applied later)."""

    id: str | None
    inputs: list[InputTensor]
    outputs: list[RequestedOutput] | None
    binary_output: bool


def parse_infer_request(body: bytes, header_length: str | None, max_instances: int) -> InferRequest:
    """Parse the JSON (and binary) parts of an infer request; 400 naming the field otherwise."""
    binary = b""
    if header_length is not None:
        try:
            size = int(header_length)
        except ValueError:
            raise BadRequest(f"{HEADER_LENGTH}: expected an integer, got {header_length[:20]!r}") from None
        if not 0 < size <= len(body):
            raise BadRequest(f"{HEADER_LENGTH}: {size} is not within the {len(body)}-byte body")
        body, binary = body[:size], body[size:]
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise BadRequest(f'request body: expected a JSON object with "inputs", got {json_type(doc)}')
    for key in doc:
        if key not in REQUEST_FIELDS:
            raise BadRequest(f"unknown field {key!r}: expected {', '.join(REQUEST_FIELDS)}")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest(f"id: expected a string, got {json_type(request_id)}")
    params = _parameters(doc.get("parameters"), "parameters")
    binary_output = _flag(params, "binary_data_output", "parameters")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise BadRequest('inputs: expected a non-empty list of input tensors')
    inputs: list[InputTensor] = []
    offset = 0
    for i, raw in enumerate(raw_inputs):
        tensor, offset = _input(raw, f"inputs[{i}]", binary, offset, max_instances)
        inputs.append(tensor)
    if offset != len(binary):
        raise BadRequest(f"binary data: {len(binary) - offset} bytes after the last input's data")
    return InferRequest(request_id, inputs, _outputs(doc.get("outputs")), binary_output)


def input_batch(request: InferRequest, meta: ServingMetadata) -> np.ndarray:
    """The single input tensor as raw float64 of shape (batch, *input shape)."""
    spec = meta.input
    if len(request.inputs) != 1:
        raise BadRequest(f"inputs: this model takes exactly one input, {spec.name!r}")
    tensor = request.inputs[0]
    if tensor.name != spec.name:
        raise BadRequest(f"inputs[0].name: expected {spec.name!r}, got {tensor.name!r}")
    shape = tuple(int(d) for d in spec.shape)
    inner = tensor.shape[1:]
    size = math.prod(shape)
    one_channel = spec.kind == InputSpec.IMAGE and len(shape) == 3 and shape[-1] == 1
    if not (inner == shape or inner == (size,) or (one_channel and inner == shape[:-1])):
        expected = [-1, *shape]
        raise BadRequest(
            f"inputs[0].shape: expected {expected} (or [-1, {size}]), got {list(tensor.shape)}"
        )
    return tensor.data.reshape((tensor.shape[0], *shape))


def check_outputs(request: InferRequest, meta: ServingMetadata) -> None:
    """Every requested output must be one this gateway produces."""
    known = (output_name(meta), LABEL_OUTPUT)
    for i, out in enumerate(request.outputs or ()):
        if out.name not in known:
            raise BadRequest(f"outputs[{i}].name: unknown output {out.name!r}; expected one of {list(known)}")


def encode_response(
    request: InferRequest, model: str, version: int, meta: ServingMetadata, decoded: Decoded
) -> tuple[bytes, dict[str, str]]:
    """The response body and its extra headers (binary parts only when asked for)."""
    probs = np.ascontiguousarray(decoded.probabilities, dtype=np.float32)
    labels = decoded.label_names
    tensors = {
        output_name(meta): ("FP32", list(probs.shape), probs.ravel(), probs.astype("<f4").tobytes()),
        LABEL_OUTPUT: ("BYTES", [len(labels)], labels, _bytes_tensor(labels)),
    }
    wanted = request.outputs or [RequestedOutput(name, request.binary_output) for name in tensors]
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for out in wanted:
        datatype, shape, data, raw = tensors[out.name]
        item: dict[str, Any] = {"name": out.name, "datatype": datatype, "shape": shape}
        if out.binary:
            item["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            item["data"] = data
        outputs.append(item)
    doc: dict[str, Any] = {"model_name": model, "model_version": str(version)}
    if request.id is not None:
        doc["id"] = request.id
    doc["outputs"] = outputs
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, {}
    return header + b"".join(blobs), {HEADER_LENGTH: str(len(header))}


def _input(
    raw: Any, field: str, binary: bytes, offset: int, max_instances: int
) -> tuple[InputTensor, int]:
    if not isinstance(raw, dict):
        raise BadRequest(f"{field}: expected an object with name, shape, datatype and data")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{field}.name: expected a non-empty string")
    datatype = raw.get("datatype")
    if datatype not in NUMERIC_DATATYPES:
        shown = datatype if isinstance(datatype, str) else json_type(datatype)
        raise BadRequest(
            f"{field}.datatype: {str(shown)[:20]!r} is not supported; "
            f"expected one of {', '.join(NUMERIC_DATATYPES)} (raw values)"
        )
    shape = raw.get("shape")
    if (
        not isinstance(shape, list)
        or not shape
        or len(shape) > 8
        or any(type(d) is not int or d < 0 for d in shape)
    ):
        raise BadRequest(f"{field}.shape: expected a list of non-negative integers [batch, ...]")
    if not 1 <= shape[0] <= max_instances:
        raise BadRequest(f"{field}.shape: a batch of {shape[0]} is not between 1 and {max_instances}")
    size = math.prod(shape)
    dtype = np.dtype(NUMERIC_DATATYPES[datatype]).newbyteorder("<")
    params = _parameters(raw.get("parameters"), f"{field}.parameters")
    nbytes = params.get("binary_data_size")
    if nbytes is not None:
        if "data" in raw:
            raise BadRequest(f"{field}: give either data or parameters.binary_data_size, not both")
        if type(nbytes) is not int or nbytes != size * dtype.itemsize:
            raise BadRequest(
                f"{field}.parameters.binary_data_size: expected {size * dtype.itemsize} bytes "
                f"for shape {shape} of {datatype}"
            )
        if offset + nbytes > len(binary):
            raise BadRequest(f"{field}: the binary data ends before this input's {nbytes} bytes")
        values = np.frombuffer(binary, dtype=dtype, count=size, offset=offset).astype(np.float64)
        check_float32_range(values, f"{field}.data")
        offset += nbytes
    else:
        if "data" not in raw:
            raise BadRequest(f"{field}: missing data")
        values = numeric_array(raw["data"], f"{field}.data", max_depth=len(shape)).ravel()
        if values.size != size:
            raise BadRequest(f"{field}.data: shape {shape} needs {size} values, got {values.size}")
        _check_datatype(values, dtype, datatype, f"{field}.data")
    return InputTensor(name, datatype, tuple(shape), values.reshape(shape)), offset


def _check_datatype(values: np.ndarray, dtype: np.dtype, datatype: str, field: str) -> None:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        bad = (values != np.floor(values)) | (values < info.min) | (values > info.max)
    elif dtype == np.float16:
        bad = np.abs(values) > float(np.finfo(np.float16).max)
    else:
        return
    if bad.any():
        index = int(np.argmax(bad))
        raise BadRequest(f"{field}[{index}]: {values[index]:g} is not a valid {datatype} value")


def _outputs(raw: Any) -> list[RequestedOutput] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise BadRequest(f"outputs: expected a list, got {json_type(raw)}")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BadRequest(f"outputs[{i}]: expected an object with a name")
        params = _parameters(item.get("parameters"), f"outputs[{i}].parameters")
        out.append(RequestedOutput(item["name"], _flag(params, "binary_data", f"outputs[{i}].parameters")))
    return out


def _parameters(raw: Any, field: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadRequest(f"{field}: expected an object, got {json_type(raw)}")
    return raw


def _flag(params: dict[str, Any], key: str, field: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{field}.{key}: expected true or false, got {json_type(value)}")
    return value


def _bytes_tensor(items: list[str]) -> bytes:
    """Triton's binary BYTES layout: each element as a 4-byte little-endian length, then bytes."""
    parts = []
    for item in items:
        data = item.encode("utf-8")
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)
