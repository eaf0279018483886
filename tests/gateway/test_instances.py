"""Request bodies to raw batches: every accepted instance form, and every bad one named."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from serving.gateway.errors import BadRequest
from serving.gateway.instances import parse_predict_body, to_raw_batch
from tests.gateway import support

IMAGE = support.image_metadata().input
TABULAR = support.tabular_metadata().input
DIGIT = np.arange(64, dtype=np.float64).reshape(8, 8, 1) % 17


def body(doc) -> bytes:
    return orjson.dumps(doc)


def raw(instances, spec=IMAGE) -> np.ndarray:
    return to_raw_batch(instances, spec, max_image_pixels=10_000)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "request body is empty"),
        (b"{", "request body is not valid JSON"),
        (b"{'instances': []}", "request body is not valid JSON"),
        (b"[" * 2000 + b"]" * 2000, "request body is not valid JSON: depth limit exceeded"),
        (b"[1e999]", "request body is not valid JSON"),
        (b"NaN", "request body is not valid JSON"),
        (b'{"instances": [[NaN]]}', "request body is not valid JSON"),
        (b'{"instances": [[Infinity]]}', "request body is not valid JSON"),
        (b'"\\ud800"', "request body is not valid JSON"),
        (body([1, 2]), 'request body: expected a JSON object with "instances", got a list'),
        (body({}), 'missing field "instances"'),
        (body({"instances": [[1]], "extra": 1}), "unknown field 'extra'"),
        (body({"inputs": [[1]]}), "unknown field 'inputs'"),
        (body({"instances": {"a": 1}}), "instances: expected a list of instances, got an object"),
        (body({"instances": []}), "instances is empty"),
        (body({"instances": [[0]] * 9}), "instances: 9 instances exceed the limit of 8 per request"),
        (body({"instances": [[0]], "top_k": 0}), "top_k: expected a positive integer, got 0"),
        (body({"instances": [[0]], "top_k": True}), "top_k: expected a positive integer, got true"),
        (body({"instances": [[0]], "top_k": 1.5}), "top_k: expected a positive integer, got 1.5"),
        (body({"instances": [[0]], "top_k": "3"}), 'top_k: expected a positive integer, got "3"'),
    ],
)
def test_bad_bodies_are_400_with_the_field(data, message):
    with pytest.raises(BadRequest) as info:
        parse_predict_body(data, max_instances=8)
    assert message in info.value.message


def test_a_valid_body():
    parsed = parse_predict_body(body({"instances": [[1, 2]], "top_k": 2}), max_instances=8)
    assert parsed.instances == [[1, 2]] and parsed.top_k == 2
    assert parse_predict_body(body({"instances": [[1]], "top_k": None}), 8).top_k is None


@pytest.mark.parametrize(
    "instance",
    [
        DIGIT.tolist(),  # the input's shape
        DIGIT.ravel().tolist(),  # flat
        DIGIT[..., 0].tolist(),  # H×W for a one-channel image
        DIGIT.astype(int).tolist(),  # integers
    ],
    ids=["nested", "flat", "hxw", "ints"],
)
def test_image_forms_give_the_same_raw_values(instance):
    out = raw([instance, instance])
    assert out.shape == (2, 8, 8, 1) and out.dtype == np.float64
    np.testing.assert_array_equal(out[1], DIGIT)


def test_mixed_forms_in_one_batch():
    out = raw([DIGIT.tolist(), DIGIT.ravel().tolist(), DIGIT[..., 0].tolist()])
    assert all((out[i] == DIGIT).all() for i in range(3))


def test_named_features_are_put_in_column_order():
    inst = {"mean area": 500.0, "mean radius": 12, "mean texture": 20.5}
    out = raw([inst, [12, 20.5, 500.0]], TABULAR)
    np.testing.assert_array_equal(out, [[12, 20.5, 500], [12, 20.5, 500]])


ROW = DIGIT.ravel().tolist()


@pytest.mark.parametrize(
    "instances, spec, message",
    [
        ([ROW[:63]], IMAGE, "instances[0]: expected 64 values, got 63"),
        ([ROW, ROW, ROW, ROW[:-1]], IMAGE, "instances[3]: expected 64 values, got 63"),
        ([[ROW[:8]] * 7], IMAGE, "instances[0]: expected shape [8, 8, 1] or [8, 8] (or 64 flat values), got shape [7, 8]"),
        ([[ROW[:8]] * 7 + [ROW[:7]]], IMAGE, "instances[0][7]: ragged rows: 7 values where instances[0][0] has 8"),
        ([[ROW[:8]] * 7 + [3]], IMAGE, "instances[0][7]: ragged rows: a number where instances[0][0] is a list"),
        ([ROW[:-1] + ["7"]], IMAGE, "instances[0][63]: expected a number, got a string"),
        ([ROW[:-1] + [None]], IMAGE, "instances[0][63]: expected a number, got null"),
        ([ROW[:-1] + [True]], IMAGE, "instances[0][63]: expected a number, got a boolean"),
        ([ROW, ROW[:-1] + [False]], IMAGE, "instances[1][63]: expected a number, got a boolean"),
        ([ROW[:-1] + [{"a": 1}]], IMAGE, "instances[0][63]: expected a number, got an object"),
        ([ROW[:-1] + [1e39]], IMAGE, "instances[0][63]: 1e+39 is not a finite float32 value"),
        ([ROW, ROW[:-1] + [-1e39]], IMAGE, "instances[1][63]: -1e+39 is not a finite float32 value"),
        ([[[[[1]]]] * 8], IMAGE, "instances[0][0][0][0]: nested deeper than the model's input shape"),
        ([5], IMAGE, "instances[0]: expected nested numbers of shape [8, 8, 1]"),
        (["abc"], IMAGE, "instances[0]: expected nested numbers"),
        ([None], IMAGE, "got null"),
        ([[]], IMAGE, "instances[0]: expected 64 values, got 0"),
        ([{"pixels": ROW}], IMAGE, 'instances[0]: an image instance object must be {"b64"'),
        ([{"b64": 5}], IMAGE, "instances[0].b64: expected a base64 string"),
        ([[1, 2]], TABULAR, "instances[0]: expected 3 values, got 2"),
        ([{"mean radius": 1, "mean texture": 2}], TABULAR, "instances[0]: missing feature 'mean area'"),
        ([{"mean radius": 1}], TABULAR, "missing feature 'mean texture' (and 1 more)"),
        ([{"mean radius": 1, "mean texture": 2, "mean area": 3, "colour": 4}], TABULAR,
         "instances[0]: unknown feature 'colour'"),
        ([{"mean radius": "1", "mean texture": 2, "mean area": 3}], TABULAR,
         "instances[0]['mean radius']: expected a number, got a string"),
        ([{"mean radius": 1, "mean texture": True, "mean area": 3}], TABULAR,
         "instances[0]['mean texture']: expected a number, got a boolean"),
        ([{"mean radius": 1, "mean texture": 2, "mean area": 1e300}], TABULAR,
         "instances[0]['mean area']: 1e+300 is not a finite float32 value"),
        ([{"b64": "AAAA"}], TABULAR, "instances[0]: unknown feature 'b64'"),
        ([[1, 2, [3]]], TABULAR, "instances[0][2]: nested deeper than the model's input shape"),
    ],
)
def test_bad_instances_are_400_naming_the_field(instances, spec, message):
    with pytest.raises(BadRequest) as info:
        raw(instances, spec)
    assert message in info.value.message


def test_booleans_are_refused_even_where_numpy_would_cast_them():
    assert np.array([1, True]).dtype.kind == "i"  # why the gateway checks types itself
    with pytest.raises(BadRequest, match=r"instances\[0\]\[1\]: expected a number, got a boolean"):
        raw([[1, True, 3]], TABULAR)
