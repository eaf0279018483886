"""The in-process baselines answer like the model: same labels as the exported SavedModel."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["savedmodel", "tutorial"])
def client(request, model_repo):
    if request.param == "savedmodel":
        from bench.baselines.savedmodel_app import create_app
    else:
        from bench.baselines.tutorial_app import create_app
    return create_app(model_repo.models_dir, ["digits"]).test_client()


def post(client, body, model="digits"):
    return client.post(f"/v1/models/{model}:predict", data=orjson.dumps(body),
                       content_type="application/json")


def test_labels_are_the_exported_models_top1(client, digits):
    raw = digits.test_inputs[:16]
    response = post(client, {"instances": raw.tolist()})
    assert response.status_code == 200
    predictions = response.get_json()["predictions"]
    expected = digits.test_probabilities[:16]
    labels = list(digits.metadata.labels)
    assert [p["label"] for p in predictions] == [labels[i] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose([p["probability"] for p in predictions], expected.max(axis=1), rtol=1e-5)


def test_flat_instances_are_reshaped(client, digits):
    raw = digits.test_inputs[:2].reshape(2, -1)
    response = post(client, {"instances": raw.tolist()})
    assert response.status_code == 200 and len(response.get_json()["predictions"]) == 2


@pytest.mark.parametrize("body", [{"instances": []}, {"instances": [[1, 2, 3]]}, {"rows": [1]}, [1, 2]])
def test_bad_bodies_are_400(client, body):
    response = post(client, body)
    assert response.status_code == 400
    assert "instances" in response.get_json()["error"]


def test_unknown_model_is_404(client):
    assert post(client, {"instances": [[0] * 64]}, model="nope").status_code == 404
