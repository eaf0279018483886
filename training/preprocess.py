"""Preprocessing fitted on the training split only, expressed in the contract's terms.

The fitted `Normalization` message goes into serving_metadata.json unchanged, and the
inputs the model trains on come from `contract.normalize`, the very function the gateway
calls: training and serving cannot drift apart.
"""

from __future__ import annotations

import numpy as np

from contract import normalize
from protogen.contract.serving_metadata_pb2 import Normalization
from training.data import IMAGE

# A feature whose spread on the training split is below this is treated as constant:
# it is centred but not divided by (almost) zero.
MIN_SCALE = 1e-12


def fit_normalization(x_train: np.ndarray, kind: str) -> Normalization:
    """Images: rescale by the raw range (so values land in 0-1). Tabular: standardize
    each feature (mean, standard deviation; a constant feature gets scale 1)."""
    if kind == IMAGE:
        low, high = float(x_train.min()), float(x_train.max())
        span = high - low
        return Normalization(
            method=Normalization.RESCALE,
            offset=[low],
            scale=[span if span > MIN_SCALE else 1.0],
        )
    mean = x_train.mean(axis=0, dtype=np.float64)
    std = x_train.std(axis=0, dtype=np.float64)
    std = np.where(std > MIN_SCALE, std, 1.0)
    return Normalization(
        method=Normalization.STANDARDIZE, offset=mean.tolist(), scale=std.tolist()
    )


def apply_normalization(x: np.ndarray, norm: Normalization) -> np.ndarray:
    """The model's float32 inputs for raw `x`: the contract's normalization, nothing else."""
    return normalize(x, norm)


def encode_targets(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Training targets: 0/1 in a column for two classes (sigmoid), one-hot otherwise."""
    if num_classes == 2:
        return y.astype(np.float32).reshape(-1, 1)
    return np.eye(num_classes, dtype=np.float32)[y]
