"""No training/serving skew: every raw test input of each built-in data set, sent through
the gateway (real HTTP, gunicorn, the real model server), gets the label and the
probabilities the training job's own evaluation of the exported model gave it."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from tests.conftest import REPO_MODELS

BATCH = 128
assert {"digits", "breast_cancer", "iris", "wine"} <= set(REPO_MODELS)


@pytest.fixture(params=sorted(REPO_MODELS))
def result(request, model_repo):
    """Each data set the session's model repository was trained on."""
    return model_repo.results[request.param]


def class_probabilities(result) -> np.ndarray:
    p = np.asarray(result.test_probabilities, dtype=np.float64)
    return np.concatenate([1 - p, p], axis=1) if p.shape[1] == 1 else p


def test_v1_labels_and_probabilities_match_training(url, result):
    labels = list(result.metadata.labels)
    expected = class_probabilities(result)
    got_labels, got_probs = [], []
    for start in range(0, len(result.test_inputs), BATCH):
        chunk = result.test_inputs[start:start + BATCH]
        response = requests.post(
            f"{url}/v1/models/{result.name}:predict",
            json={"instances": chunk.tolist(), "top_k": len(labels)}, timeout=60,
        )
        assert response.status_code == 200, response.text
        assert response.headers["X-Model-Version"] == str(result.version)
        for p in response.json()["predictions"]:
            got_labels.append(p["label"])
            by_label = {t["label"]: t["probability"] for t in p["top_k"]}
            got_probs.append([by_label[label] for label in labels])
    assert len(got_labels) == len(result.test_inputs) > 0
    np.testing.assert_allclose(got_probs, expected, atol=1e-5)
    if result.metadata.output.units == 1:
        decoded = [labels[1] if p > 0.5 else labels[0] for p in result.test_probabilities[:, 0]]
    else:
        decoded = [labels[i] for i in np.argmax(result.test_probabilities, axis=1)]
    assert got_labels == decoded


def test_v2_probability_tensor_matches_training(url, result):
    got = []
    for start in range(0, len(result.test_inputs), BATCH):
        x = np.asarray(result.test_inputs[start:start + BATCH], dtype=np.float64)
        doc = {"inputs": [{"name": result.metadata.input.name, "shape": list(x.shape),
                           "datatype": "FP64", "data": x.ravel().tolist()}]}
        response = requests.post(f"{url}/v2/models/{result.name}/infer", json=doc, timeout=60)
        assert response.status_code == 200, response.text
        probs = next(o for o in response.json()["outputs"] if o["name"] == "probabilities")
        got.append(np.reshape(probs["data"], probs["shape"]))
    np.testing.assert_allclose(np.concatenate(got), result.test_probabilities, atol=1e-5)
