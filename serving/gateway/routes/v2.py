"""Open Inference Protocol (KServe v2) REST endpoints, so standard clients work unchanged.

Health answers 200 when true. Not ready answers 503 (with `{"error": ...}`, like `/readyz`):
the protocol asks for a non-200 status, and clients such as `tritonclient` only test
for 200.
"""

from __future__ import annotations

from importlib import metadata as importlib_metadata

from flask import Blueprint, Response, g, request

from protogen.contract.serving_metadata_pb2 import ServingMetadata
from serving.gateway import oip
from serving.gateway.errors import NotFound
from serving.gateway.observability import MODEL_VERSION_HEADER
from serving.gateway.postprocess import output_name
from serving.gateway.preprocess import normalize_checked
from serving.gateway.responses import JSON, OCTET_STREAM, json_response, read_body
from serving.gateway.routes.v1 import VERSION
from serving.gateway.state import state
from serving.gateway.versions import AVAILABLE

bp = Blueprint("v2", __name__)

SERVER_NAME = "modelserve-gateway"
EXTENSIONS = ["binary_tensor_data"]
PLATFORM = "tensorflow_savedmodel"


@bp.get("/v2")
def server_metadata():
    """Server name, version and the protocol extensions it speaks."""
    return json_response({"name": SERVER_NAME, "version": _version(), "extensions": EXTENSIONS})


@bp.get("/v2/health/live")
def live():
    """The process answers."""
    return json_response({"live": True})


@bp.get("/v2/health/ready")
def ready():
    """Every served model has an AVAILABLE version (answered within the ready timeout)."""
    result = state().readiness.check()
    if result.ready:
        return json_response({"ready": True})
    return json_response({"ready": False, "error": f"not ready: {result.reason}"}, 503)


@bp.get("/v2/models/<model:name>")
@bp.get(f"/v2/models/<model:name>/versions/{VERSION}")
def model_metadata(name: str, version: int | None = None):
    """Name, versions, platform and the input/output tensors of a model version."""
    dataplane = state().dataplane
    statuses = dataplane.status(name)
    resolved, meta = dataplane.metadata(name, version)
    shape = [-1, *(int(d) for d in meta.input.shape)]
    return json_response(
        {
            "name": name,
            "versions": [str(s.version) for s in statuses if s.state == AVAILABLE],
            "platform": PLATFORM,
            "inputs": [{"name": meta.input.name, "datatype": "FP32", "shape": shape}],
            "outputs": [
                {"name": output_name(meta), "datatype": "FP32", "shape": [-1, int(meta.output.units)]},
                {"name": oip.LABEL_OUTPUT, "datatype": "BYTES", "shape": [-1]},
            ],
        },
        headers={MODEL_VERSION_HEADER: str(resolved)},
    )


@bp.get("/v2/models/<model:name>/ready")
@bp.get(f"/v2/models/<model:name>/versions/{VERSION}/ready")
def model_ready(name: str, version: int | None = None):
    """The model (or the given version) is AVAILABLE on the backend."""
    dataplane = state().dataplane
    statuses = dataplane.status(name)
    states = {s.version: s.state for s in statuses}
    if version is not None and version not in states:
        raise NotFound(f"model {name!r} has no version {version}")
    if version is None:
        is_ready = AVAILABLE in states.values()
    else:
        is_ready = states[version] == AVAILABLE
    if is_ready:
        return json_response({"name": name, "ready": True})
    what = name if version is None else f"{name} version {version}"
    return json_response({"name": name, "ready": False, "error": f"{what} is not AVAILABLE"}, 503)


@bp.post("/v2/models/<model:name>/infer")
@bp.post(f"/v2/models/<model:name>/versions/{VERSION}/infer")
def infer(name: str, version: int | None = None):
    """Raw input tensor in; the probabilities tensor and a BYTES `label` tensor out."""
    st = state()
    body = read_body(request, accept=(JSON, OCTET_STREAM), allow_missing_type=True)
    parsed = oip.parse_infer_request(
        body, request.headers.get(oip.HEADER_LENGTH), st.settings.max_instances
    )
    g.model = name

    def build(meta: ServingMetadata):
        oip.check_outputs(parsed, meta)
        raw = oip.input_batch(parsed, meta)
        return normalize_checked(raw, meta, lambda i: f"inputs[0] instance {i}")

    result = st.dataplane.infer(name, version, build)
    payload, headers = oip.encode_response(parsed, name, result.version, result.metadata, result.decoded)
    headers[MODEL_VERSION_HEADER] = str(result.version)
    mimetype = OCTET_STREAM if oip.HEADER_LENGTH in headers else JSON
    return Response(payload, status=200, headers=headers, mimetype=mimetype)


def _version() -> str:
    try:
        return importlib_metadata.version("modelserve")
    except importlib_metadata.PackageNotFoundError:
        return "0"
