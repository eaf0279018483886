"""Writing the SavedModel TF Serving loads: the `serving_default` signature, the warm-up
requests, and a check that the written model answers exactly like the trained one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.errors import ExportError
from training.model import OUTPUT_NAME

SIGNATURE_NAME = "serving_default"
WARMUP_FILENAME = "tf_serving_warmup_requests"
# The exported model must reproduce the in-memory model's probabilities to this much.
EXPORT_TOLERANCE = 1e-5


def save_model(model, path: Path, input_name: str, instance_shape: tuple[int, ...]) -> None:
    """Write `model` as a SavedModel: signature `serving_default`, one float32 input named
    `input_name` of shape (None, *instance_shape), one output `probabilities`."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec((None, *instance_shape), tf.float32, name=input_name)

    def serve(inputs):
        return {OUTPUT_NAME: model(inputs, training=False)}

    archive.add_endpoint(name=SIGNATURE_NAME, fn=serve, input_signature=[spec])
    archive.write_out(str(path), verbose=False)


def write_warmup_requests(path: Path, model_name: str, input_name: str,
                          batches: list[np.ndarray]) -> Path:
    """assets.extra/tf_serving_warmup_requests: one PredictionLog per batch of real,
    normalized inputs, so TF Serving runs them on load before taking traffic."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    target = path / "assets.extra" / WARMUP_FILENAME
    target.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(target)) as writer:
        for batch in batches:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=SIGNATURE_NAME)
            )
            request.inputs[input_name].CopyFrom(
                tf.make_tensor_proto(np.asarray(batch, dtype=np.float32))
            )
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return target


def warmup_batches(x: np.ndarray, count: int) -> list[np.ndarray]:
    """`count` batches of sizes 1, 2, 4, ... (capped by the examples available)."""
    batches = []
    for i in range(count):
        size = min(2**i, len(x))
        batches.append(x[:size])
    return batches


def load_signature(path: Path):
    """The `serving_default` function of the SavedModel at `path`."""
    import tensorflow as tf

    return tf.saved_model.load(str(path)).signatures[SIGNATURE_NAME]


def predict_with(signature, input_name: str, x: np.ndarray) -> np.ndarray:
    """Probabilities from a loaded `serving_default` for normalized float32 inputs `x`."""
    import tensorflow as tf

    outputs = signature(**{input_name: tf.constant(x, dtype=tf.float32)})
    return outputs[OUTPUT_NAME].numpy()


def verify_export(path: Path, input_name: str, x: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Load the written SavedModel, check its signature, and check it reproduces `expected`
    on `x`; return its probabilities. Raise ExportError otherwise."""
    signature = load_signature(path)
    _, inputs = signature.structured_input_signature
    if list(inputs) != [input_name] or list(signature.structured_outputs) != [OUTPUT_NAME]:
        raise ExportError(
            f"exported signature has inputs {list(inputs)} and outputs"
            f" {list(signature.structured_outputs)}; expected [{input_name!r}], [{OUTPUT_NAME!r}]"
        )
    got = predict_with(signature, input_name, x)
    if got.shape != expected.shape or not np.allclose(got, expected, atol=EXPORT_TOLERANCE):
        raise ExportError("the exported SavedModel does not reproduce the trained model's output")
    return got
