"""`GET /v1/models` and the training report endpoints, over the unit-test repository
(serving metadata only) and the scripted backend (only for which version is current)."""

from __future__ import annotations

import json

import pytest

from contract.training_report import report_path, write_report
from serving.gateway import create_app
from serving.gateway.settings import Settings

KEY = "catalog-test-key-0123456789"


def report_doc(name: str = "digits", version: int = 1) -> dict:
    """A small but complete training report (3 epochs, 10 labels)."""
    labels = [str(i) for i in range(10)]
    return {
        "model_name": name,
        "model_version": version,
        "dataset": "scikit-learn digits",
        "created_at": "2026-12-04T12:00:00Z",
        "labels": labels,
        "best_epoch": 2,
        "history": {"loss": [1.2, 0.5, 0.6], "val_loss": [1.0, 0.4, 0.45],
                    "accuracy": [0.6, 0.9, 0.91], "val_accuracy": [0.7, 0.92, 0.9]},
        "test_metrics": {"accuracy": 0.93, "loss": 0.41},
        "test_examples": 30,
        "per_class": [{"label": x, "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3}
                      for x in labels],
        "confusion_matrix": [[3 if i == j else 0 for j in range(10)] for i in range(10)],
        "examples": [{"label": "0", "instance": [[0] * 8] * 8}],
    }


def test_models_lists_the_model_folders_of_the_repository(client):
    response = client.get("/v1/models")
    assert response.status_code == 200
    assert response.get_json() == {"models": [{"name": "cancer"}, {"name": "digits"}]}


def test_models_lists_gateway_models_when_set(settings, backend):
    app = create_app(Settings(**{**settings.__dict__, "models": ("digits",)}), backend)
    assert app.test_client().get("/v1/models").get_json() == {"models": [{"name": "digits"}]}


def test_models_ignores_folders_without_versions(repo, client):
    (repo / "not_a_model").mkdir()
    (repo / "empty" / "draft").mkdir(parents=True)
    assert [m["name"] for m in client.get("/v1/models").get_json()["models"]] == ["cancer", "digits"]


def test_report_of_a_version(repo, client):
    write_report(repo / "digits" / "1", report_doc())
    response = client.get("/v1/models/digits/versions/1/report")
    assert response.status_code == 200
    assert response.headers["X-Model-Version"] == "1"
    assert response.get_json() == {"format_version": 1, **report_doc()}


def test_report_of_the_version_being_served(repo, client, backend):
    write_report(repo / "digits" / "1", report_doc())
    response = client.get("/v1/models/digits/report")
    assert response.status_code == 200
    assert response.get_json()["model_version"] == 1
    assert ("status", "digits", None) in backend.calls  # the current version came from the backend


@pytest.mark.parametrize(
    "path, status, message",
    [
        ("/v1/models/digits/versions/1/report", 404, "model 'digits' version 1 has no training report"),
        ("/v1/models/digits/versions/7/report", 404, "model 'digits' has no version 7"),
        ("/v1/models/nope/versions/1/report", 404, "model 'nope' has no version 1"),
        ("/v1/models/..%2Fetc/versions/1/report", 404, None),
        ("/v1/models/digits/versions/-1/report", 404, None),
        ("/v1/models/nope/report", 404, "unknown model 'nope'"),
    ],
)
def test_report_not_found(client, path, status, message):
    response = client.get(path)
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error"}
    if message is not None:
        assert body["error"] == message


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[]", json.dumps({"format_version": 1}).encode(), json.dumps({"format_version": 99}).encode()],
)
def test_unreadable_report_is_503_without_details(repo, client, content):
    path = report_path(repo / "digits" / "1")
    path.write_bytes(content)
    response = client.get("/v1/models/digits/versions/1/report")
    assert response.status_code == 503
    assert response.get_json() == {"error": "the training report of model 'digits' version 1 is unreadable"}


def test_report_and_models_need_the_api_key_when_keys_are_set(repo, settings, backend):
    write_report(repo / "digits" / "1", report_doc())
    client = create_app(Settings(**{**settings.__dict__, "api_keys": (KEY,)}), backend).test_client()
    for path in ("/v1/models", "/v1/models/digits/versions/1/report"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"X-API-Key": KEY}).status_code == 200


def test_openapi_describes_the_catalog(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in ("/v1/models", "/v1/models/{name}/report", "/v1/models/{name}/versions/{version}/report", "/"):
        assert "get" in paths[path]
