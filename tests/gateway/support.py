"""Helpers of the gateway unit tests: serving metadata written into a temporary model
repository, and a scripted Backend for injecting states and faults.

The ScriptedBackend is a FAKE. It exists to put the gateway in situations a healthy model
server does not produce on demand (a version unloaded mid-request, a hang, a wrong answer,
an outage) and to test the HTTP layer without a model. Its "probabilities" are a fixed
function of the input, not a model's: tests of real predictions use the real model server
(`live_*` fixtures, tests/e2e).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from contract import write_metadata
from protogen.contract.serving_metadata_pb2 import (
    InputSpec,
    Normalization,
    OutputSpec,
    ServingMetadata,
)
from serving.gateway.backend import SignatureInfo, TensorSpec, VersionStatus
from serving.gateway.errors import BackendNotFound

DIGIT_LABELS = [str(i) for i in range(10)]
FEATURES = ["mean radius", "mean texture", "mean area"]


def image_metadata(name: str = "digits", version: int = 1, labels: list[str] | None = None) -> ServingMetadata:
    """An 8×8×1 image model with 10 softmax classes and a RESCALE normalization (raw 0-16)."""
    meta = ServingMetadata(format_version=1, model_name=name, model_version=version)
    meta.signature_name = "serving_default"
    meta.input.name = "pixels"
    meta.input.shape.extend([8, 8, 1])
    meta.input.dtype = "float32"
    meta.input.kind = InputSpec.IMAGE
    meta.input.raw_range.min = 0.0
    meta.input.raw_range.max = 16.0
    meta.normalization.method = Normalization.RESCALE
    meta.normalization.offset.append(0.0)
    meta.normalization.scale.append(16.0)
    meta.labels.extend(labels or DIGIT_LABELS)
    meta.output.name = "probabilities"
    meta.output.activation = OutputSpec.SOFTMAX
    meta.output.units = len(meta.labels)
    return meta


def tabular_metadata(name: str = "cancer", version: int = 1, labels: list[str] | None = None) -> ServingMetadata:
    """A 3-feature tabular model with a sigmoid output and a STANDARDIZE normalization."""
    meta = ServingMetadata(format_version=1, model_name=name, model_version=version)
    meta.signature_name = "serving_default"
    meta.input.name = "features"
    meta.input.shape.append(len(FEATURES))
    meta.input.dtype = "float32"
    meta.input.kind = InputSpec.TABULAR
    meta.input.feature_names.extend(FEATURES)
    meta.input.raw_range.min = 0.0
    meta.input.raw_range.max = 2500.0
    meta.normalization.method = Normalization.STANDARDIZE
    meta.normalization.offset.extend([14.0, 19.0, 650.0])
    meta.normalization.scale.extend([3.5, 4.3, 350.0])
    meta.labels.extend(labels or ["malignant", "benign"])
    meta.output.name = "probabilities"
    meta.output.activation = OutputSpec.SIGMOID
    meta.output.units = 1
    return meta


def publish(root: Path, meta: ServingMetadata) -> Path:
    """Write `meta` as models/<name>/<version>/assets.extra/serving_metadata.json."""
    version_dir = root / meta.model_name / str(meta.model_version)
    write_metadata(version_dir, meta)
    return version_dir


def fixed_probabilities(x: np.ndarray, units: int) -> np.ndarray:
    """The fake's stand-in for a model: softmax (or sigmoid) of the first `units` inputs."""
    flat = x.reshape(x.shape[0], -1).astype(np.float64)
    if units == 1:
        return (1 / (1 + np.exp(-flat[:, :1]))).astype(np.float32)
    logits = np.resize(flat, (x.shape[0], max(units, flat.shape[1])))[:, :units]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


class ScriptedBackend:
    """A fake Backend (see the module docstring): states, answers and faults on demand."""

    def __init__(self, versions: Mapping[str, Mapping[int, str]], units: Mapping[str, int]):
        self.versions = {m: dict(v) for m, v in versions.items()}
        self.units = dict(units)
        self.calls: list[tuple[str, str, int | None]] = []
        self.fail: dict[str, Exception] = {}  # method -> exception to raise
        self.before_predict: Callable[[str, int | None], None] | None = None
        self.answer: Callable[[str, int, np.ndarray], tuple[int, dict]] | None = None
        self.lock = threading.Lock()
        self.closed = 0

    def status(self, model: str) -> list[VersionStatus]:
        self._record("status", model, None)
        if "status" in self.fail:
            raise self.fail["status"]
        if model not in self.versions:
            raise BackendNotFound(f"model '{model}' not found")
        return [VersionStatus(v, s) for v, s in sorted(self.versions[model].items())]

    def metadata(self, model: str, version: int | None = None, signature: str = "serving_default") -> SignatureInfo:
        self._record("metadata", model, version)
        if "metadata" in self.fail:
            raise self.fail["metadata"]
        served = version if version is not None else max(self.versions[model])
        return SignatureInfo(
            version=served,
            inputs={"x": TensorSpec("float32", (-1,))},
            outputs={"probabilities": TensorSpec("float32", (-1, self.units[model]))},
        )

    def predict(self, model, inputs, version=None, signature="serving_default"):
        self._record("predict", model, version)
        if self.before_predict is not None:
            self.before_predict(model, version)
        if "predict" in self.fail:
            raise self.fail["predict"]
        if model not in self.versions or (version is not None and self.versions[model].get(version) != "AVAILABLE"):
            raise BackendNotFound(f"version {version} of model '{model}' not found")
        (x,) = inputs.values()
        served = version if version is not None else max(self.versions[model])
        if self.answer is not None:
            return self.answer(model, served, x)
        return served, {"probabilities": fixed_probabilities(x, self.units[model])}

    def close(self) -> None:
        self.closed += 1

    def _record(self, method: str, model: str, version: int | None) -> None:
        with self.lock:
            self.calls.append((method, model, version))

