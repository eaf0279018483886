"""Request bodies to raw numpy batches: JSON parsing and validation of instances.

The body is parsed with orjson and the instances go straight into numpy. A whole batch
of nested lists is converted in one `np.array` call (the hot path); only when that fails
is each instance looked at on its own, to name the first offending field in the error,
e.g. `instances[3]: expected 64 values, got 63`.

An instance is the raw input as the client has it: nested numbers in the input's shape,
a flat list of the same size, H×W for a one-channel image, an object of named features
for a tabular model, or `{"b64": "..."}` (PNG/JPEG) for an image model (see `images`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from protogen.contract.serving_metadata_pb2 import InputSpec
from serving.gateway import images
from serving.gateway.errors import BadRequest
from serving.gateway.numeric_json import NumericInstances, parse_numeric_body

FLOAT32_MAX = float(np.finfo(np.float32).max)
_NUMBER_TYPES = frozenset({int, float})
PREDICT_FIELDS = ("instances", "top_k")


@dataclass(frozen=True)
class PredictBody:
    """A validated `POST …:predict` body, before the model's input spec is applied.

    `instances` is the parsed JSON list, or for a plain numeric batch the values as read
    by the fast path (`numeric_json`); `to_raw_batch` takes either.
    """

    instances: list | NumericInstances
    top_k: int | None


def parse_json(body: bytes) -> Any:
    """Parse a request body; 400 naming the position if it is not JSON (or nested too deeply)."""
    if not body:
        raise BadRequest("request body is empty: expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None


def parse_predict_body(body: bytes, max_instances: int) -> PredictBody:
    """Check the shape of a predict body: `{"instances": [...], "top_k": k?}`."""
    fast = parse_numeric_body(body)
    if fast is not None and len(fast[0]) <= max_instances:
        return PredictBody(*fast)
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise BadRequest(f'request body: expected a JSON object with "instances", got {json_type(doc)}')
    for key in doc:
        if key not in PREDICT_FIELDS:
            raise BadRequest(f'unknown field {key!r}: expected "instances" and optionally "top_k"')
    if "instances" not in doc:
        raise BadRequest('missing field "instances"')
    instances = check_instance_count(doc["instances"], "instances", max_instances)
    top_k = doc.get("top_k")
    if top_k is not None and (type(top_k) is not int or top_k < 1):
        raise BadRequest(f"top_k: expected a positive integer, got {_show(top_k)}")
    return PredictBody(instances, top_k)


def check_instance_count(instances: Any, field: str, max_instances: int) -> list:
    """`instances` must be a non-empty list of at most `max_instances` items."""
    if not isinstance(instances, list):
        raise BadRequest(f"{field}: expected a list of instances, got {json_type(instances)}")
    if not instances:
        raise BadRequest(f"{field} is empty: send at least one instance")
    if len(instances) > max_instances:
        raise BadRequest(
            f"{field}: {len(instances)} instances exceed the limit of {max_instances} per request"
        )
    return instances


def to_raw_batch(
    instances: list | NumericInstances, spec: InputSpec, max_image_pixels: int
) -> np.ndarray:
    """The instances as one float64 array of shape (n, *spec.shape), in raw units."""
    shape = tuple(int(d) for d in spec.shape)
    if isinstance(instances, NumericInstances):
        batch = _fit_batch(instances.values, spec, shape)
        if batch is not None:
            return batch
        instances = instances.to_list()  # a misfit: the per-instance path names it
    if all(isinstance(inst, list) for inst in instances):
        batch = _fast_batch(instances, spec, shape)
        if batch is not None:
            return batch
    out = np.empty((len(instances), *shape), dtype=np.float64)
    for i, inst in enumerate(instances):
        out[i] = to_raw_instance(inst, spec, f"instances[{i}]", max_image_pixels)
    return out


def to_raw_instance(inst: Any, spec: InputSpec, field: str, max_image_pixels: int) -> np.ndarray:
    """One instance in any accepted form as a float64 array of shape spec.shape."""
    shape = tuple(int(d) for d in spec.shape)
    if isinstance(inst, list):
        return fit_shape(numeric_array(inst, field, max_depth=len(shape)), spec, field)
    if isinstance(inst, dict):
        if spec.kind == InputSpec.IMAGE:
            if set(inst) != {"b64"}:
                raise BadRequest(
                    f'{field}: an image instance object must be {{"b64": "<base64 PNG or JPEG>"}}, '
                    f"got keys {sorted(inst)[:5]}"
                )
            return images.decode_b64(inst["b64"], spec, f"{field}.b64", max_image_pixels)
        return _named_features(inst, spec, field)
    raise BadRequest(f"{field}: expected {_forms(spec)}, got {json_type(inst)}")


def numeric_array(value: Any, field: str, max_depth: int) -> np.ndarray:
    """Nested lists of JSON numbers (no booleans, strings or nulls) as a float64 array.

    Raises BadRequest naming the first offending element: a non-number, a ragged row,
    nesting deeper than `max_depth`, or a value outside the float32 range.
    """
    try:
        arr = np.array(value)
    except (ValueError, TypeError, RecursionError):
        arr = None
    if arr is None or arr.dtype.kind not in "iuf" or arr.ndim > max_depth:
        raise BadRequest(locate_problem(value, field, max_depth) or f"{field}: expected nested numbers")
    if _contains_bool(value, arr.ndim):
        raise BadRequest(locate_problem(value, field, max_depth) or f"{field}: expected numbers")
    arr = arr.astype(np.float64, copy=False)
    check_float32_range(arr, field)
    return arr


def check_float32_range(arr: np.ndarray, field: str) -> None:
    """Every value must be finite and representable as float32."""
    bad = ~(np.abs(arr) <= FLOAT32_MAX)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        value = float(arr[where])
        path = field + "".join(f"[{i}]" for i in where)
        raise BadRequest(f"{path}: {value:g} is not a finite float32 value")


def fit_shape(arr: np.ndarray, spec: InputSpec, field: str) -> np.ndarray:
    """Accept the exact shape, a flat list of the same size, or H×W for a 1-channel image."""
    shape = tuple(int(d) for d in spec.shape)
    if arr.shape == shape:
        return arr
    size = math.prod(shape)
    if arr.ndim == 1:
        if arr.size == size:
            return arr.reshape(shape)
        raise BadRequest(f"{field}: expected {size} values, got {arr.size}")
    if _one_channel_image(spec) and arr.shape == shape[:-1]:
        return arr.reshape(shape)
    raise BadRequest(f"{field}: expected {_shapes(spec)}, got shape {list(arr.shape)}")


def locate_problem(value: Any, field: str, max_depth: int) -> str | None:
    """Describe the first element that keeps `value` from being a numeric array, or None."""
    if not isinstance(value, list):
        return None if _is_number(value) else f"{field}: expected a number, got {json_type(value)}"
    level: list[tuple[tuple[int, ...], Any]] = [((), value)]
    for depth in range(max_depth + 1):
        lists = [(path, v) for path, v in level if isinstance(v, list)]
        scalars = [(path, v) for path, v in level if not isinstance(v, list)]
        for path, v in scalars:
            if not _is_number(v):
                return f"{_path(field, path)}: expected a number, got {json_type(v)}"
        if not lists:
            return None
        if depth == max_depth:
            return f"{_path(field, lists[0][0])}: nested deeper than the model's input shape"
        if scalars:
            return (
                f"{_path(field, scalars[0][0])}: ragged rows: a number where "
                f"{_path(field, lists[0][0])} is a list"
            )
        first_path, first = lists[0]
        for path, v in lists[1:]:
            if len(v) != len(first):
                return (
                    f"{_path(field, path)}: ragged rows: {len(v)} values where "
                    f"{_path(field, first_path)} has {len(first)}"
                )
        if len(first) == 0:
            return f"{_path(field, first_path)}: empty list"
        level = [(path + (j,), x) for path, v in lists for j, x in enumerate(v)]
    return None


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _fast_batch(instances: list, spec: InputSpec, shape: tuple[int, ...]) -> np.ndarray | None:
    """The whole batch in one conversion, or None to fall back to per-instance checks.

    Flattens the nested lists one level at a time, checking with C-level loops
    (set/map/len, no per-element Python code) that each level holds lists of one length
    and that the leaves are JSON numbers (booleans are not: numpy would take them as 1
    and 0), then converts the flat list in one call. About twice as fast as np.array on
    the nested lists followed by a separate scan for booleans (bench/profiles/).
    """
    dims = [len(instances)]
    level: list = instances
    try:
        while level and type(level[0]) is list:
            # len() of a number raises; a string or object of the right length beside the
            # lists is flattened into keys or characters, which the leaf check refuses.
            lengths = set(map(len, level))
            if len(lengths) != 1 or len(dims) > len(shape):
                return None
            dims.append(lengths.pop())
            level = list(itertools.chain.from_iterable(level))
    except TypeError:
        return None
    if not set(map(type, level)) <= _NUMBER_TYPES:
        return None
    if not _batch_fits(tuple(dims[1:]), spec, shape):
        return None
    try:
        arr = np.array(level, dtype=np.float64).reshape(dims)
    except OverflowError:  # an integer beyond float64: the slow path names it
        return None
    return _fit_batch(arr, spec, shape)


def _fit_batch(arr: np.ndarray, spec: InputSpec, shape: tuple[int, ...]) -> np.ndarray | None:
    """A rectangular batch (n, *dims as sent) as (n, *shape), or None if the dims do not fit.

    Raises BadRequest for a value outside the float32 range, indexed as sent.
    """
    if not _batch_fits(arr.shape[1:], spec, shape):
        return None
    check_float32_range(arr, "instances")
    return arr.reshape((len(arr), *shape))


def _batch_fits(inner: tuple[int, ...], spec: InputSpec, shape: tuple[int, ...]) -> bool:
    """The instance shapes `fit_shape` accepts: exact, flat of the same size, or H×W."""
    return (
        inner == shape
        or inner == (math.prod(shape),)
        or (_one_channel_image(spec) and inner == shape[:-1])
    )


def _contains_bool(value: list, ndim: int) -> bool:
    """Whether a rectangular nested list (ndim levels) holds a JSON boolean.

    numpy turns [1, true] into [1, 1] silently; booleans are not numbers here.
    """
    flat: Any = value
    for _ in range(ndim - 1):
        flat = itertools.chain.from_iterable(flat)
    return bool in set(map(type, flat))


def _named_features(inst: dict, spec: InputSpec, field: str) -> np.ndarray:
    names = list(spec.feature_names)
    if not names:
        raise BadRequest(f"{field}: this model takes no named features; send a list of numbers")
    known = set(names)
    for key in inst:
        if key not in known:
            raise BadRequest(f"{field}: unknown feature {key!r}")
    missing = [n for n in names if n not in inst]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise BadRequest(f"{field}: missing feature {missing[0]!r}{more}")
    values = [inst[n] for n in names]
    for name, v in zip(names, values):
        if not _is_number(v):
            raise BadRequest(f"{field}[{name!r}]: expected a number, got {json_type(v)}")
    arr = np.array(values, dtype=np.float64)
    bad = ~(np.abs(arr) <= FLOAT32_MAX)
    if bad.any():
        name = names[int(np.argmax(bad))]
        raise BadRequest(f"{field}[{name!r}]: {inst[name]:g} is not a finite float32 value")
    return arr


def _is_number(v: Any) -> bool:
    return type(v) is int or type(v) is float


def _one_channel_image(spec: InputSpec) -> bool:
    return spec.kind == InputSpec.IMAGE and len(spec.shape) == 3 and spec.shape[-1] == 1


def _shapes(spec: InputSpec) -> str:
    shape = [int(d) for d in spec.shape]
    options = [str(shape)]
    if _one_channel_image(spec):
        options.append(str(shape[:-1]))
    return f"shape {' or '.join(options)} (or {math.prod(shape)} flat values)"


def _forms(spec: InputSpec) -> str:
    if spec.kind == InputSpec.IMAGE:
        return f'nested numbers of {_shapes(spec)} or {{"b64": "<base64 PNG or JPEG>"}}'
    return f"a list of {math.prod(spec.shape)} numbers or an object of named features"


def _path(field: str, path: Sequence[int]) -> str:
    return field + "".join(f"[{i}]" for i in path)


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode() if value is not None else "null"
    return text if len(text) <= 40 else text[:37] + "..."
