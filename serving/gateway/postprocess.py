"""The model's `probabilities` to labels, with the labels of the version that answered.

Softmax: the label is the argmax, ties going to the lowest index. Sigmoid (one unit, two
labels): labels[1] if p > 0.5 else labels[0], so p == 0.5 gives labels[0]; its class
probabilities are [1 - p, p]. `top_k` orders classes by probability, ties by index, so
its first entry is always the label. The backend's answer is checked first: a wrong
shape, a unit count that does not match the labels, or values that are not
probabilities are a 502, never decoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from protogen.contract.serving_metadata_pb2 import OutputSpec, ServingMetadata
from serving.gateway.errors import BackendBadResponse, BadRequest

DEFAULT_OUTPUT = "probabilities"
_SLACK = 1e-4  # float32 rounding of a softmax/sigmoid may leave [0, 1] by a few ulps
# The bounds as float32 compares them, for the same check on Python floats.
_LOW, _HIGH = float(np.float32(-_SLACK)), float(np.float32(1 + _SLACK))
_SMALL = 64  # up to this many values, Python's comparisons beat numpy's per-call overhead


@dataclass(frozen=True)
class Decoded:
    """A decoded batch: the model's raw output and the per-class view of it."""

    probabilities: np.ndarray  # (n, units) float32, as the model answered
    class_probabilities: np.ndarray  # (n, len(labels)) float32
    label_index: np.ndarray  # (n,) int64
    labels: tuple[str, ...]

    @property
    def label_names(self) -> list[str]:
        """The decoded label of each instance."""
        return [self.labels[i] for i in self.label_index]


def output_name(meta: ServingMetadata) -> str:
    """The signature output holding the probabilities."""
    return meta.output.name or DEFAULT_OUTPUT


def check_top_k(top_k: int | None, meta: ServingMetadata) -> None:
    """`top_k` must be between 1 and the number of labels of this version."""
    if top_k is not None and not 1 <= top_k <= len(meta.labels):
        raise BadRequest(f"top_k: expected an integer between 1 and {len(meta.labels)}, got {top_k}")


def decode(outputs: Mapping[str, np.ndarray], meta: ServingMetadata, batch: int) -> Decoded:
    """Check the backend's outputs against `meta` and decode them."""
    name = output_name(meta)
    if name not in outputs:
        raise BackendBadResponse(f"the model answered without its {name!r} output")
    probs = np.asarray(outputs[name])
    units = int(meta.output.units)
    labels = tuple(meta.labels)
    if probs.dtype.kind != "f":
        raise BackendBadResponse(f"the model answered {name!r} as {probs.dtype}, not floats")
    if probs.shape != (batch, units):
        raise BackendBadResponse(
            f"the model answered {name!r} of shape {list(probs.shape)}; expected [{batch}, {units}] "
            f"for {len(labels)} labels"
        )
    probs = probs.astype(np.float32, copy=False)
    if not _all_probabilities(probs):
        raise BackendBadResponse(f"the model answered {name!r} values that are not probabilities")
    if meta.output.activation == OutputSpec.SIGMOID:
        if units != 1 or len(labels) != 2:
            raise BackendBadResponse("a sigmoid model must answer 1 unit for 2 labels")
        p = probs[:, 0]
        class_probs = np.stack([np.float32(1) - p, p], axis=1)
        index = (p > 0.5).astype(np.int64)
    else:
        if units != len(labels):
            raise BackendBadResponse(f"the model answered {units} units for {len(labels)} labels")
        class_probs = probs
        index = probs.argmax(axis=1).astype(np.int64, copy=False)
    return Decoded(probs, class_probs, index, labels)


def _all_probabilities(probs: np.ndarray) -> bool:
    """Every value within [-_SLACK, 1 + _SLACK] as float32 compares them; NaN never is."""
    if probs.size <= _SMALL:
        return all(_LOW <= v <= _HIGH for v in probs.ravel().tolist())
    return bool(probs.min() >= -_SLACK and probs.max() <= 1 + _SLACK)


def predictions(decoded: Decoded, top_k: int | None) -> list[dict[str, Any]]:
    """The `predictions` list of a v1 answer (numpy float32 scalars: orjson prints them short)."""
    out: list[dict[str, Any]] = []
    cp = decoded.class_probabilities
    order = np.argsort(-cp, axis=1, kind="stable")[:, :top_k] if top_k else None
    for i, index in enumerate(decoded.label_index):
        item: dict[str, Any] = {"label": decoded.labels[index], "probability": cp[i, index]}
        if order is not None:
            item["top_k"] = [
                {"label": decoded.labels[j], "probability": cp[i, j]} for j in order[i]
            ]
        out.append(item)
    return out
