"""Loading data sets (built-in, CSV, NPZ, image folders) and the seeded stratified split."""

import numpy as np
import pytest

from tests.training.conftest import write_csv, write_image_folder
from training.config import build_config
from training.data import (
    IMAGE,
    TABULAR,
    Dataset,
    encode_labels,
    load_builtin,
    load_csv,
    load_dataset,
    load_image_folder,
    load_npz,
    split_dataset,
)
from training.errors import DataError


def test_digits_are_8x8x1_images_with_raw_values_0_to_16():
    data = load_builtin("digits")
    assert data.kind == IMAGE
    assert data.x.shape == (1797, 8, 8, 1) and data.x.dtype == np.float64
    assert (data.x.min(), data.x.max()) == (0.0, 16.0)
    assert data.labels == tuple(str(i) for i in range(10))


@pytest.mark.parametrize(
    "name, shape, labels",
    [
        ("iris", (150, 4), ("setosa", "versicolor", "virginica")),
        ("wine", (178, 13), ("class_0", "class_1", "class_2")),
        ("breast_cancer", (569, 30), ("malignant", "benign")),
    ],
)
def test_tabular_builtins_keep_scikit_learns_names(name, shape, labels):
    data = load_builtin(name)
    assert data.kind == TABULAR and data.x.shape == shape and data.labels == labels
    assert len(data.feature_names) == shape[1] and len(set(data.feature_names)) == shape[1]
    assert set(np.unique(data.y)) == set(range(len(labels)))


def test_integer_labels_sort_numerically_and_strings_alphabetically():
    y, labels = encode_labels(["10", "2", "2", "1"])
    assert labels == ("1", "2", "10") and y.tolist() == [2, 1, 1, 0]
    y, labels = encode_labels(["b", "a", "c", "a"])
    assert labels == ("a", "b", "c") and y.tolist() == [1, 0, 2, 0]


def test_csv_header_names_become_feature_names(iris_csv):
    data = load_csv(iris_csv, "species")
    assert data.kind == TABULAR and data.x.shape == (150, 4)
    assert data.feature_names == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    assert data.labels == ("setosa", "versicolor", "virginica")
    np.testing.assert_array_equal(data.x, load_builtin("iris").x)
    np.testing.assert_array_equal(data.y, load_builtin("iris").y)


def test_csv_label_column_can_be_anywhere_and_labels_integers(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["klass", "a", "b"],
                     [[3, 1.0, 2.0], [1, 3.0, 4.5], [3, -1, 0]])
    data = load_csv(path, "klass")
    assert data.feature_names == ("a", "b") and data.labels == ("1", "3")
    assert data.y.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(data.x, [[1, 2], [3, 4.5], [-1, 0]])


@pytest.mark.parametrize(
    "header, rows, message",
    [
        (["a", "b"], [[1, 2]], "no label column 'label' (columns: a, b); set label_column"),
        (["a", "label"], [["x", "cat"]], "line 2: column 'a' is not a number: 'x'"),
        (["a", "label"], [[1, "cat"], [2]], "line 3: 1 fields, header has 2"),
        (["a", "label"], [[1, ""]], "line 2: empty label"),
        (["label"], [["cat"]], "no feature columns"),
        (["a", "a", "label"], [[1, 2, "x"]], "duplicate column names"),
    ],
)
def test_bad_csv_files(tmp_path, header, rows, message):
    path = write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(DataError, match=None) as info:
        load_csv(path, "label")
    assert message in str(info.value)


def test_nan_features_are_refused_by_name(tmp_path):
    path = write_csv(tmp_path / "nan.csv", ["a", "b", "label"],
                     [[1, 2, "x"], [3, "nan", "y"], [1, 2, "x"]])
    cfg = build_config({"dataset": "csv", "data_path": str(path)})
    with pytest.raises(DataError, match="feature 'b' has NaN or infinite values"):
        load_dataset(cfg)


def test_one_class_is_refused(tmp_path):
    path = write_csv(tmp_path / "one.csv", ["a", "label"], [[1, "x"], [2, "x"]])
    cfg = build_config({"dataset": "csv", "data_path": str(path)})
    with pytest.raises(DataError, match="fewer than two classes"):
        load_dataset(cfg)


@pytest.mark.parametrize("dataset", ["csv", "npz", "images"])
def test_missing_paths(tmp_path, dataset):
    cfg = build_config({"dataset": dataset, "data_path": str(tmp_path / "nothing")})
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(cfg)


def test_npz_tabular_with_label_names(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 2, 0, 2, 0, 2]),
             labels=np.array(["cat", "dog", "eel"]), feature_names=np.array(["w", "h"]))
    data = load_npz(tmp_path / "d.npz")
    assert data.kind == TABULAR and data.feature_names == ("w", "h")
    assert data.labels == ("cat", "eel") and data.y.tolist() == [0, 1, 0, 1, 0, 1]


def test_npz_images_get_a_channel_axis_and_default_names(tmp_path):
    np.savez(tmp_path / "i.npz", x=np.zeros((4, 5, 6), np.uint8), y=np.array(["a", "b"] * 2))
    data = load_npz(tmp_path / "i.npz")
    assert data.kind == IMAGE and data.x.shape == (4, 5, 6, 1) and data.labels == ("a", "b")
    np.savez(tmp_path / "t.npz", x=np.zeros((4, 3)), y=np.array([1, 2, 1, 2]))
    assert load_npz(tmp_path / "t.npz").feature_names == ("feature_0", "feature_1", "feature_2")


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((2, 2))}, "no array 'y'"),
        ({"x": np.zeros((2, 2)), "y": np.zeros(3)}, "one label per row"),
        ({"x": np.array([["a", "b"]] * 2), "y": np.zeros(2)}, "x must be numeric"),
        ({"x": np.zeros((2, 2)), "y": np.array([0, 5]), "labels": np.array(["a", "b"])},
         "integers in [0, 2)"),
    ],
)
def test_bad_npz_files(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as info:
        load_npz(tmp_path / "bad.npz")
    assert message in str(info.value)


def test_image_folder_grayscale_and_rgb(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=3, size=16)
    (root / "notes.txt").write_text("ignored")
    (root / "digit_0" / "readme.md").write_text("ignored")
    gray = load_image_folder(root, 8, 10, "grayscale")
    assert gray.kind == IMAGE and gray.x.shape == (9, 8, 10, 1)
    assert gray.labels == ("digit_0", "digit_1", "digit_7")
    assert gray.y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert 0 <= gray.x.min() and gray.x.max() <= 255
    rgb = load_image_folder(root, 16, 16, "rgb")
    assert rgb.x.shape == (9, 16, 16, 3)


def test_unreadable_image_is_named(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=2)
    (root / "digit_1" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        load_image_folder(root, 8, 8, "grayscale")


def test_fingerprint_is_stable_and_sensitive():
    a, b = load_builtin("iris"), load_builtin("iris")
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    x = a.x.copy()
    x[0, 0] += 0.1
    assert Dataset(x, a.y, a.labels, a.kind, a.feature_names).fingerprint != a.fingerprint


def test_split_is_stratified_disjoint_complete_and_seeded():
    data = load_builtin("wine")
    splits = split_dataset(data, 0.1, 0.2, seed=0)
    parts = [splits.train.index, splits.validation.index, splits.test.index]
    joined = np.concatenate(parts)
    assert len(joined) == len(set(joined.tolist())) == len(data.y)
    assert [len(p) for p in parts] == [124, 18, 36]
    share = np.bincount(data.y) / len(data.y)
    for part in (splits.train, splits.validation, splits.test):
        assert set(np.unique(part.y)) == {0, 1, 2}
        assert np.abs(np.bincount(part.y) / len(part.y) - share).max() < 0.06
        np.testing.assert_array_equal(part.x, data.x[part.index])
    again = split_dataset(data, 0.1, 0.2, seed=0)
    np.testing.assert_array_equal(again.test.index, splits.test.index)
    other = split_dataset(data, 0.1, 0.2, seed=1)
    assert not np.array_equal(other.test.index, splits.test.index)


def test_a_class_too_small_for_the_split_is_refused():
    x = np.zeros((25, 2))
    y = np.array([0] * 12 + [1] * 9 + [2] * 4)
    data = Dataset(x, y, ("a", "b", "c"), TABULAR, ("f", "g"), source="test data")
    with pytest.raises(DataError, match="class 'b' has 9 examples.*needs at least 10"):
        split_dataset(data, 0.1, 0.2, seed=0)
