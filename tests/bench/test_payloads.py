"""The request bodies: raw instances within the training range, in the input's shape."""

from __future__ import annotations

import numpy as np
import orjson

from bench.payloads import backend_batch, predict_body, raw_instances
from contract import normalize
from tests.bench.support import image_meta as image_metadata


def test_raw_instances_are_integers_within_the_training_range():
    meta = image_metadata()  # 8x8x1, raw 0-16
    raw = raw_instances(meta, 32, seed=1)
    assert raw.shape == (32, 8, 8, 1)
    assert raw.min() >= 0 and raw.max() <= 16
    assert np.array_equal(raw, np.round(raw))
    assert np.array_equal(raw, raw_instances(meta, 32, seed=1))  # deterministic


def test_body_carries_the_instances_as_integers():
    meta = image_metadata()
    raw = raw_instances(meta, 2)
    doc = orjson.loads(predict_body(raw))
    assert list(doc) == ["instances"]
    assert np.array_equal(np.array(doc["instances"]), raw)
    assert isinstance(doc["instances"][0][0][0][0], int)


def test_backend_batch_is_what_the_gateway_sends():
    meta = image_metadata()
    raw = raw_instances(meta, 3)
    batch = backend_batch(raw, meta)
    assert batch.dtype == np.float32
    assert np.array_equal(batch, normalize(raw, meta.normalization))
