"""Fast path for the common predict body: `{"instances": <nested numbers>, "top_k": k?}`.

orjson builds a Python int and a list for every value and row, and the batch is then
flattened again for numpy: for 32 instances of 28×28×1 that is most of the gateway's CPU
per request. Here simdjson parses the body and hands the numbers over as one float64
buffer, and the nesting is checked on the bytes, so no Python object is made per value.

The fast path only answers when the body is valid and plain: an object with "instances"
(a rectangular nested list of JSON numbers) and optionally a valid "top_k". For anything
else (images, named features, ragged rows, non-numbers, unknown or duplicate keys,
invalid JSON, numbers beyond 64 bits) it returns None and the orjson path runs, so that
every error reads exactly as before. Shapes are not checked against a model here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import orjson
import simdjson

# Below about this size the orjson path costs less CPU: a flat list of 64 small numbers
# (~240 bytes) is 6 µs faster there, one 8×8×1 instance (~300 bytes) 7 µs slower
# (bench/parse_speed.py; the fast path costs ~15 µs fixed, orjson ~0.5 µs per list).
MIN_BODY_BYTES = 256
# Far deeper than any input shape, and far below orjson's limit, so depth errors stay its own.
MAX_DEPTH = 32
_KEYS = frozenset({"instances", "top_k"})
# What may sit between the brackets and commas of an array of numbers.
_NUMBER_AND_SPACE = b"0123456789+-.eE \t\n\r"
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class NumericInstances:
    """`instances` as read by the fast path, and the body they came from.

    `values` is float64 of shape (n, *dims), the nesting as sent, not yet fitted to a
    model's input shape. `body` lets the error path parse the instances again with
    orjson, so that a misfit is reported as for any other body.
    """

    values: np.ndarray
    body: bytes

    def __len__(self) -> int:
        return len(self.values)

    def to_list(self) -> list:
        """The instances as orjson parses them (nested lists of ints and floats)."""
        return orjson.loads(self.body)["instances"]


def parse_numeric_body(body: bytes) -> tuple[NumericInstances, int | None] | None:
    """The instances and top_k of a plain numeric predict body, or None to use the orjson path.

    None whenever the body is not `{"instances": [...], "top_k": k?}` with instances a
    non-empty, rectangular nested list (at least two levels, no empty lists) of JSON
    numbers that fit in 64 bits, and top_k absent, null or a positive integer.
    """
    if len(body) < MIN_BODY_BYTES or body.startswith(_BOM):  # orjson refuses a BOM
        return None
    parsed = _parse(body)
    if parsed is None:
        return None
    values, dims, top_k = parsed
    # Every bracket in the body belongs to the instances (the keys are known, top_k is a
    # number or null), and simdjson has checked the syntax and that every leaf is a
    # number, so the nesting is fully described by the brackets and commas alone.
    start, end = body.find(b"["), body.rfind(b"]")
    if body[start : end + 1].translate(None, _NUMBER_AND_SPACE) != _skeleton(dims):
        return None
    return NumericInstances(values.reshape(dims), body), top_k


def _parse(body: bytes) -> tuple[np.ndarray, tuple[int, ...], int | None] | None:
    """The flat values, the nesting of the first instance's first elements, and top_k."""
    # A parser per call: its documents must not outlive it, and the gateway is threaded.
    # Creating one costs about a microsecond (it sizes itself on the first parse).
    parser = simdjson.Parser()
    try:
        doc = parser.parse(body)
        if not isinstance(doc, simdjson.Object):
            return None
        keys = list(doc.keys())
        if "instances" not in keys or len(set(keys)) != len(keys) or not _KEYS.issuperset(keys):
            return None
        top_k = doc["top_k"] if "top_k" in keys else None
        if top_k is not None and (type(top_k) is not int or top_k < 1):
            return None
        node = doc["instances"]
        dims = []
        while isinstance(node, simdjson.Array):
            if not len(node) or len(dims) == MAX_DEPTH:
                return None
            dims.append(len(node))
            node = node[0]
        if len(dims) < 2 or type(node) not in (int, float):
            return None
        # Raises on any leaf that is not a number; flattens ragged rows silently, which
        # the skeleton comparison catches.
        values = np.frombuffer(doc["instances"].as_buffer(of_type="d"), dtype=np.float64)
    except (ValueError, TypeError, RuntimeError):  # simdjson's refusals: orjson decides
        return None
    if values.size != math.prod(dims):
        return None
    return values, tuple(dims), top_k


def _skeleton(dims: tuple[int, ...]) -> bytes:
    """Brackets and commas of a rectangular nested list of `dims`, its numbers left out.

    E.g. (2, 3) -> b"[[,,],[,,]]". Equal to the body's brackets and commas only if every
    list at a depth has the same length and numbers sit only in the innermost lists;
    an empty innermost list looks like a one-number one, which the value count rules out.
    """
    inner = b"[" + b"," * (dims[-1] - 1) + b"]"
    for d in reversed(dims[:-1]):
        inner = b"[" + b",".join([inner] * d) + b"]"
    return inner
