"""The training job end to end (real TensorFlow training, tiny epochs): what it publishes
is a SavedModel TF Serving can load, with a contract and a report that match it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from contract import load_metadata, normalize
from protogen.contract.serving_metadata_pb2 import InputSpec, OutputSpec
from tests.training.conftest import ROOT, write_image_folder
from training.data import load_builtin
from training.errors import ExportError

pytestmark = pytest.mark.slow

BUILTINS = ["digits", "breast_cancer", "iris", "wine"]


def load_serving_default(version_dir):
    import tensorflow as tf

    return tf.saved_model.load(str(version_dir)).signatures["serving_default"]


def models_config_entries(models_dir):
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse((models_dir / "models.config").read_text(), config)
    return {c.name: c.base_path for c in config.model_config_list.config}


@pytest.mark.parametrize("builtin_result", BUILTINS, indirect=True)
def test_exported_signature_matches_the_metadata(builtin_result):
    result = builtin_result
    meta = load_metadata(result.version_dir)
    assert meta == result.metadata
    assert (meta.model_name, meta.model_version) == (result.name, result.version)
    assert result.version_dir.name == str(result.version)
    signature = load_serving_default(result.version_dir)
    _, inputs = signature.structured_input_signature
    assert list(inputs) == [meta.input.name]
    spec = inputs[meta.input.name]
    assert spec.dtype.name == "float32" and meta.input.dtype == "float32"
    assert tuple(spec.shape) == (None, *meta.input.shape)
    outputs = signature.structured_outputs
    assert list(outputs) == ["probabilities"] == [meta.output.name]
    assert tuple(outputs["probabilities"].shape) == (None, meta.output.units)
    image = result.name == "digits"
    assert meta.input.name == ("pixels" if image else "features")
    assert meta.input.kind == (InputSpec.IMAGE if image else InputSpec.TABULAR)


@pytest.mark.parametrize("builtin_result", BUILTINS, indirect=True)
def test_served_probabilities_match_training_and_are_probabilities(builtin_result):
    result = builtin_result
    meta = result.metadata
    signature = load_serving_default(result.version_dir)
    served = signature(**{meta.input.name: normalize(result.test_inputs, meta.normalization)})
    probs = served["probabilities"].numpy()
    np.testing.assert_allclose(probs, result.test_probabilities, atol=1e-6)
    if meta.output.activation == OutputSpec.SOFTMAX:
        assert meta.output.units == len(meta.labels) > 2
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    else:
        assert meta.output.units == 1 and len(meta.labels) == 2
        assert ((probs >= 0) & (probs <= 1)).all()
    predicted = probs.argmax(axis=1) if probs.shape[1] > 1 else (probs[:, 0] > 0.5).astype(int)
    assert result.metrics["accuracy"] == pytest.approx(np.mean(predicted == result.test_labels))
    assert dict(meta.training.test_metrics) == pytest.approx(result.metrics)


@pytest.mark.parametrize("builtin_result", BUILTINS, indirect=True)
def test_normalization_was_fitted_on_the_training_split_only(builtin_result):
    result = builtin_result
    data = load_builtin(result.name)
    index = result.split_index
    parts = np.concatenate([index["train"], index["validation"], index["test"]])
    assert sorted(parts.tolist()) == list(range(len(data.y)))
    np.testing.assert_array_equal(result.test_inputs, data.x[index["test"]])
    train = data.x[index["train"]]
    norm = result.metadata.normalization
    if result.name == "digits":
        assert list(norm.offset) == [train.min()]
        assert list(norm.scale) == [train.max() - train.min()]
    else:
        np.testing.assert_allclose(norm.offset, train.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(norm.scale, train.std(axis=0), rtol=1e-12)
        assert not np.allclose(norm.offset, data.x.mean(axis=0), rtol=1e-9)
        ranges = result.metadata.input.feature_ranges
        assert [r.max for r in ranges] == train.max(axis=0).tolist()
    assert result.metadata.input.raw_range.max == train.max()
    summary = result.metadata.training
    assert (summary.train_examples, summary.validation_examples, summary.test_examples) == (
        len(index["train"]), len(index["validation"]), len(index["test"]))


@pytest.mark.parametrize("builtin_result", ["digits", "breast_cancer"], indirect=True)
def test_warmup_requests_parse_and_run_against_the_model(builtin_result):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from protogen.tfserving.prediction_log_pb2 import PredictionLog

    result = builtin_result
    meta = result.metadata
    path = result.version_dir / "assets.extra" / "tf_serving_warmup_requests"
    records = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    assert len(records) == result.config.warmup_requests == 4
    signature = load_serving_default(result.version_dir)
    for i, record in enumerate(records):
        ours = PredictionLog.FromString(record)  # our generated copy reads it too
        assert ours.predict_log.request.model_spec.name == result.name
        log = prediction_log_pb2.PredictionLog.FromString(record)
        request = log.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        assert list(request.inputs) == [meta.input.name]
        batch = tf.make_ndarray(request.inputs[meta.input.name])
        assert batch.dtype == np.float32 and batch.shape == (2**i, *meta.input.shape)
        out = signature(**{meta.input.name: tf.constant(batch)})["probabilities"].numpy()
        assert out.shape == (2**i, meta.output.units) and np.isfinite(out).all()


@pytest.mark.parametrize("builtin_result", BUILTINS, indirect=True)
def test_report_folder_is_complete(builtin_result):
    result = builtin_result
    files = sorted(p.name for p in result.run_dir.iterdir())
    assert files == ["confusion_matrix.png", "curves.png", "history.csv", "report.json"]
    for png in ("curves.png", "confusion_matrix.png"):
        assert (result.run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["model"] == result.name and report["version"] == result.version
    assert report["dataset"]["fingerprint"] == result.metadata.training.dataset_fingerprint
    assert report["training"]["best_epoch"] == result.best_epoch == result.metadata.training.best_epoch
    assert report["test_metrics"] == pytest.approx(result.metrics)
    assert report["config"]["epochs"] == result.config.epochs
    evaluation = report["evaluation"]
    matrix = np.array(evaluation["confusion_matrix"]["rows_true_columns_predicted"])
    assert matrix.sum() == len(result.test_labels)
    assert set(evaluation["per_class"]) == set(result.metadata.labels)
    history = (result.run_dir / "history.csv").read_text().splitlines()
    header = history[0].split(",")
    assert header[0] == "epoch" and {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(header)
    assert len(history) == 1 + result.epochs_run


def test_models_config_lists_every_trained_model(model_repo):
    entries = models_config_entries(model_repo.models_dir)
    assert entries == {
        name: str((model_repo.models_dir / name).resolve()) for name in model_repo.results
    }


def test_same_config_and_seed_give_the_same_metrics(scratch):
    first = scratch.train("iris", "epochs=4", "seed=3")
    second = scratch.train("iris", "epochs=4", "seed=3")
    assert (first.version, second.version) == (1, 2)
    assert first.metrics == second.metrics
    assert first.history == second.history
    np.testing.assert_array_equal(first.test_probabilities, second.test_probabilities)


def test_concurrent_runs_publish_distinct_complete_versions(scratch):
    args = ["--config", "iris", "--set", "epochs=2", *[f"--set={o}" for o in scratch.overrides]]
    procs = [
        subprocess.Popen([sys.executable, "-m", "training", *args], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outcomes]
    root = scratch.models_dir / "iris"
    assert sorted(p.name for p in root.iterdir()) == ["1", "2"]  # no staging left behind
    for version in (1, 2):
        folder = root / str(version)
        assert (folder / "saved_model.pb").is_file()
        assert (folder / "variables" / "variables.index").is_file()
        assert (folder / "assets.extra" / "tf_serving_warmup_requests").is_file()
        assert load_metadata(folder).model_version == version
        assert (scratch.runs_dir / "iris" / str(version) / "report.json").is_file()
    for out, _ in outcomes:  # progress, then where it published
        assert "Epoch 2/2" in out and "test accuracy" in out and "report: " in out
    said = sorted(out.split("iris version ")[1].split(":")[0] for out, _ in outcomes)
    assert said == ["1", "2"]
    # Same config, same seed, separate processes: the same test metrics.
    scores = {out.split("test accuracy ")[1].split(";")[0] for out, _ in outcomes}
    assert len(scores) == 1
    assert list(models_config_entries(scratch.models_dir)) == ["iris"]


def test_csv_data_with_string_labels(scratch, iris_csv):
    result = scratch.train(None, "dataset=csv", f"data_path={iris_csv}", "label_column=species",
                           "epochs=2")
    meta = result.metadata
    assert result.name == "flowers" and meta.model_name == "flowers"
    assert list(meta.input.feature_names) == [
        "sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert list(meta.labels) == ["setosa", "versicolor", "virginica"]
    assert meta.input.kind == InputSpec.TABULAR and list(meta.input.shape) == [4]


def test_image_folder_data_in_rgb(scratch, tmp_path):
    root = write_image_folder(tmp_path / "shapes", per_class=12, size=16)
    result = scratch.train(None, "dataset=images", f"data_path={root}", "image_height=12",
                           "image_width=10", "color_mode=rgb", "epochs=2", "name=shapes")
    meta = result.metadata
    assert list(meta.input.shape) == [12, 10, 3] and meta.input.name == "pixels"
    assert list(meta.labels) == ["digit_0", "digit_1", "digit_7"]
    assert list(meta.normalization.scale) == [meta.input.raw_range.max - meta.input.raw_range.min]
    signature = load_serving_default(result.version_dir)
    x = normalize(result.test_inputs, meta.normalization)
    assert signature(pixels=x)["probabilities"].shape == (len(x), 3)


def test_a_failed_export_publishes_nothing(scratch, monkeypatch):
    import training.pipeline

    def broken(*args, **kwargs):  # injected fault: the export check fails
        raise ExportError("the exported SavedModel does not reproduce the trained model")

    monkeypatch.setattr(training.pipeline, "verify_export", broken)
    with pytest.raises(ExportError):
        scratch.train("iris", "epochs=1")
    assert list((scratch.models_dir / "iris").iterdir()) == []
    assert list((scratch.runs_dir / "iris").iterdir()) == []
    assert not (scratch.models_dir / "models.config").exists()


def test_mirrored_strategy_trains_and_publishes(scratch):
    result = scratch.train("iris", "epochs=2", "strategy=mirrored")
    assert result.version == 1 and (result.version_dir / "saved_model.pb").is_file()
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["training"]["placement"].startswith("MirroredStrategy")


def free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_together_and_only_the_chief_publishes(tmp_path):
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "training", "--config", "iris", "--set", "epochs=2",
             "--set", f"models_dir={tmp_path}/models{index}",
             "--set", f"runs_dir={tmp_path}/runs{index}"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outcomes = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outcomes]
    assert "MultiWorkerMirroredStrategy, 2 workers" in outcomes[0][0]
    assert "iris version 1" in outcomes[0][0]
    assert "the chief publishes" in outcomes[1][0]
    assert (tmp_path / "models0" / "iris" / "1" / "saved_model.pb").is_file()
    assert load_metadata(tmp_path / "models0" / "iris" / "1").model_version == 1
    assert not (tmp_path / "models1").exists() and not (tmp_path / "runs1").exists()
    # Both workers logged the same (synchronized) metrics for the last epoch.
    def last_epoch_metrics(out):
        line = out.split("Epoch 2/2\n")[1].splitlines()[0]
        return line.split(" - ")[3:]  # after steps, time, time per step

    assert last_epoch_metrics(outcomes[0][0]) == last_epoch_metrics(outcomes[1][0])
    assert "val_loss" in " ".join(last_epoch_metrics(outcomes[0][0]))
