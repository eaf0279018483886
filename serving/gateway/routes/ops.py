"""Operational endpoints: liveness, readiness, Prometheus metrics, the API description."""

from __future__ import annotations

from flask import Blueprint, Response

from serving.gateway import metrics
from serving.gateway.docs_page import DOCS_HTML
from serving.gateway.openapi import openapi_document
from serving.gateway.responses import json_response
from serving.gateway.state import state

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up and answering (it does not ask the backend)."""
    return json_response({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Backend reachable and every served model AVAILABLE; answered within the ready timeout."""
    result = state().readiness.check()
    body = {"ready": result.ready, "models": result.models}
    if result.ready:
        return json_response(body)
    return json_response({"error": f"not ready: {result.reason}", **body}, 503)


@bp.get("/metrics", endpoint="metrics")
def metrics_endpoint():
    """Prometheus exposition of every worker's metrics."""
    payload, content_type = metrics.render()
    return Response(payload, status=200, content_type=content_type)


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of every endpoint."""
    return json_response(openapi_document(state().settings))


@bp.get("/docs")
def docs():
    """A self-contained page rendering /openapi.json (no external scripts or styles)."""
    return Response(
        DOCS_HTML,
        status=200,
        mimetype="text/html",
        headers={"Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"},
    )
