"""One loaded model version: a SavedModel, its SignatureDefs, and a way to run them.

The SignatureDefs are read from saved_model.pb itself (TensorFlow's MetaGraphDef, then
re-parsed as our message: the bytes are the same), so GetModelMetadata answers exactly
what TF Serving answers, tensor names such as "serving_default_pixels:0" included.
Running calls the signature's concrete function directly with tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import saved_model_pb2

from protogen.tfserving import meta_graph_pb2
from serving.model_server.errors import ServingError, internal, invalid_argument

DATA_LOSS = grpc.StatusCode.DATA_LOSS.value[0]


class LoadError(Exception):
    """The version cannot be loaded; `error_code` is what GetModelStatus reports."""

    def __init__(self, error_code: int, message: str):
        super().__init__(message)
        self.error_code = error_code
        self.message = message


class Servable:
    """A loaded SavedModel version. Thread-safe: many requests run it at once."""

    def __init__(self, name: str, version: int, path: Path, loaded: object, signature_defs):
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs: Mapping[str, meta_graph_pb2.SignatureDef] = signature_defs
        # The loaded object owns the variables; the functions only hold weak references.
        self._loaded = loaded
        self._functions = dict(loaded.signatures)

    def __repr__(self) -> str:
        return f"Servable({self.name!r}, {self.version})"

    def run(
        self, signature_name: str, inputs: Mapping[str, np.ndarray], output_keys: list[str]
    ) -> dict[str, np.ndarray]:
        """Run a signature on validated inputs; return the requested outputs as arrays.

        The one place a model runs: a batching layer (TF Serving's --enable_batching)
        would wrap this call.
        """
        function = self._functions.get(signature_name)
        if function is None:
            raise internal(f"signature {signature_name} of {self!r} cannot be called")
        try:
            feed = {key: tf.convert_to_tensor(value) for key, value in inputs.items()}
            result = function(**feed)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
            raise invalid_argument(_first_line(exc)) from None
        except tf.errors.OpError as exc:
            raise ServingError(_grpc_code(exc.error_code), _first_line(exc)) from None
        return {key: result[key].numpy() for key in output_keys}


def load_servable(name: str, version: int, path: Path) -> Servable:
    """Load the SavedModel in `path`; raise LoadError with TF's error code if it fails."""
    try:
        signature_defs = read_signature_defs(path)
        loaded = tf.saved_model.load(str(path), tags=["serve"])
    except tf.errors.OpError as exc:
        raise LoadError(exc.error_code, _first_line(exc)) from None
    except (OSError, ValueError, RuntimeError) as exc:
        raise LoadError(
            grpc.StatusCode.UNKNOWN.value[0], f"cannot load SavedModel at {path}: {_first_line(exc)}"
        ) from None
    return Servable(name, version, path, loaded, signature_defs)


def read_signature_defs(path: Path) -> dict[str, meta_graph_pb2.SignatureDef]:
    """The SignatureDefs of the "serve" MetaGraph of the SavedModel in `path`."""
    saved_model = saved_model_pb2.SavedModel()
    try:
        if (path / "saved_model.pb").is_file():
            saved_model.ParseFromString((path / "saved_model.pb").read_bytes())
        else:
            text_format.Parse((path / "saved_model.pbtxt").read_text(), saved_model)
    except (DecodeError, text_format.ParseError):
        raise LoadError(DATA_LOSS, f"Can't parse the SavedModel in {path}") from None
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return {
                key: meta_graph_pb2.SignatureDef.FromString(sig.SerializeToString())
                for key, sig in meta_graph.signature_def.items()
            }
    raise LoadError(
        grpc.StatusCode.NOT_FOUND.value[0], f"SavedModel at {path} has no MetaGraph tagged 'serve'"
    )


def _grpc_code(error_code: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == error_code:
            return code
    return grpc.StatusCode.UNKNOWN


def _first_line(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, tf.errors.OpError) else str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
