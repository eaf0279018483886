"""Baseline (d): the tutorial way, Flask + `model.predict` on every request.

What most "serve your Keras model with Flask" tutorials show: load the model once with
Keras, parse the body with `request.get_json()`, normalize, call `model.predict(x)` for
each request, answer with `jsonify`. Keras 3 loads a SavedModel for inference as a
`TFSMLayer`, wrapped in a Model so that `predict` works as it does on any Keras model.

    BASELINE_MODEL_ROOT=bench/out/models BASELINE_MODELS=digits,wide \
        gunicorn -w 2 'bench.baselines.tutorial_app:create_app()'
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from flask import Flask, jsonify, request

from bench.baselines.common import BaselineInputError, configured, newest_version, raw_batch, top1
from contract import normalize


def load_keras_model(version_dir: Path, meta) -> keras.Model:
    """The SavedModel as a Keras model whose `predict` returns the probabilities."""
    shape = tuple(int(d) for d in meta.input.shape)
    inputs = keras.Input(shape=shape, name=meta.input.name)
    layer = keras.layers.TFSMLayer(
        str(version_dir), call_endpoint=meta.signature_name or "serving_default"
    )
    outputs = layer(inputs)[meta.output.name or "probabilities"]
    return keras.Model(inputs, outputs)


def create_app(model_root: str | Path | None = None, models: list[str] | None = None) -> Flask:
    """The app, with every model of `models` loaded (BASELINE_* variables by default)."""
    root, names = configured(model_root, models)
    served = {}
    for name in names:
        version_dir, meta = newest_version(root, name)
        served[name] = (load_keras_model(version_dir, meta), meta)

    app = Flask(__name__)

    @app.route("/v1/models/<name>:predict", methods=["POST"])
    def predict(name: str):
        if name not in served:
            return jsonify(error=f"unknown model {name!r}"), 404
        model, meta = served[name]
        data = request.get_json(silent=True)
        try:
            raw = raw_batch(data.get("instances") if isinstance(data, dict) else None, meta)
        except BaselineInputError as exc:
            return jsonify(error=str(exc)), 400
        x = normalize(raw, meta.normalization)
        probabilities = np.asarray(model.predict(x, verbose=0))
        return jsonify(model=name, predictions=top1(probabilities, meta))

    return app
