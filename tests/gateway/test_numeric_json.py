"""The numeric fast path for predict bodies (issue 6) changes nothing a client can see:
through `parse_predict_body` + `to_raw_batch`, every body gives the same array (bit for
bit) or the same 400 message with the fast path as without it, and the fast path steps
aside (None) for everything but a rectangular nested list of numbers."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from unittest import mock

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protogen.contract.serving_metadata_pb2 import InputSpec
from serving.gateway import numeric_json
from serving.gateway.errors import BadRequest
from serving.gateway.instances import parse_predict_body, to_raw_batch
from serving.gateway.numeric_json import NumericInstances, parse_numeric_body

MAX_INSTANCES = 8
MAX_PIXELS = 1 << 20


def spec_of(shape, kind=InputSpec.IMAGE) -> InputSpec:
    spec = InputSpec(name="x", kind=kind)
    spec.shape.extend(shape)
    return spec


@contextmanager
def min_body_bytes(n: int):
    with mock.patch.object(numeric_json, "MIN_BODY_BYTES", n):
        yield


def outcome(body: bytes, spec: InputSpec):
    """What a client would see: the batch bit for bit (with top_k), or the 400 message."""
    try:
        parsed = parse_predict_body(body, MAX_INSTANCES)
        batch = to_raw_batch(parsed.instances, spec, MAX_PIXELS)
    except BadRequest as exc:
        return ("400", exc.message)
    return (batch.dtype.str, batch.shape, batch.tobytes(), parsed.top_k)


def fast_and_slow(body: bytes, spec: InputSpec):
    """The outcome with the fast path on for every size, after checking it equals the orjson path's."""
    with min_body_bytes(sys.maxsize):
        slow = outcome(body, spec)
    with min_body_bytes(0):
        fast = outcome(body, spec)
    assert fast == slow
    return fast


def fast_result(body: bytes):
    with min_body_bytes(0):
        return parse_numeric_body(body)


def dumps(doc, indent=None) -> bytes:
    # The standard library writes integers beyond 64 bits, which orjson does not.
    return json.dumps(doc, indent=indent).encode()


WIDE = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1))


@pytest.mark.parametrize(
    ("instances", "shape"),
    [
        ([[1, 2, 3], [4, 5, 6]], (3,)),
        ([[[1, 2, 3], [4, 5, 6]]], (2, 3)),
        ([[1, 2, 3, 4, 5, 6]], (2, 3)),  # flat
        (WIDE.tolist(), (28, 28, 1)),
        (WIDE.reshape(3, 784).tolist(), (28, 28, 1)),  # flat
        (WIDE.reshape(3, 28, 28).tolist(), (28, 28, 1)),  # H×W of a one-channel image
        ([[-1.5e-3, 2e200, -0.0, 0, 1e-400, 5e-324, 123456789012345678, -(2**63)]], (8,)),
        ([[0.1, 0.2, 1 / 3, 2.2250738585072014e-308, 9007199254740993, 2**64 - 1]], (6,)),
    ],
)
def test_accepted_forms_give_the_orjson_paths_array(instances, shape):
    body = dumps({"instances": instances})
    out = fast_and_slow(body, spec_of(shape))
    assert out[0] != "400" or "float32" in out[1]
    fast = fast_result(body)
    assert fast is not None
    values, top_k = fast
    assert top_k is None
    np.testing.assert_array_equal(values.values, np.array(instances, dtype=np.float64))


def test_whitespace_escapes_and_top_k_do_not_matter():
    instances = WIDE[:2].tolist()
    plain = fast_and_slow(orjson.dumps({"instances": instances, "top_k": 3}), spec_of((28, 28, 1)))
    assert plain[3] == 3
    pretty = orjson.dumps({"top_k": 3, "instances": instances}, option=orjson.OPT_INDENT_2)
    spaced = b' \r\n\t{ "in\\u0073tances" :\t[ [ [[1] ,[2]] ] ] , "top_k" : null }\n'
    assert fast_and_slow(pretty, spec_of((28, 28, 1))) == plain
    assert fast_and_slow(spaced, spec_of((1, 2, 1)))[2] == np.array([1.0, 2.0]).tobytes()
    assert fast_result(pretty) is not None and fast_result(spaced) is not None


HARD_DECIMALS = [
    b"1.00000000000000011102230246251565404236316680908203125",  # halfway: to even
    b"1.00000000000000011102230246251565404236316680908203126",
    b"9007199254740993", b"9007199254740993.0", b"2.2250738585072011e-308", b"1e23",
    b"7.2057594037927933e16", b"0.1000000000000000055511151231257827", b"4.9e-324", b"2e-324",
    b"-1E-7", b"3.4028234663852886E+38", b"123456789012345678901234567890e-10",
]


def test_hard_decimals_round_as_orjson_rounds_them():
    row = b"[" + b",".join(HARD_DECIMALS) + b"]"
    body = b'{"instances": [' + row + b"," + row + b"]}"
    assert fast_result(body) is not None
    out = fast_and_slow(body, spec_of((len(HARD_DECIMALS),), InputSpec.TABULAR))
    assert out[2] == np.array([orjson.loads(row)] * 2, dtype=np.float64).tobytes()


@pytest.mark.parametrize(
    ("instances", "shape"),
    [
        ([[1e39, 2]], (2,)),  # beyond float32
        ([[1, 2, 3]], (2,)),  # flat of the wrong size
        (WIDE.reshape(3, 28, 28).tolist(), (28, 28, 3)),  # H×W, but three channels
        ([[[1, 2], [3, 4]]], (4, 1)),  # 2×2 for 4×1
        ([[[[1]], [[2]]]], (2, 1)),  # nested deeper than the shape
        ([[1, 2]] * (MAX_INSTANCES + 1), (2,)),  # too many instances
    ],
)
def test_misfits_read_as_before(instances, shape):
    body = dumps({"instances": instances})
    assert fast_result(body) is not None
    assert fast_and_slow(body, spec_of(shape))[0] == "400"


@pytest.mark.parametrize(
    "body",
    [
        # ragged at every depth, mixed depth, empty lists, a single level
        b'{"instances": [[1, 2], [3]]}',
        b'{"instances": [[[1], [2]], [[3]]]}',
        b'{"instances": [[[1, 2], [3, 4]], [[5, 6], [7]]]}',
        b'{"instances": [[[1, 2], [3, 4]], [[5, 6], [7, 8, 9]]]}',
        b'{"instances": [[1, [2]], [3, 4]]}',
        b'{"instances": [[[1], 2]]}',
        b'{"instances": [[1, 2], [[3], 4]]}',
        b'{"instances": [[1], [[2]]]}',
        b'{"instances": []}',
        b'{"instances": [[]]}',
        b'{"instances": [[1], []]}',
        b'{"instances": [[], [1]]}',
        b'{"instances": [[[1]], [[]]]}',
        b'{"instances": [[[]]]}',
        b'{"instances": [1, 2]}',
        b'{"instances": 1}',
        # leaves that are not numbers
        b'{"instances": [[true, 1]]}',
        b'{"instances": [[1, false]]}',
        b'{"instances": [[null, 1]]}',
        b'{"instances": [["1", 2]]}',
        b'{"instances": [[1, "[2,3]"], [4, 5]]}',
        b'{"instances": [[1, ","], [4, 5]]}',
        b'{"instances": [[1, 2], [{"a": 1}, 4]]}',
        b'{"instances": [{"b64": "iVBORw0KGgo="}]}',
        b'{"instances": [[NaN, 1]]}',
        b'{"instances": [[Infinity, 1]]}',
        b'{"instances": [[-Infinity, 1]]}',
        b'{"instances": [[1e400, 1]]}',
        b'{"instances": [[18446744073709551616, 1]]}',
        b'{"instances": [[-9223372036854775809, 1]]}',
        # keys and top_k
        b'{"instances": [[1, 2]], "extra": 1}',
        b'{"instance": [[1, 2]]}',
        b'{"instances": [[1, 2]], "instances": [[3, 4]]}',
        b'{"instances": [[1, 2]], "top_k": 1, "top_k": 2}',
        b'{"instances": [[1, 2]], "top_k": 0}',
        b'{"instances": [[1, 2]], "top_k": -1}',
        b'{"instances": [[1, 2]], "top_k": 1.0}',
        b'{"instances": [[1, 2]], "top_k": true}',
        b'{"instances": [[1, 2]], "top_k": "1"}',
        b'{"instances": [[1, 2]], "top_k": [1]}',
        b'{"instances": [[1, 2]], "top_k": 99999999999999999999}',
        # not JSON, or not an object
        b'[[1, 2]]',
        b"\xef\xbb\xbf" + b'{"instances": [[1, 2]]}',
        b'{"instances": [[1, 2]]} x',
        b'{"instances": [[1, 2]],}',
        b'{"instances": [[1, 2]], "\xff": 1}',
        b'{"instances": [[1, 2]]',
        b'{"instances": [[1, 2',
        b'{"instances": [[01, 2]]}',
        b'{"instances": [[1., 2]]}',
        b'{"instances": [[+1, 2]]}',
        b'',
        b'[' * 3000 + b']' * 3000,
        b'{"instances": ' + b'[' * 40 + b'1' + b']' * 40 + b'}',
    ],
)
def test_anything_else_takes_the_orjson_path(body):
    assert fast_result(body) is None
    fast_and_slow(body, spec_of((2,), InputSpec.TABULAR))


def test_duplicate_instances_keep_orjsons_last_one():
    body = b'{"instances": [[1, 2]], "instances": [[3, 4]]}'
    assert fast_and_slow(body, spec_of((2,)))[2] == np.array([3.0, 4.0]).tobytes()


def test_small_bodies_stay_on_the_orjson_path():
    body = orjson.dumps({"instances": [[1, 2]]})
    assert len(body) < numeric_json.MIN_BODY_BYTES
    assert parse_numeric_body(body) is None
    assert parse_predict_body(body, MAX_INSTANCES).instances == [[1, 2]]


def test_large_bodies_take_the_fast_path():
    body = orjson.dumps({"instances": WIDE.tolist(), "top_k": 2})
    parsed = parse_predict_body(body, MAX_INSTANCES)
    assert isinstance(parsed.instances, NumericInstances) and parsed.top_k == 2
    assert parsed.instances.values.shape == (3, 28, 28, 1)
    assert parsed.instances.to_list() == WIDE.tolist()


def test_skeleton_is_the_brackets_and_commas_of_a_rectangular_list():
    assert numeric_json._skeleton((2, 3)) == b"[[,,],[,,]]"
    assert numeric_json._skeleton((1, 2, 1)) == b"[[[],[]]]"


# Property: random nested lists, rectangular or spoiled in one place.
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
NUMBERS = st.integers(min_value=-(2**63), max_value=2**64 - 1) | FLOATS
ODD = st.sampled_from([True, False, None, "1", "[1,2]", ",", {}, {"a": 1}, [], [1], [[1]], 2**64, -(2**63) - 1])
DIMS = st.lists(st.integers(1, 4), min_size=2, max_size=4)


@st.composite
def nested_bodies(draw):
    """(body, spec, whether the fast path must answer: rectangular numbers, a valid top_k)."""
    dims = draw(DIMS)
    flat = draw(st.lists(NUMBERS, min_size=int(np.prod(dims)), max_size=int(np.prod(dims))))
    value = np.array(flat, dtype=object).reshape(dims).tolist()
    spoil = draw(st.sampled_from(["none", "leaf", "drop", "add", "wrap"]))
    if spoil != "none":
        path = [draw(st.integers(0, d - 1)) for d in dims[: draw(st.integers(1, len(dims)))]]
        parent = value
        for i in path[:-1]:
            parent = parent[i]
        if spoil == "leaf":
            target = parent[path[-1]] if len(path) < len(dims) else parent
            while isinstance(target, list) and isinstance(target[0], list):
                target = target[0]
            target[draw(st.integers(0, len(target) - 1))] = draw(ODD)
        elif spoil == "drop":
            del parent[path[-1]]
        elif spoil == "add":
            parent.append(draw(NUMBERS | ODD))
        else:
            parent[path[-1]] = [parent[path[-1]]]
    doc = {"instances": value}
    top_k = draw(st.sampled_from(["absent", None, 1, 3, 0, 1.5]))
    if top_k != "absent":
        doc["top_k"] = top_k
    body = dumps(doc, indent=draw(st.sampled_from([None, 1])))
    shape = draw(st.sampled_from([tuple(dims[1:]), (int(np.prod(dims[1:])),), (*dims[1:], 1)]))
    return body, spec_of(shape), spoil == "none" and top_k in ("absent", None, 1, 3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_bodies())
def test_fast_path_agrees_with_the_orjson_path(case):
    body, spec, plain = case
    fast_and_slow(body, spec)
    if plain:
        assert fast_result(body) is not None
