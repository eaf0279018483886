"""Evaluation on the held-out test split: accuracy, per-class precision / recall / F1,
the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Evaluation:
    """Test-split results. `confusion[i][j]`: examples of labels[i] predicted as labels[j]."""

    accuracy: float
    per_class: dict[str, dict[str, float]]
    macro_f1: float
    confusion: list[list[int]]
    labels: tuple[str, ...]

    def to_dict(self) -> dict:
        """JSON-able form for report.json."""
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": self.per_class,
            "confusion_matrix": {"labels": list(self.labels), "rows_true_columns_predicted":
                                 self.confusion},
        }


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    """Class indices from the model's output: labels[1] when the one sigmoid unit is above
    0.5 (as Keras' BinaryAccuracy counts it), else the argmax."""
    if probabilities.shape[1] == 1:
        return (probabilities[:, 0] > 0.5).astype(np.int64)
    return probabilities.argmax(axis=1).astype(np.int64)


def evaluate(probabilities: np.ndarray, y_true: np.ndarray, labels: tuple[str, ...]) -> Evaluation:
    """Score predicted `probabilities` against the true class indices."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_pred = predicted_classes(probabilities)
    classes = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    matrix = confusion_matrix(y_true, y_pred, labels=classes)
    return Evaluation(
        accuracy=float(np.mean(y_pred == y_true)),
        per_class=per_class,
        macro_f1=float(np.mean(f1)),
        confusion=matrix.astype(int).tolist(),
        labels=labels,
    )
