"""`contract.training_report`: what the training job writes and the gateway serves."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from contract import ContractError
from contract.training_report import load_report, report_path, validate_report, write_report


def valid() -> dict:
    return {
        "format_version": 1,
        "model_name": "iris",
        "model_version": 3,
        "labels": ["setosa", "versicolor", "virginica"],
        "best_epoch": 2,
        "history": {"loss": [1.0, 0.5, 0.6], "val_loss": [1.1, 0.6, 0.7]},
        "test_metrics": {"accuracy": 0.9, "loss": 0.3},
        "per_class": [{"label": "setosa", "precision": 1.0}],
        "confusion_matrix": [[5, 0, 0], [0, 4, 1], [0, 0, 5]],
        "examples": [{"label": "setosa", "instance": {"sepal length (cm)": 5.1}}],
    }


def test_write_then_load_round_trips(tmp_path):
    path = write_report(tmp_path, valid())
    assert path == report_path(tmp_path) == tmp_path / "assets.extra" / "training_report.json"
    assert load_report(tmp_path) == valid()


def test_numpy_values_and_non_finite_numbers_become_json(tmp_path):
    doc = valid()
    doc["history"]["val_loss"] = np.array([1.1, np.nan, 0.7])
    doc["test_metrics"]["auc"] = np.float32(math.inf)
    doc["confusion_matrix"] = np.array(doc["confusion_matrix"], dtype=np.int64)
    write_report(tmp_path, doc)
    text = report_path(tmp_path).read_text()
    assert "NaN" not in text and "Infinity" not in text
    loaded = json.loads(text)
    assert loaded["history"]["val_loss"] == [1.1, None, 0.7]
    assert loaded["test_metrics"]["auc"] is None
    assert loaded["confusion_matrix"] == valid()["confusion_matrix"]


def test_missing_report_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_report(tmp_path)


def _broken(change):
    doc = copy.deepcopy(valid())
    change(doc)
    return doc


@pytest.mark.parametrize(
    "doc, message",
    [
        ([], "must be a JSON object"),
        (_broken(lambda d: d.update(format_version=2)), "format_version 2"),
        (_broken(lambda d: d.pop("history")), "lacks history"),
        (_broken(lambda d: d.update(labels=["only"])), "labels must be"),
        (_broken(lambda d: d.update(history={"val_loss": [1.0]})), "loss series"),
        (_broken(lambda d: d["history"].update(val_loss=[1.0])), "one value per epoch"),
        (_broken(lambda d: d["history"].update(loss=["x", 1, 2])), "history.loss"),
        (_broken(lambda d: d.update(best_epoch=4)), "best_epoch 4"),
        (_broken(lambda d: d.update(best_epoch=True)), "best_epoch True"),
        (_broken(lambda d: d.update(test_metrics={"accuracy": "high"})), "test_metrics"),
        (_broken(lambda d: d.update(confusion_matrix=[[1, 2], [3, 4]])), "3x3"),
        (_broken(lambda d: d["confusion_matrix"][0].__setitem__(0, -1)), "3x3"),
        (_broken(lambda d: d.update(per_class=[{"label": "rose"}])), "per_class[0]"),
        (_broken(lambda d: d.update(examples=[{"label": "setosa"}])), "examples[0]"),
    ],
)
def test_broken_reports_are_refused(doc, message):
    with pytest.raises(ContractError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_report(doc)


def test_unreadable_file_is_a_contract_error(tmp_path):
    report_path(tmp_path).parent.mkdir(parents=True)
    report_path(tmp_path).write_text("{")
    with pytest.raises(ContractError, match="not valid JSON"):
        load_report(tmp_path)
