"""Optional API keys: Bearer or X-API-Key, constant-time comparison, open probes."""

from __future__ import annotations

import dataclasses

import pytest

from serving.gateway import auth, create_app

KEY = "s3cret-key-0123456789"
OTHER = "another-key-abcdefghij"
ROW = [0.0] * 64


@pytest.fixture
def keyed_client(settings, backend):
    app = create_app(dataclasses.replace(settings, api_keys=(KEY, OTHER)), backend)
    return app.test_client()


@pytest.mark.parametrize(
    "headers, status, fragment",
    [
        ({}, 401, "missing API key"),
        ({"Authorization": "Bearer "}, 401, "missing API key"),
        ({"Authorization": "Basic " + KEY}, 401, "missing API key"),
        ({"Authorization": "Bearer wrong-key-0123456789"}, 401, "invalid API key"),
        ({"X-API-Key": KEY[:-1]}, 401, "invalid API key"),
        ({"X-API-Key": KEY + "x"}, 401, "invalid API key"),
        ({"Authorization": "Bearer " + KEY}, 200, None),
        ({"authorization": "bearer " + OTHER}, 200, None),
        ({"X-API-Key": KEY}, 200, None),
    ],
)
def test_predict_needs_a_valid_key(keyed_client, headers, status, fragment):
    response = keyed_client.post("/v1/models/digits:predict", json={"instances": [ROW]}, headers=headers)
    assert response.status_code == status
    if fragment:
        assert fragment in response.get_json()["error"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/v1/models/digits", "/v2/models/digits", "/v2", "/nowhere"])
def test_other_endpoints_need_it_too(keyed_client, path):
    assert keyed_client.get(path).status_code == 401


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/v2/health/live", "/v2/health/ready"]
)
def test_probes_and_documents_stay_open(keyed_client, path):
    assert keyed_client.get(path).status_code == 200


def test_without_keys_nothing_is_asked(client):
    assert client.post("/v1/models/digits:predict", json={"instances": [ROW]}).status_code == 200


def test_comparison_checks_every_key_with_compare_digest(monkeypatch):
    compared = []
    real = auth.hmac.compare_digest

    def spy(a, b):
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert auth.is_valid(KEY, (KEY, OTHER)) is True
    assert compared == [KEY.encode(), OTHER.encode()]  # no early exit on the first match
    assert auth.is_valid("nope", (KEY,)) is False
    assert auth.is_valid(None, (KEY,)) is False
