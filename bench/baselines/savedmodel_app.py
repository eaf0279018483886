"""Baseline (c): the in-process server a careful engineer writes without our stack.

Flask under gunicorn; each worker loads the SavedModel and calls its `serving_default`
signature (the concrete function) directly, with orjson for JSON, `contract.normalize`
for the inputs and numpy for the labels: no per-request Keras machinery. Once the models
are loaded, `gc.freeze()` takes the ~360,000 objects TensorFlow created out of the
garbage collector's sight: a full collection otherwise walks them all (about 0.2 s on
the benchmark machine), and parsing large JSON bodies triggers collections often enough
to make the 32 × 28×28 cells 3-4 times slower.

    BASELINE_MODEL_ROOT=bench/out/models BASELINE_MODELS=digits,wide \
        gunicorn -w 2 'bench.baselines.savedmodel_app:create_app()'
"""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import orjson
import tensorflow as tf
from flask import Flask, Response, request

from bench.baselines.common import BaselineInputError, configured, newest_version, raw_batch, top1
from contract import normalize


def create_app(model_root: str | Path | None = None, models: list[str] | None = None) -> Flask:
    """The app, with every model of `models` loaded (BASELINE_* variables by default)."""
    root, names = configured(model_root, models)
    served = {}
    for name in names:
        version_dir, meta = newest_version(root, name)
        loaded = tf.saved_model.load(str(version_dir))
        function = loaded.signatures[meta.signature_name or "serving_default"]
        served[name] = (loaded, function, meta)

    gc.freeze()
    app = Flask(__name__)

    @app.post("/v1/models/<name>:predict")
    def predict(name: str) -> Response:
        if name not in served:
            return _json({"error": f"unknown model {name!r}"}, 404)
        _, function, meta = served[name]
        try:
            body = orjson.loads(request.get_data())
            raw = raw_batch(body.get("instances") if isinstance(body, dict) else None, meta)
        except (orjson.JSONDecodeError, BaselineInputError) as exc:
            return _json({"error": str(exc)}, 400)
        x = normalize(raw, meta.normalization)
        outputs = function(**{meta.input.name: tf.constant(x)})
        probabilities = np.asarray(outputs[meta.output.name or "probabilities"])
        return _json({"model": name, "predictions": top1(probabilities, meta)})

    return app


def _json(payload: object, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype="application/json")
