"""The one normalization used by training and serving alike."""

from __future__ import annotations

import numpy as np

from protogen.contract.serving_metadata_pb2 import Normalization


def normalize(raw: np.ndarray, norm: Normalization) -> np.ndarray:
    """Map raw inputs (batch, *shape) to the model's float32 inputs.

    normalized = (raw - offset) / scale, in float64, then cast to float32: the training
    job and the gateway both call this, so a model sees bit-identical inputs from both.
    `offset` and `scale` broadcast over the last axis (one value per feature) or are
    scalars (one value for every element, as for images).
    """
    offset = np.asarray(norm.offset, dtype=np.float64)
    scale = np.asarray(norm.scale, dtype=np.float64)
    if offset.size == 1:
        offset, scale = offset[0], scale[0]
    out = (np.asarray(raw, dtype=np.float64) - offset) / scale
    return out.astype(np.float32)
