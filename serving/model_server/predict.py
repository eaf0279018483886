"""Predict on one servable, checked the way TF Serving checks it (predict_util.cc).

Order and codes follow TF Serving: unknown signature key → FAILED_PRECONDITION; a
signature that is not a predict/classify/regress one → INTERNAL; wrong number of
inputs, an unparsable tensor, an unknown or repeated output_filter key →
INVALID_ARGUMENT. Where TF Serving would pass the tensors on and let the TensorFlow
runtime fail (wrong dtype or shape), we check first and name the input instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from protogen.tfserving import meta_graph_pb2, predict_pb2
from serving.gateway import tensors
from serving.model_server.errors import failed_precondition, internal, invalid_argument

if TYPE_CHECKING:  # the servable module imports TensorFlow; the API layer does not need it
    from serving.model_server.servable import Servable

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHODS = (
    "tensorflow/serving/predict",
    "tensorflow/serving/classify",
    "tensorflow/serving/regress",
)


def run_predict(servable: Servable, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    """Answer `request` with `servable`; raise ServingError with TF Serving's code."""
    signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    signature = servable.signature_defs.get(signature_name)
    if signature is None:
        raise failed_precondition(f'Serving signature key "{signature_name}" not found.')
    if signature.method_name not in PREDICT_METHODS:
        raise internal(
            "Expected prediction signature method_name to be one of "
            f"{{{', '.join(PREDICT_METHODS)}}}. Was: {signature.method_name}"
        )
    _check_input_names(signature, request)
    inputs = {alias: _parse_input(alias, signature.inputs[alias], proto) for alias, proto in request.inputs.items()}
    output_keys = _output_keys(signature, request.output_filter)

    outputs = servable.run(signature_name, inputs, output_keys)

    response = predict_pb2.PredictResponse()
    response.model_spec.name = request.model_spec.name or servable.name
    response.model_spec.version.value = servable.version
    response.model_spec.signature_name = signature_name
    for key in output_keys:
        tensors.fill_tensor_proto(response.outputs[key], outputs[key])
    return response


def _check_input_names(signature: meta_graph_pb2.SignatureDef, request: predict_pb2.PredictRequest) -> None:
    sent, expected = set(request.inputs), set(signature.inputs)
    if sent == expected:
        return
    extra = ",".join(sorted(sent - expected))
    missing = ",".join(sorted(expected - sent))
    lead = (
        f"input size does not match signature: {len(sent)}!={len(expected)} "
        f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}})"
        if len(sent) != len(expected)
        else f"input names do not match signature {{{','.join(sorted(expected))}}}"
    )
    raise invalid_argument(f"{lead}. Sent extra: {{{extra}}}. Missing but required: {{{missing}}}.")


def _parse_input(alias: str, info: meta_graph_pb2.TensorInfo, proto) -> np.ndarray:
    try:
        array = tensors.to_ndarray(proto, copy=False)
    except tensors.TensorError as exc:
        raise invalid_argument(f"tensor parsing error: {alias} ({exc})") from None
    if proto.dtype != info.dtype:
        raise invalid_argument(
            f"input '{alias}' has dtype {tensors.dtype_name(proto.dtype)}, "
            f"the signature expects {tensors.dtype_name(info.dtype)}"
        )
    if not info.tensor_shape.unknown_rank:
        expected = [d.size for d in info.tensor_shape.dim]
        if len(array.shape) != len(expected) or any(
            want >= 0 and got != want for got, want in zip(array.shape, expected)
        ):
            raise invalid_argument(
                f"input '{alias}' has shape {list(array.shape)}, the signature expects "
                f"{expected} (-1: any size)"
            )
    return array


def _output_keys(signature: meta_graph_pb2.SignatureDef, output_filter) -> list[str]:
    if not output_filter:
        return sorted(signature.outputs)
    seen: list[str] = []
    for alias in output_filter:
        if alias not in signature.outputs:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be "
                f"in the set {{{','.join(sorted(signature.outputs))}}}."
            )
        if alias in seen:
            raise invalid_argument(f"duplicate output tensor alias: {alias}")
        seen.append(alias)
    return seen
