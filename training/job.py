"""The training job end to end: validate, train, evaluate, export, publish, report.

Everything that can be wrong with the input (config, data, split, models.config) is
checked before TensorFlow is even imported and before anything is written, so bad input
fails fast and leaves `models/` and `runs/` untouched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from protogen.contract.serving_metadata_pb2 import ServingMetadata
from training import distribute
from training.config import TrainingConfig, load_config
from training.data import Dataset, Splits, load_dataset, split_dataset
from training.evaluate import Evaluation
from training.model import check_compatible
from training.repository import read_models_config


@dataclass(frozen=True)
class TrainingResult:
    """What one run produced. `version`, `version_dir`, `run_dir` and `metadata` are None
    on a non-chief worker of a multi-worker cluster (only the chief publishes).

    `test_inputs` are the raw test-split inputs, `test_labels` their class indices and
    `test_probabilities` what the exported SavedModel answered for them (after the
    contract's normalization): the reference for serving-skew tests.
    """

    name: str
    version: int | None
    version_dir: Path | None
    run_dir: Path | None
    metrics: dict[str, float]
    metadata: ServingMetadata | None
    evaluation: Evaluation
    best_epoch: int
    epochs_run: int
    history: dict[str, list[float]]
    config: TrainingConfig
    test_inputs: np.ndarray
    test_labels: np.ndarray
    test_probabilities: np.ndarray
    split_index: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Prepared:
    """A validated run, ready to train."""

    config: TrainingConfig
    data: Dataset
    splits: Splits


def log(message: str) -> None:
    """Progress for the person running the job (stdout; errors go to stderr)."""
    print(message, flush=True)


def prepare(config: str | os.PathLike | None = None, overrides: Iterable[str] = ()) -> Prepared:
    """Every check that needs no TensorFlow: raises ConfigError / DataError, writes nothing."""
    cfg = load_config(config, overrides)
    data = load_dataset(cfg)
    splits = split_dataset(data, cfg.validation_fraction, cfg.test_fraction, cfg.seed)
    check_compatible(cfg, len(data.labels))
    distribute.check_strategy(cfg.strategy)
    read_models_config(Path(cfg.models_dir))
    return Prepared(cfg, data, splits)


def run(config: str | os.PathLike | None = None, overrides: Iterable[str] = ()) -> TrainingResult:
    """Train the configured model and publish it as the next version.

    `config`: a YAML file, or the name of a built-in config; default digits.
    `overrides`: `key=value` strings, as given to --set.
    """
    prepared = prepare(config, overrides)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from training.pipeline import train_and_publish

    return train_and_publish(prepared)


def now_rfc3339() -> str:
    """The current UTC time, RFC 3339, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def elapsed(start: float) -> float:
    """Seconds since `start` (time.monotonic), rounded for the report."""
    return round(time.monotonic() - start, 2)
