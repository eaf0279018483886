"""The training report published inside each version folder (for the gateway's web page)
matches what the training run measured."""

from __future__ import annotations

import numpy as np
import pytest

from contract.training_report import load_report


@pytest.mark.parametrize("name", ["digits", "breast_cancer"])
def test_version_folder_holds_the_runs_training_report(model_repo, name):
    result = model_repo.results[name]
    report = load_report(result.version_dir)  # validates it too
    meta = result.metadata

    assert report["model_name"] == name
    assert report["model_version"] == result.version
    assert report["labels"] == list(meta.labels)
    assert report["best_epoch"] == result.best_epoch == meta.training.best_epoch
    assert report["history"] == result.history
    assert len(report["history"]["loss"]) == result.epochs_run
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(report["history"])
    assert report["test_metrics"] == pytest.approx(result.metrics)
    assert report["test_examples"] == len(result.test_labels)
    assert report["confusion_matrix"] == result.evaluation.confusion
    assert sum(map(sum, report["confusion_matrix"])) == len(result.test_labels)
    assert [c["label"] for c in report["per_class"]] == list(meta.labels)


@pytest.mark.parametrize("name", ["digits", "breast_cancer"])
def test_examples_are_raw_test_rows_one_per_class(model_repo, name):
    result = model_repo.results[name]
    report = load_report(result.version_dir)
    meta = result.metadata
    assert [e["label"] for e in report["examples"]] == list(meta.labels)
    for index, example in enumerate(report["examples"]):
        first = int(np.flatnonzero(result.test_labels == index)[0])
        raw = result.test_inputs[first]
        if meta.input.feature_names:
            assert list(example["instance"]) == list(meta.input.feature_names)
            got = np.array(list(example["instance"].values()), dtype=np.float64)
        else:
            got = np.array(example["instance"], dtype=np.float64)
        np.testing.assert_array_equal(got, raw)
