"""The batch fast path of `to_raw_batch` (issue 6) agrees with the per-instance path: the
same array for every accepted form, and for odd inputs either the same array or the
per-instance path's 400 naming the field."""

from __future__ import annotations

import numpy as np
import pytest

from protogen.contract.serving_metadata_pb2 import InputSpec
from serving.gateway.errors import BadRequest
from serving.gateway.instances import _fast_batch, to_raw_batch, to_raw_instance

MAX_PIXELS = 1 << 20


def image_spec(shape=(2, 2, 1)) -> InputSpec:
    spec = InputSpec(name="pixels", kind=InputSpec.IMAGE)
    spec.shape.extend(shape)
    return spec


def per_instance(instances, spec):
    return np.stack([to_raw_instance(x, spec, f"instances[{i}]", MAX_PIXELS) for i, x in enumerate(instances)])


@pytest.mark.parametrize(
    "instances",
    [
        [[[[1], [2]], [[3], [4]]]],  # exact shape
        [[1, 2, 3, 4], [5, 6, 7, 8.5]],  # flat
        [[[1, 2], [3, 4]]],  # H x W of a one-channel image
        [[[[0], [0]], [[0], [0]]], [[[1e30], [-2]], [[3], [4]]]],
    ],
)
def test_fast_path_matches_the_per_instance_path(instances):
    spec = image_spec()
    fast = _fast_batch(instances, spec, (2, 2, 1))
    assert fast is not None
    np.testing.assert_array_equal(fast, per_instance(instances, spec))
    assert fast.dtype == np.float64 and fast.shape == (len(instances), 2, 2, 1)


@pytest.mark.parametrize(
    "instances, field",
    [
        ([[1, 2, 3, True]], "instances[0][3]"),  # a boolean is not a number
        ([[1, 2, 3, None]], "instances[0][3]"),
        ([[1, 2, 3, "4"]], "instances[0][3]"),
        ([[[1, 2], [3, "ab"]]], "instances[0][1][1]"),  # a string of the row's length
        ([[[1, 2], {"a": 1, "b": 2}]], "instances[0][1]"),  # an object of the row's length
        ([[[1, 2], 3]], "instances[0][1]"),  # a number beside lists
        ([[[1, 2], [3]]], "instances[0][1]"),  # ragged
        ([[[1, 2], []]], "instances[0][1]"),
        ([[1, 2, 3]], "instances[0]"),  # wrong size
        ([[[[[1]]], [[[2]]]]], "instances[0]"),  # too deep
        ([[1, 2, 3, 10**400]], "instances[0]"),  # beyond float64
    ],
)
def test_odd_inputs_leave_the_fast_path_and_get_a_400_naming_the_field(instances, field):
    spec = image_spec()
    assert _fast_batch(instances, spec, (2, 2, 1)) is None
    with pytest.raises(BadRequest) as info:
        to_raw_batch(instances, spec, MAX_PIXELS)
    assert info.value.message.startswith(field)
