"""`assets.extra/training_report.json`: how a version was trained, for the gateway's web page.

The training job writes it into the version folder before the folder is published, so it
appears atomically with the SavedModel and travels wherever the model repository goes
(the gateway mounts `models/` only, never `runs/`). The gateway serves it unchanged at
`GET /v1/models/<name>/versions/<version>/report`; the page draws the curves and the
confusion matrix from it.

The document (JSON, every number finite or null):

    format_version   1
    model_name       str
    model_version    int
    dataset          str
    created_at       RFC 3339, UTC
    labels           [str], output order (the confusion matrix's rows and columns)
    best_epoch       int, 1-based: the epoch whose weights were exported
    history          {"loss": [...], "val_loss": [...], "accuracy": [...], "val_accuracy": [...]}
                     one value per epoch run (other metric names may appear too)
    test_metrics     {"accuracy": ..., "loss": ..., "auc": ... (binary)}, on the test split
    test_examples    int, the size of the test split
    per_class        [{"label", "precision", "recall", "f1", "support"}], one per label
    confusion_matrix [[int]]: row = true label, column = predicted label
    examples         [{"label": str, "instance": raw input}]: a few raw rows of the test
                     split (an object of named features for tabular models, nested numbers
                     in the input's shape for image models), to try the model with

Depends on the standard library only: the gateway image reads it without TensorFlow.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from contract.metadata import ASSETS_EXTRA, ContractError

REPORT_FORMAT_VERSION = 1
REPORT_FILENAME = "training_report.json"
REQUIRED_KEYS = ("labels", "best_epoch", "history", "test_metrics", "confusion_matrix")


def report_path(version_dir: str | os.PathLike) -> Path:
    """Where the training report of the SavedModel in `version_dir` lives."""
    return Path(version_dir) / ASSETS_EXTRA / REPORT_FILENAME


def write_report(version_dir: str | os.PathLike, report: Mapping[str, Any]) -> Path:
    """Validate `report` and write it into `version_dir`'s assets.extra folder.

    Non-finite floats become null (JSON has no NaN; browsers refuse it).
    """
    doc = {"format_version": REPORT_FORMAT_VERSION, **_finite(dict(report))}
    validate_report(doc)
    path = report_path(version_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


def load_report(version_dir: str | os.PathLike) -> dict[str, Any]:
    """Read and validate the training report of `version_dir`.

    Raises FileNotFoundError when the version has none, ContractError when it is unreadable
    or breaks the rules above.
    """
    path = report_path(version_dir)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ContractError(f"cannot read {path}: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractError(f"{path} is not valid JSON: {exc}") from None
    validate_report(doc)
    return doc


def validate_report(doc: Any) -> None:
    """Check what the page relies on; raise ContractError naming the first broken rule."""
    if not isinstance(doc, dict):
        raise ContractError("the training report must be a JSON object")
    version = doc.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= REPORT_FORMAT_VERSION:
        raise ContractError(f"format_version {version!r} is not one this reader knows")
    missing = [k for k in REQUIRED_KEYS if k not in doc]
    if missing:
        raise ContractError(f"the training report lacks {', '.join(missing)}")
    labels = doc["labels"]
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
        raise ContractError("labels must be a list of at least two strings")
    history = doc["history"]
    if not isinstance(history, dict) or "loss" not in history:
        raise ContractError("history must be an object with at least a loss series")
    lengths = set()
    for key, series in history.items():
        if not isinstance(series, list) or not all(_number_or_null(v) for v in series):
            raise ContractError(f"history.{key} must be a list of numbers")
        lengths.add(len(series))
    if len(lengths) != 1 or 0 in lengths:
        raise ContractError("every history series must have one value per epoch, at least one")
    epochs = lengths.pop()
    best = doc["best_epoch"]
    if not isinstance(best, int) or isinstance(best, bool) or not 1 <= best <= epochs:
        raise ContractError(f"best_epoch {best!r} must be between 1 and {epochs}")
    metrics = doc["test_metrics"]
    if not isinstance(metrics, dict) or not all(_number_or_null(v) for v in metrics.values()):
        raise ContractError("test_metrics must map names to numbers")
    matrix = doc["confusion_matrix"]
    n = len(labels)
    if (
        not isinstance(matrix, list)
        or len(matrix) != n
        or not all(isinstance(row, list) and len(row) == n for row in matrix)
        or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for row in matrix for c in row)
    ):
        raise ContractError(f"confusion_matrix must be {n}x{n} non-negative integers")
    for i, entry in enumerate(doc.get("per_class", [])):
        if not isinstance(entry, dict) or entry.get("label") not in labels:
            raise ContractError(f"per_class[{i}] must be an object naming one of the labels")
    for i, example in enumerate(doc.get("examples", [])):
        if not isinstance(example, dict) or example.get("label") not in labels or "instance" not in example:
            raise ContractError(f"examples[{i}] must hold a label and an instance")


def _number_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value))


def _finite(value: Any) -> Any:
    """`value` with numpy scalars as Python numbers and NaN/inf as None, recursively."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _finite(value.tolist())  # numpy arrays and scalars
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
