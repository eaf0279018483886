"""The training report published inside the version folder, for the gateway's web page.

`runs/<name>/<version>/` holds the full human report, but serving sees only `models/`;
so the export also writes `assets.extra/training_report.json` (format:
`contract.training_report`) into the staged version folder, before it is renamed into
place: the report appears atomically with the version it describes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from contract.training_report import write_report

# One raw test example per class, at most this many (the page offers them to try).
MAX_EXAMPLES = 20


def write_training_report(version_dir: Path, prepared, version: int, facts, outcome,
                          evaluation) -> Path:
    """Write the report of this run (a `training.job.Prepared`, the `TrainingFacts`, the
    `FitOutcome` and the test-split `Evaluation`) into `version_dir`."""
    return write_report(version_dir, build_training_report(prepared, version, facts, outcome,
                                                           evaluation))


def build_training_report(prepared, version: int, facts, outcome, evaluation) -> dict[str, Any]:
    """The document of `contract.training_report`, from what the pipeline already has."""
    cfg, data, splits = prepared.config, prepared.data, prepared.splits
    labels = list(data.labels)
    return {
        "model_name": cfg.model_name,
        "model_version": int(version),
        "dataset": data.source or cfg.dataset,
        "created_at": facts.created_at,
        "labels": labels,
        "best_epoch": int(outcome.best_epoch),
        "monitor": outcome.monitor,
        "history": {k: list(v) for k, v in outcome.history.items()},
        "test_metrics": dict(facts.test_metrics),
        "test_examples": len(splits.test.y),
        "per_class": [{"label": label, **evaluation.per_class[label]} for label in labels],
        "confusion_matrix": evaluation.confusion,
        "examples": examples(splits.test.x, splits.test.y, labels, data.kind,
                             list(data.feature_names)),
    }


def examples(x: np.ndarray, y: np.ndarray, labels: list[str], kind: str,
             feature_names: list[str]) -> list[dict[str, Any]]:
    """The first raw test example of each class (in label order): an object of named
    features for a tabular model, nested numbers in the input's shape for an image."""
    found = []
    for index in range(min(len(labels), MAX_EXAMPLES)):
        at = np.flatnonzero(y == index)
        if at.size == 0:
            continue
        raw = x[at[0]]
        if kind == "tabular" and feature_names:
            instance: Any = {n: _number(v) for n, v in zip(feature_names, raw.tolist())}
        else:
            instance = _numbers(raw.tolist())
        found.append({"label": labels[index], "instance": instance})
    return found


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def _numbers(value: Any) -> Any:
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return _number(value)
