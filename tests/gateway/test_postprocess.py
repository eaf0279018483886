"""Decoding: argmax with ties to the lowest index, the sigmoid threshold, top_k, and 502s."""

from __future__ import annotations

import numpy as np
import pytest

from serving.gateway.errors import BackendBadResponse, BadRequest
from serving.gateway.postprocess import check_top_k, decode, predictions
from tests.gateway import support

SOFTMAX = support.image_metadata(labels=list("abcdefghij"))
SIGMOID = support.tabular_metadata()


def probs(*rows) -> dict[str, np.ndarray]:
    return {"probabilities": np.array(rows, dtype=np.float32)}


def test_softmax_argmax_and_ties_go_to_the_lowest_index():
    row1 = [0.05] * 10
    row1[3] = 0.55
    tie = [0.0] * 10
    tie[2] = tie[7] = 0.5
    decoded = decode(probs(row1, tie), SOFTMAX, 2)
    assert decoded.label_names == ["d", "c"]
    out = predictions(decoded, top_k=3)
    assert out[0]["label"] == "d" and out[0]["probability"] == np.float32(0.55)
    assert [t["label"] for t in out[1]["top_k"]] == ["c", "h", "a"]


def test_uniform_output_is_the_first_label_everywhere():
    decoded = decode(probs([0.1] * 10), SOFTMAX, 1)
    out = predictions(decoded, top_k=10)
    assert out[0]["label"] == "a"
    assert [t["label"] for t in out[0]["top_k"]] == list("abcdefghij")


@pytest.mark.parametrize(
    "p, label, probability",
    [(0.9, "benign", 0.9), (0.1, "malignant", 0.9), (0.5, "malignant", 0.5), (0.50000006, "benign", 0.50000006)],
)
def test_sigmoid_threshold_is_strictly_above_one_half(p, label, probability):
    decoded = decode(probs([p]), SIGMOID, 1)
    (out,) = predictions(decoded, top_k=2)
    assert out["label"] == label
    assert out["probability"] == pytest.approx(probability, abs=1e-7)
    assert out["top_k"][0]["label"] == label
    assert sum(t["probability"] for t in out["top_k"]) == pytest.approx(1.0)


def test_without_top_k_the_key_is_absent():
    (out,) = predictions(decode(probs([0.7]), SIGMOID, 1), top_k=None)
    assert set(out) == {"label", "probability"}


@pytest.mark.parametrize("k", [0, 11])
def test_top_k_beyond_the_labels_is_400(k):
    with pytest.raises(BadRequest, match="top_k: expected an integer between 1 and 10"):
        check_top_k(k, SOFTMAX)


@pytest.mark.parametrize(
    "outputs, batch, message",
    [
        ({"scores": np.zeros((1, 10), np.float32)}, 1, "without its 'probabilities' output"),
        ({"probabilities": np.zeros((2, 10), np.float32)}, 1, "shape [2, 10]; expected [1, 10]"),
        ({"probabilities": np.zeros((1, 9), np.float32)}, 1, "shape [1, 9]; expected [1, 10] for 10 labels"),
        ({"probabilities": np.zeros((10,), np.float32)}, 1, "shape [10]"),
        ({"probabilities": np.zeros((1, 10), np.int32)}, 1, "as int32, not floats"),
        ({"probabilities": np.full((1, 10), np.nan, np.float32)}, 1, "not probabilities"),
        ({"probabilities": np.full((1, 10), 3.0, np.float32)}, 1, "not probabilities"),
    ],
)
def test_nonsense_from_the_backend_is_502(outputs, batch, message):
    with pytest.raises(BackendBadResponse) as info:
        decode(outputs, SOFTMAX, batch)
    assert info.value.status_code == 502
    assert message in info.value.message


def test_a_sigmoid_model_answering_two_units_is_502():
    with pytest.raises(BackendBadResponse, match="expected \\[1, 1\\]"):
        decode(probs([0.3, 0.7]), SIGMOID, 1)


@pytest.mark.parametrize("size", [10, 640])  # the small (Python) and the large (numpy) check
def test_the_probability_range_check_is_float32s_at_both_sizes(size):
    from serving.gateway.postprocess import _all_probabilities

    edge_low, edge_high = np.float32(-1e-4), np.float32(1 + 1e-4)
    below = np.nextafter(edge_low, np.float32(-1))
    above = np.nextafter(edge_high, np.float32(2))
    for value, ok in [(edge_low, True), (edge_high, True), (below, False), (above, False),
                      (np.float32("nan"), False), (np.float32("inf"), False), (np.float32(0.5), True)]:
        probs = np.full(size, 0.5, np.float32)
        probs[size // 2] = value
        expected = bool(np.all((probs >= -1e-4) & (probs <= 1 + 1e-4)))  # the numpy definition
        assert expected == ok
        assert _all_probabilities(probs.reshape(-1, 10)) is ok
