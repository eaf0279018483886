"""TF Serving's REST paths: predict with raw instances, model status and metadata."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, g, request

from contract import to_json
from protogen.contract.serving_metadata_pb2 import ServingMetadata
from serving.gateway.backend import SignatureInfo, VersionStatus
from serving.gateway.errors import NotFound
from serving.gateway.instances import parse_predict_body
from serving.gateway.observability import MODEL_VERSION_HEADER
from serving.gateway.postprocess import check_top_k, predictions
from serving.gateway.preprocess import prepare_instances
from serving.gateway.responses import json_response, read_body
from serving.gateway.state import state

bp = Blueprint("v1", __name__)

VERSION = "<int(max=9223372036854775807):version>"
# google.rpc.Code names, as TF Serving's REST API prints them in model status.
_CODE_NAMES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED",
    13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}


@bp.post("/v1/models/<model:name>:predict")
@bp.post(f"/v1/models/<model:name>/versions/{VERSION}:predict")
def predict(name: str, version: int | None = None):
    """Raw instances in; labels, probabilities and the answering version out."""
    st = state()
    body = parse_predict_body(read_body(request), st.settings.max_instances)
    g.model = name

    def build(meta: ServingMetadata):
        check_top_k(body.top_k, meta)
        return prepare_instances(body.instances, meta, st.settings.max_image_pixels)

    result = st.dataplane.infer(name, version, build)
    answered = str(result.version)
    return json_response(
        {
            "model": name,
            "model_version": answered,
            "predictions": predictions(result.decoded, body.top_k),
        },
        headers={MODEL_VERSION_HEADER: answered},
    )


@bp.get("/v1/models/<model:name>")
@bp.get(f"/v1/models/<model:name>/versions/{VERSION}")
def status(name: str, version: int | None = None):
    """The versions of a model and their states, in TF Serving's REST format."""
    statuses = state().dataplane.status(name)
    if version is not None:
        statuses = [s for s in statuses if s.version == version]
        if not statuses:
            raise NotFound(f"model {name!r} has no version {version}")
    return json_response({"model_version_status": [_status(s) for s in statuses]})


@bp.get("/v1/models/<model:name>/metadata")
@bp.get(f"/v1/models/<model:name>/versions/{VERSION}/metadata")
def metadata(name: str, version: int | None = None):
    """Labels, input spec, normalization and training summary of a version, and its signature."""
    st = state()
    resolved, meta = st.dataplane.metadata(name, version)
    signature = st.dataplane.signature(name, resolved, meta)
    doc = _plain_numbers(orjson.loads(to_json(meta)))
    answer = {
        "model": name,
        "model_version": str(resolved),
        "labels": doc.get("labels", []),
        "input": doc.get("input", {}),
        "normalization": doc.get("normalization", {}),
        "output": doc.get("output", {}),
        "training": doc.get("training", {}),
        "signature": _signature(meta, signature),
    }
    return json_response(answer, headers={MODEL_VERSION_HEADER: str(resolved)})


def _plain_numbers(doc: dict[str, Any]) -> dict[str, Any]:
    """Protobuf's JSON writes int64 fields as strings; clients expect numbers here."""
    inp, out, training = doc.get("input", {}), doc.get("output", {}), doc.get("training", {})
    if "shape" in inp:
        inp["shape"] = [int(d) for d in inp["shape"]]
    if "units" in out:
        out["units"] = int(out["units"])
    for key in ("train_examples", "validation_examples", "test_examples"):
        if key in training:
            training[key] = int(training[key])
    return doc


def _status(s: VersionStatus) -> dict[str, Any]:
    return {
        "version": str(s.version),
        "state": s.state,
        "status": {
            "error_code": _CODE_NAMES.get(s.error_code, str(s.error_code)),
            "error_message": s.error_message,
        },
    }


def _signature(meta: ServingMetadata, sig: SignatureInfo) -> dict[str, Any]:
    def tensors(specs):
        return {k: {"dtype": t.dtype, "shape": list(t.shape)} for k, t in specs.items()}

    return {
        "name": meta.signature_name or "serving_default",
        "method_name": sig.method_name,
        "inputs": tensors(sig.inputs),
        "outputs": tensors(sig.outputs),
    }
