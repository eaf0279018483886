"""The requests every server of a cell receives: the same raw instances for all of them.

HTTP servers get `{"instances": [...]}` with raw inputs as a client has them (nested
lists of integers in the input's shape, inside the range seen in training); the backend
alone gets the very batch the gateway would send it, normalized by `contract.normalize`
with the version's metadata.
"""

from __future__ import annotations

import numpy as np
import orjson

from contract import normalize
from protogen.contract.serving_metadata_pb2 import ServingMetadata


def raw_instances(meta: ServingMetadata, count: int, seed: int = 0) -> np.ndarray:
    """`count` raw instances (count, *input shape), integers within the training range."""
    shape = tuple(int(d) for d in meta.input.shape)
    low, high = meta.input.raw_range.min, meta.input.raw_range.max
    if not high > low:
        low, high = 0.0, 1.0
    rng = np.random.default_rng(seed)
    values = rng.integers(int(np.ceil(low)), int(np.floor(high)) + 1, size=(count, *shape))
    return values.astype(np.float64)


def predict_body(raw: np.ndarray) -> bytes:
    """The JSON body of a predict request carrying `raw` (integers stay integers)."""
    instances = raw.astype(np.int64).tolist() if np.all(raw == np.round(raw)) else raw.tolist()
    return orjson.dumps({"instances": instances})


def backend_batch(raw: np.ndarray, meta: ServingMetadata) -> np.ndarray:
    """What the gateway sends the model server for `raw`: the normalized float32 batch."""
    return normalize(raw, meta.normalization)
