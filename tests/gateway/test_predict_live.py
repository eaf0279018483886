"""Predictions through the app with the real model server and really trained models:
every instance form gives the model's answer for the normalized input, with the labels
of the version that answered."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits(model_repo):
    return model_repo.results["digits"]


@pytest.fixture(scope="module")
def cancer(model_repo):
    return model_repo.results["breast_cancer"]


def predict(client, model, instances, path=None, **extra):
    response = client.post(path or f"/v1/models/{model}:predict", json={"instances": instances, **extra})
    assert response.status_code == 200, response.get_json()
    return response


def probabilities_of(body, labels):
    """The class probabilities of each prediction, from its full top_k."""
    out = []
    for p in body["predictions"]:
        by_label = {t["label"]: t["probability"] for t in p["top_k"]}
        out.append([by_label[label] for label in labels])
    return np.array(out)


def test_digits_answer_as_the_exported_model_did_in_training(live_client, digits):
    raw = digits.test_inputs[:16]
    labels = list(digits.metadata.labels)
    body = predict(live_client, "digits", raw.tolist(), top_k=len(labels)).get_json()
    assert body["model"] == "digits" and body["model_version"] == str(digits.version)
    np.testing.assert_allclose(probabilities_of(body, labels), digits.test_probabilities[:16], atol=1e-5)
    expected = [labels[i] for i in digits.test_probabilities[:16].argmax(axis=1)]
    assert [p["label"] for p in body["predictions"]] == expected


@pytest.mark.parametrize("form", ["flat", "hxw"])
def test_other_numeric_forms_give_the_same_answer(live_client, digits, form):
    raw = digits.test_inputs[:4]
    reshaped = raw.reshape(4, -1) if form == "flat" else raw[..., 0]
    a = predict(live_client, "digits", raw.tolist(), top_k=3).get_json()
    b = predict(live_client, "digits", reshaped.tolist(), top_k=3).get_json()
    assert a == b


def test_a_png_gives_the_answer_for_its_pixel_values(live_client, digits):
    """An image's 0-255 intensities map linearly onto the training range (0-16 for digits)."""
    raw = digits.test_inputs[0, ..., 0]
    pixels = np.round(raw / 16 * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    b64 = base64.b64encode(buf.getvalue()).decode()
    as_image = predict(live_client, "digits", [{"b64": b64}], top_k=10).get_json()
    as_numbers = predict(live_client, "digits", [(pixels.astype(np.float64) * 16 / 255).tolist()], top_k=10).get_json()
    assert as_image["predictions"][0]["label"] == as_numbers["predictions"][0]["label"]
    labels = list(digits.metadata.labels)
    np.testing.assert_allclose(probabilities_of(as_image, labels), probabilities_of(as_numbers, labels), atol=1e-6)


def test_named_features_equal_positional_ones(live_client, cancer):
    names = list(cancer.metadata.input.feature_names)
    rows = cancer.test_inputs[:5]
    named = [dict(zip(names, map(float, row))) for row in rows]
    a = predict(live_client, "breast_cancer", rows.tolist(), top_k=2).get_json()
    b = predict(live_client, "breast_cancer", named, top_k=2).get_json()
    assert a == b
    labels = list(cancer.metadata.labels)
    p1 = cancer.test_probabilities[:5, 0]
    assert [p["label"] for p in a["predictions"]] == [labels[1] if p > 0.5 else labels[0] for p in p1]
    np.testing.assert_allclose([p["probability"] for p in a["predictions"]], np.maximum(p1, 1 - p1), atol=1e-5)


def test_the_versioned_path_pins_the_version(live_client, digits):
    path = f"/v1/models/digits/versions/{digits.version}:predict"
    response = predict(live_client, "digits", digits.test_inputs[:1].tolist(), path=path)
    assert response.headers["X-Model-Version"] == str(digits.version)


def test_status_and_metadata(live_client, digits):
    status = live_client.get("/v1/models/digits").get_json()
    assert {"version": str(digits.version), "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}} in status["model_version_status"]
    meta = live_client.get("/v1/models/digits/metadata").get_json()
    assert meta["labels"] == list(digits.metadata.labels)
    assert meta["input"]["shape"] == [8, 8, 1] and meta["input"]["kind"] == "IMAGE"
    assert meta["signature"]["inputs"] == {"pixels": {"dtype": "float32", "shape": [-1, 8, 8, 1]}}
    assert meta["signature"]["outputs"]["probabilities"]["shape"] == [-1, 10]
    assert "accuracy" in meta["training"]["test_metrics"]


def test_v2_infer_matches_v1(live_client, digits):
    raw = digits.test_inputs[:3]
    v1 = predict(live_client, "digits", raw.tolist()).get_json()
    doc = {"inputs": [{"name": "pixels", "shape": [3, 8, 8, 1], "datatype": "FP32", "data": raw.ravel().tolist()}]}
    v2 = live_client.post("/v2/models/digits/infer", json=doc).get_json()
    probs, label = v2["outputs"]
    assert label["data"] == [p["label"] for p in v1["predictions"]]
    np.testing.assert_allclose(np.reshape(probs["data"], (3, 10)), digits.test_probabilities[:3], atol=1e-5)


def test_readiness_with_the_real_backend(live_client):
    body = live_client.get("/readyz").get_json()
    assert body["ready"] is True and {"digits", "breast_cancer"} <= set(body["models"])
