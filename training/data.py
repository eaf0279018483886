"""Loading a data set into one shape: raw float64 inputs, integer labels, label names.

Built-ins ship inside scikit-learn (nothing is downloaded). User data comes from a CSV
file, an NPZ file, or an image folder `root/<class>/*.png|jpg`. Every loader returns a
`Dataset` whose inputs are exactly what a client would send the gateway (raw values);
normalization happens later, fitted on the training split only.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.config import TrainingConfig
from training.errors import DataError

IMAGE = "image"
TABULAR = "tabular"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Dataset:
    """A whole data set: x (N, *instance_shape) raw float64, y (N,) indices into labels."""

    x: np.ndarray
    y: np.ndarray
    labels: tuple[str, ...]
    kind: str
    feature_names: tuple[str, ...] = ()
    source: str = ""

    @property
    def instance_shape(self) -> tuple[int, ...]:
        """The shape of one example, without the batch axis."""
        return tuple(int(d) for d in self.x.shape[1:])

    @property
    def fingerprint(self) -> str:
        """sha256 over the raw inputs, their shape, the labels and the label names."""
        digest = hashlib.sha256()
        digest.update(json.dumps([list(self.x.shape), list(self.labels)]).encode())
        digest.update(np.ascontiguousarray(self.x, dtype="<f8").tobytes())
        digest.update(np.ascontiguousarray(self.y, dtype="<i8").tobytes())
        return digest.hexdigest()


def load_dataset(cfg: TrainingConfig) -> Dataset:
    """Load the configured data set and check it can be trained on."""
    if cfg.dataset == "csv":
        data = load_csv(Path(cfg.data_path), cfg.label_column)
    elif cfg.dataset == "npz":
        data = load_npz(Path(cfg.data_path))
    elif cfg.dataset == "images":
        data = load_image_folder(Path(cfg.data_path), cfg.image_height, cfg.image_width,
                                 cfg.color_mode)
    else:
        data = load_builtin(cfg.dataset)
    check_dataset(data)
    return data


def load_builtin(name: str) -> Dataset:
    """One of scikit-learn's bundled data sets (digits as 8x8x1 images with values 0-16)."""
    from sklearn import datasets

    loaders = {
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
    }
    if name not in loaders:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(loaders)}")
    bunch = loaders[name]()
    y = np.asarray(bunch.target, dtype=np.int64)
    if name == "digits":
        x = np.asarray(bunch.images, dtype=np.float64)[..., np.newaxis]
        labels = tuple(str(int(t)) for t in bunch.target_names)
        return Dataset(x, y, labels, IMAGE, source="scikit-learn digits")
    return Dataset(
        np.asarray(bunch.data, dtype=np.float64),
        y,
        tuple(str(t) for t in bunch.target_names),
        TABULAR,
        tuple(str(f) for f in bunch.feature_names),
        source=f"scikit-learn {name}",
    )


def encode_labels(raw: list[str] | np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map label values to indices; labels sort numerically when all are integers."""
    values = [str(v).strip() for v in np.asarray(raw).tolist()]
    unique = set(values)
    try:
        names = sorted(unique, key=lambda v: (int(v), v))
    except ValueError:
        names = sorted(unique)
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[v] for v in values], dtype=np.int64), tuple(names)


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise DataError(f"data_path {str(path)!r} does not exist")
    if not path.is_file():
        raise DataError(f"data_path {str(path)!r} is not a file ({what} expected)")


def load_csv(path: Path, label_column: str) -> Dataset:
    """A CSV with a header: `label_column` holds the labels, every other column a number."""
    _require_file(path, "a CSV file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read CSV {path}: {exc}") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise DataError(f"CSV {path} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if label_column not in header:
        raise DataError(
            f"CSV {path} has no label column {label_column!r} (columns: {', '.join(header)});"
            " set label_column"
        )
    if len(set(header)) != len(header):
        raise DataError(f"CSV {path} has duplicate column names")
    label_at = header.index(label_column)
    features = [i for i in range(len(header)) if i != label_at]
    if not features:
        raise DataError(f"CSV {path} has no feature columns besides {label_column!r}")
    x = np.empty((len(rows) - 1, len(features)), dtype=np.float64)
    raw_labels = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"CSV {path} line {line}: {len(row)} fields, header has {len(header)}")
        label = row[label_at].strip()
        if not label:
            raise DataError(f"CSV {path} line {line}: empty label")
        raw_labels.append(label)
        for j, col in enumerate(features):
            try:
                x[line - 2, j] = float(row[col])
            except ValueError:
                raise DataError(
                    f"CSV {path} line {line}: column {header[col]!r} is not a number:"
                    f" {row[col]!r}"
                ) from None
    y, labels = encode_labels(raw_labels)
    names = tuple(header[i] for i in features)
    return Dataset(x, y, labels, TABULAR, names, source=f"CSV {path}")


def load_npz(path: Path) -> Dataset:
    """An NPZ with `x` (N, F) tabular or (N, H, W[, C]) images, `y` labels, optional `labels`
    (names indexed by integer `y`) and `feature_names`."""
    _require_file(path, "an NPZ file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read NPZ {path}: {exc}") from None
    for key in ("x", "y"):
        if key not in arrays:
            raise DataError(f"NPZ {path} has no array {key!r} (it has {', '.join(arrays)})")
    x, raw_y = arrays["x"], arrays["y"]
    if x.dtype.kind not in "biuf":
        raise DataError(f"NPZ {path}: x must be numeric, not {x.dtype}")
    if raw_y.ndim != 1 or len(raw_y) != len(x):
        raise DataError(f"NPZ {path}: y must be one label per row of x ({len(x)})")
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim not in (2, 4):
        raise DataError(f"NPZ {path}: x must be (N, F), (N, H, W) or (N, H, W, C), not {x.shape}")
    kind = TABULAR if x.ndim == 2 else IMAGE
    if "labels" in arrays:
        names = tuple(str(v) for v in arrays["labels"].tolist())
        if raw_y.dtype.kind not in "iu" or raw_y.min() < 0 or raw_y.max() >= len(names):
            raise DataError(f"NPZ {path}: with 'labels', y must be integers in [0, {len(names)})")
        if len(set(names)) != len(names):
            raise DataError(f"NPZ {path}: 'labels' must be distinct")
        used = np.unique(raw_y)
        y, labels = np.searchsorted(used, raw_y).astype(np.int64), tuple(names[i] for i in used)
    else:
        y, labels = encode_labels(raw_y)
    feature_names: tuple[str, ...] = ()
    if kind == TABULAR:
        if "feature_names" in arrays:
            feature_names = tuple(str(v) for v in arrays["feature_names"].tolist())
            if len(feature_names) != x.shape[1] or len(set(feature_names)) != len(feature_names):
                raise DataError(f"NPZ {path}: feature_names must be {x.shape[1]} distinct names")
        else:
            feature_names = tuple(f"feature_{i}" for i in range(x.shape[1]))
    return Dataset(x.astype(np.float64), y, labels, kind, feature_names, source=f"NPZ {path}")


def load_image_folder(root: Path, height: int, width: int, color_mode: str) -> Dataset:
    """Images under root/<class>/, resized to height x width, grayscale or RGB, values 0-255."""
    from PIL import Image, UnidentifiedImageError

    if not root.exists():
        raise DataError(f"data_path {str(root)!r} does not exist")
    if not root.is_dir():
        raise DataError(f"data_path {str(root)!r} is not a folder (root/<class>/*.png expected)")
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    mode = "L" if color_mode == "grayscale" else "RGB"
    images, targets, labels = [], [], []
    for klass in classes:
        files = sorted(
            p for p in klass.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            continue
        labels.append(klass.name)
        for file in files:
            try:
                with Image.open(file) as img:
                    img = img.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
                    images.append(np.asarray(img, dtype=np.float64))
            except (OSError, UnidentifiedImageError):
                raise DataError(f"cannot read image {file}") from None
            targets.append(len(labels) - 1)
    if not images:
        raise DataError(f"no images in {root} (expected root/<class>/*.png or *.jpg)")
    x = np.stack(images)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    y = np.asarray(targets, dtype=np.int64)
    return Dataset(x, y, tuple(labels), IMAGE, source=f"image folder {root}")


def check_dataset(data: Dataset) -> None:
    """Refuse data a classifier cannot be trained on: NaN, one class, empty."""
    if len(data.x) == 0:
        raise DataError(f"{data.source} holds no examples")
    finite = np.isfinite(data.x)
    if not finite.all():
        if data.kind == TABULAR:
            bad = data.feature_names[int(np.where(~finite.all(axis=0))[0][0])]
            raise DataError(f"{data.source}: feature {bad!r} has NaN or infinite values")
        raise DataError(f"{data.source}: inputs have NaN or infinite values")
    present = np.unique(data.y)
    if len(present) < 2:
        only = data.labels[int(present[0])] if len(present) else "none"
        raise DataError(f"{data.source} has fewer than two classes (only {only!r})")


@dataclass(frozen=True)
class Split:
    """One part of the data set, with the positions of its examples in the whole."""

    x: np.ndarray
    y: np.ndarray
    index: np.ndarray


@dataclass(frozen=True)
class Splits:
    """The seeded, stratified train / validation / test partition."""

    train: Split
    validation: Split
    test: Split


def minimum_per_class(validation_fraction: float, test_fraction: float) -> int:
    """The fewest examples a class needs so that every split gets at least one of it."""
    smallest = min(validation_fraction, test_fraction, 1 - validation_fraction - test_fraction)
    return max(3, math.ceil(1 / smallest))


def split_dataset(data: Dataset, validation_fraction: float, test_fraction: float,
                  seed: int) -> Splits:
    """Partition stratified by class with `seed`; every class lands in every split."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(data.y, minlength=len(data.labels))
    needed = minimum_per_class(validation_fraction, test_fraction)
    for label, count in zip(data.labels, counts):
        if 0 < count < needed:
            raise DataError(
                f"class {label!r} has {count} examples; with validation_fraction"
                f" {validation_fraction:g} and test_fraction {test_fraction:g} every class"
                f" needs at least {needed}"
            )
    index = np.arange(len(data.y))
    try:
        rest, test = train_test_split(
            index, test_size=test_fraction, stratify=data.y, random_state=seed
        )
        train, val = train_test_split(
            rest,
            test_size=validation_fraction / (1 - test_fraction),
            stratify=data.y[rest],
            random_state=seed,
        )
    except ValueError as exc:  # sklearn's own refusal, e.g. a split smaller than the classes
        raise DataError(f"cannot split {data.source}: {exc}") from None
    parts = []
    for part in (np.sort(train), np.sort(val), np.sort(test)):
        parts.append(Split(data.x[part], data.y[part], part))
    return Splits(*parts)
