"""INTERIM, until the root `model_repo` fixture (real training) lands: SavedModels that
follow the export contract (named input, `probabilities` output, warm-up file), built
directly with Keras in a few hundred milliseconds."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np


def export(version_dir: Path, kind: str, seed: int = 0) -> Path:
    import keras
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    name, shape, units = ("pixels", (8, 8, 1), 10) if kind == "image" else ("features", (30,), 1)
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=shape, name=name)
    x = keras.layers.Flatten(name="flatten")(inp)
    out = keras.layers.Dense(units, activation="softmax" if units > 1 else "sigmoid", name="probabilities")(x)
    model = keras.Model(inp, out)
    spec = tf.TensorSpec((None, *shape), tf.float32, name=name)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", tf.function(lambda t: {"probabilities": model(t)}), input_signature=[spec])
    staging = version_dir.parent / f".tmp-{version_dir.name}"
    archive.write_out(str(staging))
    extra = staging / "assets.extra"
    extra.mkdir(exist_ok=True)
    with tf.io.TFRecordWriter(str(extra / "tf_serving_warmup_requests")) as writer:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = version_dir.parent.name
        request.inputs[name].CopyFrom(tf.make_tensor_proto(np.zeros((2, *shape), np.float32)))
        log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
        writer.write(log.SerializeToString())
    os.rename(staging, version_dir)
    return version_dir


def build(root: Path) -> SimpleNamespace:
    models = root / "models"
    results = {}
    for name, kind in (("digits", "image"), ("breast_cancer", "tabular")):
        base = models / name
        base.mkdir(parents=True)
        version_dir = export(base / "1", kind)
        results[name] = SimpleNamespace(name=name, version=1, version_dir=version_dir)
    config = models / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{n}" base_path: "{models / n}" model_platform: "tensorflow" }}\n'
            for n in results
        )
        + "}\n"
    )
    return SimpleNamespace(models_dir=models, config_path=config, runs_dir=root / "runs", results=results)
