"""Preprocessing: fitted on the given (training) rows, expressed as the contract's
normalization, applied by the contract's own function."""

import numpy as np

from contract import normalize
from protogen.contract.serving_metadata_pb2 import Normalization
from training.data import IMAGE, TABULAR
from training.preprocess import apply_normalization, encode_targets, fit_normalization


def test_images_are_rescaled_by_their_raw_range_into_0_1():
    x = np.random.default_rng(0).uniform(3, 19, size=(50, 8, 8, 1))
    norm = fit_normalization(x, IMAGE)
    assert norm.method == Normalization.RESCALE
    assert list(norm.offset) == [x.min()] and list(norm.scale) == [x.max() - x.min()]
    out = apply_normalization(x, norm)
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0


def test_tabular_features_are_standardized_per_feature():
    rng = np.random.default_rng(1)
    x = rng.normal([5, -100, 0.01], [2, 30, 0.001], size=(400, 3))
    norm = fit_normalization(x, TABULAR)
    assert norm.method == Normalization.STANDARDIZE
    np.testing.assert_allclose(norm.offset, x.mean(axis=0))
    np.testing.assert_allclose(norm.scale, x.std(axis=0))
    out = apply_normalization(x, norm)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-4)


def test_a_constant_feature_is_centred_not_divided_by_zero():
    x = np.array([[1.0, 7.0], [3.0, 7.0], [5.0, 7.0]])
    norm = fit_normalization(x, TABULAR)
    assert list(norm.scale)[1] == 1.0
    out = apply_normalization(np.array([[2.0, 9.0]]), norm)
    assert np.isfinite(out).all() and out[0, 1] == 2.0


def test_a_blank_image_set_gets_scale_one():
    norm = fit_normalization(np.full((3, 2, 2, 1), 4.0), IMAGE)
    assert list(norm.offset) == [4.0] and list(norm.scale) == [1.0]


def test_training_applies_exactly_the_contracts_normalization():
    x = np.random.default_rng(2).uniform(0, 16, size=(10, 4))
    norm = fit_normalization(x[:5], TABULAR)
    np.testing.assert_array_equal(apply_normalization(x, norm), normalize(x, norm))


def test_targets_one_column_for_two_classes_one_hot_otherwise():
    two = encode_targets(np.array([0, 1, 1]), 2)
    assert two.shape == (3, 1) and two[:, 0].tolist() == [0, 1, 1]
    three = encode_targets(np.array([2, 0]), 3)
    assert three.tolist() == [[0, 0, 1], [1, 0, 0]] and three.dtype == np.float32
