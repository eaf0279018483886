"""Normalization: the contract's function, applied with the answering version's metadata."""

from __future__ import annotations

import numpy as np
import pytest

from contract import normalize
from serving.gateway.errors import BadRequest
from serving.gateway.preprocess import prepare_instances
from tests.gateway import support


def test_instances_are_normalized_by_the_contract_function_bit_for_bit():
    meta = support.tabular_metadata()
    rows = [[12.5, 19.1, 480.0], [20.0, 30.0, 1500.0]]
    out = prepare_instances(rows, meta, 1)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, normalize(np.array(rows), meta.normalization))


def test_named_and_positional_instances_normalize_identically():
    meta = support.tabular_metadata()
    named = {"mean radius": 12.5, "mean texture": 19.1, "mean area": 480.0}
    out = prepare_instances([named, [12.5, 19.1, 480.0]], meta, 1)
    np.testing.assert_array_equal(out[0], out[1])


def test_image_rescale():
    meta = support.image_metadata()
    out = prepare_instances([[16.0] * 64], meta, 1)
    assert out.shape == (1, 8, 8, 1)
    np.testing.assert_array_equal(out, np.ones((1, 8, 8, 1), np.float32))


@pytest.mark.parametrize("value", [3e38, -1e30, 1e9])
def test_values_absurdly_far_from_training_are_400_not_a_model_overflow(value):
    meta = support.image_metadata()  # scale 16: 1e9 is 6e7 ranges out
    with pytest.raises(BadRequest, match=r"instances\[1\]\[0\]\[2\]\[0\]: .* is far outside the range seen in training \(0 to 16\)"):
        prepare_instances([[0.0] * 64, [0, 0, value] + [0.0] * 61], meta, 1)
