"""What both in-process baselines share: finding the models and shaping the answer.

They answer the gateway's request format on the gateway's path
(`POST /v1/models/<name>:predict`, `{"instances": [...]}` of raw inputs) with the top-1
label and its probability, so one wrk script drives all three HTTP servers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from contract import load_metadata
from protogen.contract.serving_metadata_pb2 import OutputSpec, ServingMetadata

MODEL_ROOT_ENV = "BASELINE_MODEL_ROOT"
MODELS_ENV = "BASELINE_MODELS"


class BaselineInputError(ValueError):
    """The request cannot be answered (the baseline's 400)."""


def configured(model_root: str | Path | None, models: list[str] | None) -> tuple[Path, list[str]]:
    """The model repository and model names: arguments, else BASELINE_* variables."""
    root = Path(model_root or os.environ.get(MODEL_ROOT_ENV, "models"))
    names = models or [m for m in os.environ.get(MODELS_ENV, "digits").split(",") if m]
    return root, names


def newest_version(model_root: Path, name: str) -> tuple[Path, ServingMetadata]:
    """The newest version folder of `name` and its serving metadata."""
    versions = [p for p in (model_root / name).iterdir() if p.name.isdigit() and p.is_dir()]
    if not versions:
        raise FileNotFoundError(f"no version of model {name!r} under {model_root}")
    version_dir = max(versions, key=lambda p: int(p.name))
    return version_dir, load_metadata(version_dir)


def raw_batch(instances: object, meta: ServingMetadata) -> np.ndarray:
    """The request's instances as a float64 batch of the model's input shape."""
    if not isinstance(instances, list) or not instances:
        raise BaselineInputError("instances: expected a non-empty list")
    shape = tuple(int(d) for d in meta.input.shape)
    try:
        raw = np.asarray(instances, dtype=np.float64)
        return raw.reshape((len(instances), *shape))
    except (ValueError, TypeError) as exc:
        raise BaselineInputError(f"instances: {exc}") from None


def top1(probabilities: np.ndarray, meta: ServingMetadata) -> list[dict]:
    """The top-1 label and probability of each row of the model's output."""
    labels = list(meta.labels)
    if meta.output.activation == OutputSpec.SIGMOID:
        p = probabilities[:, 0]
        index = (p > 0.5).astype(np.int64)
        prob = np.where(index == 1, p, 1.0 - p)
    else:
        index = np.argmax(probabilities, axis=1)
        prob = probabilities[np.arange(len(index)), index]
    return [{"label": labels[i], "probability": float(q)} for i, q in zip(index, prob)]
