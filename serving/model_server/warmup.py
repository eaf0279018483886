"""Warm a freshly loaded servable up with `assets.extra/tf_serving_warmup_requests`.

Like TF Serving: the file is optional; it is a TFRecord of PredictionLog; each record's
request is run once through the normal Predict path; at most 1000 records; any failure
fails the load, so a version that cannot answer its own warm-up requests never
becomes AVAILABLE.
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import tensorflow as tf
from google.protobuf.message import DecodeError

from protogen.tfserving import prediction_log_pb2
from serving.model_server.errors import ServingError, invalid_argument
from serving.model_server.predict import run_predict
from serving.model_server.servable import Servable

log = logging.getLogger(__name__)

WARMUP_FILE = "tf_serving_warmup_requests"
MAX_RECORDS = 1000


def warmup_path(version_dir: Path) -> Path:
    """Where the warm-up requests of a SavedModel live."""
    return version_dir / "assets.extra" / WARMUP_FILE


def run_warmup(servable: Servable) -> int:
    """Replay the warm-up requests; return how many ran. Raises ServingError on failure."""
    path = warmup_path(servable.path)
    if not path.is_file():
        log.info("No warmup data file found at %s", path)
        return 0
    count = 0
    try:
        for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            count += 1
            if count > MAX_RECORDS:
                raise invalid_argument(
                    f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}"
                )
            try:
                entry = prediction_log_pb2.PredictionLog.FromString(record)
            except DecodeError:
                raise invalid_argument(f"Failed to parse warmup record {count} from {path}") from None
            kind = entry.WhichOneof("log_type")
            if kind != "predict_log":
                raise ServingError(
                    grpc.StatusCode.UNIMPLEMENTED, f"Unsupported log_type for warmup: {kind}"
                )
            try:
                run_predict(servable, entry.predict_log.request)
            except ServingError as exc:
                raise ServingError(exc.code, f"warmup request {count} failed: {exc.message}") from None
    except tf.errors.OpError as exc:
        raise ServingError(
            grpc.StatusCode.DATA_LOSS,
            f"{exc.message.splitlines()[0]}. Please verify your warmup data is in TFRecord format.",
        ) from None
    log.info("Finished reading warmup data for model at %s. Number of warmup records read: %d.", path, count)
    return count
