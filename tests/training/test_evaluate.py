"""Test-split evaluation and the choice of the best epoch."""

import numpy as np
import pytest

from training.errors import TrainingError
from training.evaluate import evaluate, predicted_classes
from training.fit import _best_epoch


def test_softmax_scores_confusion_and_per_class():
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    result = evaluate(probs, np.array([0, 1, 2, 2]), ("a", "b", "c"))
    assert result.accuracy == 0.75
    assert result.confusion == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert result.per_class["a"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3),
                                     "support": 1}
    assert result.per_class["c"]["recall"] == 0.5 and result.per_class["c"]["precision"] == 1.0
    data = result.to_dict()
    assert data["confusion_matrix"]["labels"] == ["a", "b", "c"]


def test_sigmoid_unit_predicts_the_second_label_above_one_half():
    probs = np.array([[0.2], [0.5], [0.51], [0.99]])
    assert predicted_classes(probs).tolist() == [0, 0, 1, 1]
    result = evaluate(probs, np.array([0, 0, 1, 0]), ("neg", "pos"))
    assert result.accuracy == 0.75 and result.confusion == [[2, 1], [0, 1]]


def test_a_class_never_predicted_scores_zero_not_an_error():
    result = evaluate(np.array([[0.9, 0.1], [0.8, 0.2]]), np.array([0, 1]), ("a", "b"))
    assert result.per_class["b"]["precision"] == 0.0


@pytest.mark.parametrize(
    "values, monitor, best",
    [
        ([0.9, 0.5, 0.5, 0.7], "val_loss", 2),
        ([0.5, 0.9, 0.9, 0.7], "val_accuracy", 2),
        ([0.5, 0.6, 0.4], "val_auc", 2),
        ([float("nan"), 0.3, 0.2], "loss", 3),
    ],
)
def test_best_epoch_is_the_first_strict_best(values, monitor, best):
    assert _best_epoch(values, monitor) == best


def test_all_nan_history_is_a_divergence():
    with pytest.raises(TrainingError, match="diverged"):
        _best_epoch([float("nan")] * 3, "val_loss")
