"""Read-only views of the model repository: which models the gateway serves, and how each
version was trained (the `training_report.json` the training job publishes with it).

These read `GATEWAY_MODEL_ROOT` only; they are what the web page (`serving.gateway.ui`)
uses besides the ordinary metadata and predict endpoints, and any client may use them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint

from contract import ContractError
from contract.training_report import load_report
from serving.gateway.dataplane import check_model_name
from serving.gateway.errors import NotFound, ServiceUnavailable
from serving.gateway.observability import MODEL_VERSION_HEADER
from serving.gateway.responses import json_response
from serving.gateway.state import state

log = logging.getLogger(__name__)

bp = Blueprint("catalog", __name__)

VERSION = "<int(max=9223372036854775807):version>"


@bp.get("/v1/models")
def models():
    """The models the gateway serves: GATEWAY_MODELS, else every model folder of the repository."""
    names = state().readiness.models()
    return json_response({"models": [{"name": n} for n in names]})


@bp.get("/v1/models/<model:name>/report")
@bp.get(f"/v1/models/<model:name>/versions/{VERSION}/report")
def report(name: str, version: int | None = None):
    """The training report of a version (default: the version being served)."""
    st = state()
    check_model_name(name)
    if version is None:
        version, _ = st.dataplane.metadata(name)
    version_dir = Path(st.settings.model_root) / name / str(version)
    if not version_dir.is_dir():
        raise NotFound(f"model {name!r} has no version {version}")
    try:
        doc = load_report(version_dir)
    except FileNotFoundError:
        raise NotFound(f"model {name!r} version {version} has no training report") from None
    except ContractError as exc:
        log.error("cannot use the training report of %s version %s: %s", name, version, exc)
        raise ServiceUnavailable(
            f"the training report of model {name!r} version {version} is unreadable"
        ) from None
    return json_response(doc, headers={MODEL_VERSION_HEADER: str(version)})


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI description of this blueprint's and the web page's routes."""
    json_ = "application/json"
    error = {json_: {"schema": {"$ref": "#/components/schemas/Error"}}}
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}, "example": "digits"}
    version = {"name": "version", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 0}, "example": 1}
    report_schema = {
        "type": "object",
        "description": "contract/training_report.py describes every field",
        "properties": {
            "format_version": {"type": "integer"},
            "model_name": {"type": "string"},
            "model_version": {"type": "integer"},
            "labels": {"type": "array", "items": {"type": "string"}},
            "best_epoch": {"type": "integer", "description": "1-based epoch whose weights were exported"},
            "history": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "number"}},
                        "description": "loss, val_loss, accuracy, val_accuracy: one value per epoch"},
            "test_metrics": {"type": "object", "additionalProperties": {"type": "number"}},
            "per_class": {"type": "array", "items": {"type": "object"}},
            "confusion_matrix": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}},
                                 "description": "rows: true label, columns: predicted label"},
            "examples": {"type": "array", "items": {"type": "object", "properties": {
                "label": {"type": "string"}, "instance": {}}}},
        },
    }

    def report_op(params: list, summary: str) -> dict[str, Any]:
        return {
            "summary": summary, "tags": ["v1"], "parameters": params,
            "responses": {
                "200": {"description": "The training report", "content": {json_: {"schema": report_schema}}},
                "401": {"description": "Missing or wrong API key", "content": error},
                "404": {"description": "Unknown model or version, or no report for it", "content": error},
                "503": {"description": "The report is unreadable, or no version is being served", "content": error},
            },
        }

    html = {"text/html": {"schema": {"type": "string"}}}
    return {
        "/v1/models": {"get": {
            "summary": "The models the gateway serves", "tags": ["v1"],
            "responses": {
                "200": {"description": "Model names", "content": {json_: {"schema": {
                    "type": "object", "properties": {"models": {"type": "array", "items": {
                        "type": "object", "properties": {"name": {"type": "string"}}}}}},
                    "example": {"models": [{"name": "breast_cancer"}, {"name": "digits"}]}}}},
                "401": {"description": "Missing or wrong API key", "content": error},
            },
        }},
        "/v1/models/{name}/report": {"get": report_op(
            [name], "How the version being served was trained (curves, test metrics, confusion matrix)")},
        "/v1/models/{name}/versions/{version}/report": {"get": report_op(
            [name, version], "How a version was trained (curves, test metrics, confusion matrix)")},
        "/": {"get": {
            "summary": "Web page: try the model, see how it was trained", "tags": ["ops"], "security": [],
            "responses": {"200": {"description": "HTML page", "content": html}},
        }},
        "/ui/{filename}": {"get": {
            "summary": "The web page's script and style sheet", "tags": ["ops"], "security": [],
            "parameters": [{"name": "filename", "in": "path", "required": True, "schema": {"type": "string"},
                            "example": "app.js"}],
            "responses": {"200": {"description": "A static file"},
                          "404": {"description": "No such file", "content": error}},
        }},
    }
