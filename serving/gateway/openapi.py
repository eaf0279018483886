"""The OpenAPI 3 description of the gateway, served at `/openapi.json` (and rendered by `/docs`).

Written by hand next to the routes it describes; `tests/gateway/test_openapi.py` checks
that every route of the app appears here and that the document is well formed.
"""

from __future__ import annotations

from typing import Any

from serving.gateway.settings import Settings

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": schema}
    if example is not None:
        body["example"] = example
    return {"content": {JSON: body}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Invalid request; the message names the field",
        401: "Missing or wrong API key (when GATEWAY_API_KEYS is set)",
        404: "Unknown model or version",
        413: "Request body larger than GATEWAY_MAX_BODY_BYTES",
        415: "Wrong Content-Type",
        502: "The model server answered something that cannot be decoded",
        503: "The model server is unavailable, or no version is AVAILABLE",
        504: "The model server did not answer within GATEWAY_DEADLINE_SECONDS",
    }
    return {str(c): {"description": texts[c], **_json(_ref("Error"))} for c in codes}


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}, "example": "digits"}
_VERSION = {
    "name": "version", "in": "path", "required": True,
    "schema": {"type": "integer", "minimum": 0}, "example": 1,
}
_VERSION_HEADER = {
    "X-Model-Version": {"description": "The model version that answered", "schema": {"type": "string"}}
}
_MODEL_ERRORS = (401, 404, 502, 503, 504)
_PREDICT_ERRORS = (400, 401, 404, 413, 415, 502, 503, 504)

_PREDICT_EXAMPLE = {"instances": [[0, 0, 5, 13, 9, 1, 0, 0] * 8], "top_k": 3}
_PREDICT_ANSWER = {
    "model": "digits",
    "model_version": "1",
    "predictions": [
        {
            "label": "0",
            "probability": 0.981,
            "top_k": [
                {"label": "0", "probability": 0.981},
                {"label": "6", "probability": 0.012},
                {"label": "8", "probability": 0.004},
            ],
        }
    ],
}
_INFER_EXAMPLE = {
    "inputs": [{"name": "pixels", "shape": [1, 8, 8, 1], "datatype": "FP32", "data": [0.0] * 64}]
}


def _op(summary: str, tags: str, responses: dict[str, Any], *, params=(), body=None, open_=False, desc=None):
    op: dict[str, Any] = {"summary": summary, "tags": [tags], "responses": responses}
    if desc:
        op["description"] = desc
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {"required": True, **body}
    if open_:
        op["security"] = []
    return op


def _predict_op(versioned: bool) -> dict[str, Any]:
    return _op(
        "Predict labels for raw instances" + (" with a given version" if versioned else ""),
        "v1",
        {
            "200": {"description": "One prediction per instance", "headers": _VERSION_HEADER,
                    **_json(_ref("PredictResponse"), _PREDICT_ANSWER)},
            **_errors(*_PREDICT_ERRORS),
        },
        params=(_NAME, _VERSION) if versioned else (_NAME,),
        body=_json(_ref("PredictRequest"), _PREDICT_EXAMPLE),
        desc=(
            "Instances are raw inputs: nested numbers in the input's shape, a flat list of the "
            "same size, H×W for a one-channel image, an object of named features (tabular "
            'models) or {"b64": "<base64 PNG or JPEG>"} (image models). The gateway normalizes '
            "them with the metadata of the version it pins for the call and decodes the answer "
            "with that version's labels."
        ),
    )


def _paths() -> dict[str, Any]:
    status = _op("Versions of a model and their states", "v1",
                 {"200": {"description": "TF Serving's model status", **_json(_ref("ModelStatus"))},
                  **_errors(*_MODEL_ERRORS)}, params=(_NAME,))
    status_v = {**status, "parameters": [_NAME, _VERSION], "summary": "State of one version"}
    meta = _op("Labels, input spec, normalization, training summary and signature", "v1",
               {"200": {"description": "The serving metadata of the version", "headers": _VERSION_HEADER,
                        **_json(_ref("ModelMetadata"))}, **_errors(*_MODEL_ERRORS)}, params=(_NAME,))
    meta_v = {**meta, "parameters": [_NAME, _VERSION]}
    v2_meta = _op("Model metadata (Open Inference Protocol)", "v2",
                  {"200": {"description": "Inputs and outputs", **_json(_ref("V2ModelMetadata"))},
                   **_errors(*_MODEL_ERRORS)}, params=(_NAME,))
    v2_ready = _op("Model readiness (Open Inference Protocol)", "v2",
                   {"200": {"description": "Ready", **_json(_ref("V2ModelReady"))},
                    **_errors(401, 404, 503)}, params=(_NAME,))
    infer = _op("Inference with JSON (or binary) tensors (Open Inference Protocol)", "v2",
                {"200": {"description": "probabilities (FP32) and label (BYTES) tensors",
                         "headers": _VERSION_HEADER, **_json(_ref("V2InferResponse"))},
                 **_errors(*_PREDICT_ERRORS)},
                params=(_NAME,), body=_json(_ref("V2InferRequest"), _INFER_EXAMPLE),
                desc=("The input tensor holds raw values. Triton's binary tensor data extension "
                      "is supported (Inference-Header-Content-Length)."))

    def versioned(op: dict[str, Any], tail: str = "") -> dict[str, Any]:
        return {**op, "parameters": [_NAME, _VERSION], "summary": op["summary"] + tail}

    readiness = {"200": {"description": "Ready", **_json(_ref("Readiness"))},
                 "503": {"description": "Not ready", **_json(_ref("Readiness"))}}
    return {
        "/v1/models/{name}:predict": {"post": _predict_op(False)},
        "/v1/models/{name}/versions/{version}:predict": {"post": _predict_op(True)},
        "/v1/models/{name}": {"get": status},
        "/v1/models/{name}/versions/{version}": {"get": status_v},
        "/v1/models/{name}/metadata": {"get": meta},
        "/v1/models/{name}/versions/{version}/metadata": {"get": meta_v},
        "/v2": {"get": _op("Server metadata", "v2", {"200": {"description": "Name, version, extensions",
                           **_json({"type": "object"})}})},
        "/v2/health/live": {"get": _op("Liveness (Open Inference Protocol)", "v2",
                                       {"200": {"description": "Live", **_json({"type": "object"})}}, open_=True)},
        "/v2/health/ready": {"get": _op("Readiness (Open Inference Protocol)", "v2", readiness, open_=True)},
        "/v2/models/{name}": {"get": v2_meta},
        "/v2/models/{name}/versions/{version}": {"get": versioned(v2_meta)},
        "/v2/models/{name}/ready": {"get": v2_ready},
        "/v2/models/{name}/versions/{version}/ready": {"get": versioned(v2_ready)},
        "/v2/models/{name}/infer": {"post": infer},
        "/v2/models/{name}/versions/{version}/infer": {"post": versioned(infer)},
        "/healthz": {"get": _op("Liveness of the gateway process", "ops",
                                {"200": {"description": "Alive", **_json({"type": "object"})}}, open_=True)},
        "/readyz": {"get": _op("Backend reachable and every model AVAILABLE (answers within about a second)",
                               "ops", readiness, open_=True)},
        "/metrics": {"get": _op("Prometheus metrics", "ops", {"200": {
            "description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}},
            open_=True)},
        "/openapi.json": {"get": _op("This document", "ops",
                                     {"200": {"description": "OpenAPI 3", **_json({"type": "object"})}}, open_=True)},
        "/docs": {"get": _op("Human-readable API documentation", "ops", {"200": {
            "description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}}, open_=True)},
    }


def _schemas() -> dict[str, Any]:
    number_tree = {"description": "Nested lists of numbers", "oneOf": [{"type": "number"}, {"type": "array", "items": {}}]}
    tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "example": "FP32"},
            "parameters": {"type": "object", "additionalProperties": True},
            "data": {"type": "array", "items": {}},
        },
    }
    scored = {"type": "object", "properties": {"label": {"type": "string"}, "probability": {"type": "number"}}}
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "PredictRequest": {
            "type": "object",
            "required": ["instances"],
            "additionalProperties": False,
            "properties": {
                "instances": {"type": "array", "minItems": 1, "items": {"oneOf": [
                    {"type": "array", "items": number_tree},
                    {"type": "object", "description": "Named features (tabular models)",
                     "additionalProperties": {"type": "number"}},
                    {"type": "object", "required": ["b64"], "properties": {
                        "b64": {"type": "string", "description": "base64 PNG or JPEG (image models)"}}},
                ]}},
                "top_k": {"type": "integer", "minimum": 1},
            },
        },
        "Prediction": {**scored, "properties": {**scored["properties"], "top_k": {"type": "array", "items": scored}}},
        "PredictResponse": {
            "type": "object",
            "properties": {
                "model": {"type": "string"},
                "model_version": {"type": "string"},
                "predictions": {"type": "array", "items": _ref("Prediction")},
            },
        },
        "ModelStatus": {"type": "object", "properties": {"model_version_status": {"type": "array", "items": {
            "type": "object", "properties": {
                "version": {"type": "string"},
                "state": {"type": "string", "enum": ["START", "LOADING", "AVAILABLE", "UNLOADING", "END"]},
                "status": {"type": "object", "properties": {
                    "error_code": {"type": "string"}, "error_message": {"type": "string"}}},
            }}}}},
        "ModelMetadata": {"type": "object", "properties": {
            "model": {"type": "string"}, "model_version": {"type": "string"},
            "labels": {"type": "array", "items": {"type": "string"}},
            "input": {"type": "object"}, "normalization": {"type": "object"}, "output": {"type": "object"},
            "training": {"type": "object"}, "signature": {"type": "object"}}},
        "Readiness": {"type": "object", "properties": {
            "ready": {"type": "boolean"}, "models": {"type": "object"}, "error": {"type": "string"}}},
        "V2Tensor": tensor,
        "V2InferRequest": {"type": "object", "required": ["inputs"], "properties": {
            "id": {"type": "string"}, "parameters": {"type": "object"},
            "inputs": {"type": "array", "minItems": 1, "items": _ref("V2Tensor")},
            "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "enum": ["probabilities", "label"]}, "parameters": {"type": "object"}}}}}},
        "V2InferResponse": {"type": "object", "properties": {
            "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
            "outputs": {"type": "array", "items": _ref("V2Tensor")}}},
        "V2ModelMetadata": {"type": "object", "properties": {
            "name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": _ref("V2Tensor")},
            "outputs": {"type": "array", "items": _ref("V2Tensor")}}},
        "V2ModelReady": {"type": "object", "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}},
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The whole document; security is required only when API keys are configured."""
    from serving.gateway.routes import catalog

    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "modelserve gateway",
            "version": "1",
            "description": (
                "Raw inputs in, labels out: the gateway normalizes instances exactly as training "
                "did, calls TensorFlow Serving over gRPC with the version pinned, and answers "
                "with that version's labels. Every error is JSON {\"error\": \"...\"}."
            ),
        },
        "tags": [
            {"name": "v1", "description": "TF Serving's REST paths, with raw instances and labels"},
            {"name": "v2", "description": "Open Inference Protocol (KServe v2)"},
            {"name": "ops", "description": "Health, readiness, metrics and documentation"},
        ],
        "paths": {**_paths(), **catalog.openapi_paths()},
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
    if settings.api_keys:
        doc["security"] = [{"bearer": []}, {"apiKey": []}]
    return doc
