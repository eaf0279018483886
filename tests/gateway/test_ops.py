"""Operational endpoints: liveness, readiness (bounded even when the backend hangs), the
OpenAPI document and the /docs page."""

from __future__ import annotations

import dataclasses
import re
import threading

import pytest

from serving.gateway import create_app
from serving.gateway.errors import BackendUnavailable


def test_healthz_does_not_ask_the_backend(client, backend):
    backend.fail["status"] = BackendUnavailable("down")
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert backend.calls == []


def test_readyz_when_every_model_is_available(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ready"] is True
    assert body["models"]["digits"] == {"ready": True, "versions": {"1": "AVAILABLE"}}
    assert set(body["models"]) == {"digits", "cancer"}
    assert client.get("/v2/health/ready").get_json() == {"ready": True}


def test_readyz_when_the_backend_is_down(client, backend):
    backend.fail["status"] = BackendUnavailable("model server is unavailable")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "cancer: model server is unavailable" in response.get_json()["error"]
    assert client.get("/v2/health/ready").status_code == 503


def test_readyz_when_a_model_is_still_loading(client, backend):
    backend.versions["cancer"] = {1: "LOADING"}
    body = client.get("/readyz").get_json()
    assert body["ready"] is False and body["error"] == "not ready: cancer: no AVAILABLE version"
    assert body["models"]["digits"]["ready"] is True


def test_readyz_answers_when_the_backend_hangs(client, backend):
    """A hung status call (injected: it blocks until released) must not hang the probe.

    Were the probe unbounded, this request would block until the `finally` below and then
    answer 200: the assertion on 503 is what shows the short deadline was applied.
    """
    release = threading.Event()
    original = backend.status

    def hanging(model):
        release.wait(timeout=60)
        return original(model)

    backend.status = hanging
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "the backend did not answer within 0.2 s" in response.get_json()["error"]
    finally:
        release.set()


def test_readyz_checks_only_gateway_models_when_configured(settings, backend):
    backend.versions["cancer"] = {1: "LOADING"}
    app = create_app(dataclasses.replace(settings, models=("digits",)), backend)
    assert app.test_client().get("/readyz").status_code == 200


def test_readyz_without_models_is_not_ready(settings, backend, tmp_path):
    app = create_app(dataclasses.replace(settings, model_root=tmp_path), backend)
    body = app.test_client().get("/readyz").get_json()
    assert body["ready"] is False and "no models found" in body["error"]


def test_v2_model_ready(client, backend):
    assert client.get("/v2/models/digits/ready").get_json() == {"name": "digits", "ready": True}
    assert client.get("/v2/models/digits/versions/1/ready").status_code == 200
    assert client.get("/v2/models/digits/versions/2/ready").status_code == 404
    backend.versions["digits"] = {1: "UNLOADING"}
    assert client.get("/v2/models/digits/ready").status_code == 503


def _flask_rule_to_openapi(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>", r"{\1}", re.sub(r"<int\([^)]*\):", "<", rule))


def test_openapi_describes_every_route(app, client):
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    routes = {
        (_flask_rule_to_openapi(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert routes == documented


def test_openapi_references_resolve(client):
    doc = client.get("/openapi.json").get_json()
    refs = set(re.findall(r'"\$ref": ?"#/components/schemas/([A-Za-z0-9]+)"', client.get("/openapi.json").get_data(as_text=True)))
    assert refs and refs <= set(doc["components"]["schemas"])
    for path, item in doc["paths"].items():
        for param in re.findall(r"{([a-z_]+)}", path):
            for op in item.values():
                assert param in {p["name"] for p in op.get("parameters", [])}, (path, param)


@pytest.mark.parametrize("keys, secured", [((), False), (("k" * 20,), True)])
def test_openapi_declares_security_when_keys_are_set(settings, backend, keys, secured):
    app = create_app(dataclasses.replace(settings, api_keys=keys), backend)
    doc = app.test_client().get("/openapi.json", headers={"X-API-Key": "k" * 20}).get_json()
    assert ("security" in doc) is secured


def test_docs_is_a_self_contained_page(client):
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert 'fetch("openapi.json")' in html
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html)
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
