"""Raw instances to the model's float32 input, with the contract of the version that answers.

Normalization is `contract.normalize`: the very function the training job used on its
splits, so a model sees bit-identical inputs from training and from the gateway.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from contract import normalize
from protogen.contract.serving_metadata_pb2 import ServingMetadata
from serving.gateway.errors import BadRequest
from serving.gateway.instances import to_raw_batch
from serving.gateway.numeric_json import NumericInstances

# Normalized values beyond this many scales from the training data cannot be meant;
# refusing them keeps float32 overflow (inf/NaN probabilities) away from the model.
MAX_NORMALIZED = 1e6


def prepare_instances(
    instances: list | NumericInstances, meta: ServingMetadata, max_image_pixels: int
) -> np.ndarray:
    """`instances` of a predict body (either form) as the normalized float32 batch (n, *shape)."""
    raw = to_raw_batch(instances, meta.input, max_image_pixels)
    return normalize_checked(raw, meta, lambda i: f"instances[{i}]")


def normalize_checked(
    raw: np.ndarray, meta: ServingMetadata, field: Callable[[int], str]
) -> np.ndarray:
    """Normalize a raw float64 batch; 400 naming the instance if a value is absurdly far out."""
    out = normalize(raw, meta.normalization)
    bad = ~(np.abs(out) <= MAX_NORMALIZED)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        value = float(raw[where])
        detail = "".join(f"[{i}]" for i in where[1:])
        seen = meta.input.raw_range
        raise BadRequest(
            f"{field(where[0])}{detail}: {value:g} is far outside the range seen in training "
            f"({seen.min:g} to {seen.max:g})"
        )
    return out
