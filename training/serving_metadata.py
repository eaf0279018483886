"""Filling in the training-to-serving contract (`ServingMetadata`) for a trained model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from contract import FORMAT_VERSION
from protogen.contract.serving_metadata_pb2 import (
    InputSpec,
    Normalization,
    OutputSpec,
    ServingMetadata,
)
from training.data import IMAGE, Dataset, Splits
from training.export import SIGNATURE_NAME
from training.model import OUTPUT_NAME, SIGMOID, input_name, output_activation


@dataclass(frozen=True)
class TrainingFacts:
    """What the training summary records besides the data."""

    test_metrics: dict[str, float]
    config: dict[str, Any]
    created_at: str
    tensorflow_version: str
    best_epoch: int


def build_metadata(name: str, version: int, data: Dataset, splits: Splits,
                   normalization: Normalization, facts: TrainingFacts) -> ServingMetadata:
    """The contract for version `version` of model `name`."""
    meta = ServingMetadata(
        format_version=FORMAT_VERSION,
        model_name=name,
        model_version=version,
        signature_name=SIGNATURE_NAME,
    )
    train_x = splits.train.x
    spec = meta.input
    spec.name = input_name(data.kind)
    spec.shape.extend(data.instance_shape)
    spec.dtype = "float32"
    spec.raw_range.min = float(train_x.min())
    spec.raw_range.max = float(train_x.max())
    if data.kind == IMAGE:
        spec.kind = InputSpec.IMAGE
    else:
        spec.kind = InputSpec.TABULAR
        spec.feature_names.extend(data.feature_names)
        for low, high in zip(train_x.min(axis=0), train_x.max(axis=0)):
            spec.feature_ranges.add(min=float(low), max=float(high))
    meta.normalization.CopyFrom(normalization)
    meta.labels.extend(data.labels)
    activation, units = output_activation(len(data.labels))
    meta.output.name = OUTPUT_NAME
    meta.output.activation = OutputSpec.SIGMOID if activation == SIGMOID else OutputSpec.SOFTMAX
    meta.output.units = units
    summary = meta.training
    for key, value in facts.test_metrics.items():
        summary.test_metrics[key] = float(value)
    summary.dataset_fingerprint = data.fingerprint
    summary.config.update(facts.config)
    summary.created_at = facts.created_at
    summary.tensorflow_version = facts.tensorflow_version
    summary.dataset = data.source
    summary.best_epoch = facts.best_epoch
    summary.train_examples = len(splits.train.y)
    summary.validation_examples = len(splits.validation.y)
    summary.test_examples = len(splits.test.y)
    return meta


def class_counts(y: np.ndarray, labels: tuple[str, ...]) -> dict[str, int]:
    """Examples per label."""
    counts = np.bincount(y, minlength=len(labels))
    return {label: int(c) for label, c in zip(labels, counts)}
