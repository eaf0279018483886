"""One loaded model version: a SavedModel, its SignatureDefs, and a way to run them.

The SignatureDefs are read from saved_model.pb itself (TensorFlow's MetaGraphDef, then
re-parsed as our message: the bytes are the same), so GetModelMetadata answers exactly
what TF Serving answers, tensor names such as "serving_default_pixels:0" included.
Running is what TF Serving does with a SavedModelBundle: the "serve" MetaGraph is loaded
into a TensorFlow Session and each signature runs as a Session callable (feeds and
fetches resolved once, from the SignatureDef's tensor names). For a small model that costs
a sixth of the CPU of calling the signature's eager function (bench/floor.md), and the
intra-/inter-op thread pools are sized by TF Serving's flags of the same names.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import config_pb2, saved_model_pb2

from protogen.tfserving import meta_graph_pb2
from serving.model_server.errors import ServingError, internal, invalid_argument

DATA_LOSS = grpc.StatusCode.DATA_LOSS.value[0]


class LoadError(Exception):
    """The version cannot be loaded; `error_code` is what GetModelStatus reports."""

    def __init__(self, error_code: int, message: str):
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class SessionOptions:
    """TF Serving's --tensorflow_intra_op_parallelism / --tensorflow_inter_op_parallelism
    (0: TensorFlow picks, one thread per CPU)."""

    intra_op_parallelism: int = 0
    inter_op_parallelism: int = 0


class Servable:
    """A loaded SavedModel version. Thread-safe: many requests run it at once."""

    def __init__(
        self,
        name: str,
        version: int,
        path: Path,
        session: tf.compat.v1.Session,
        signature_defs: Mapping[str, meta_graph_pb2.SignatureDef],
    ):
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs = signature_defs
        self._session = session
        self._callables: dict[tuple, object] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Servable({self.name!r}, {self.version})"

    def __del__(self) -> None:
        # Unloading drops the last reference once in-flight requests are done with it.
        session = getattr(self, "_session", None)
        if session is not None:
            self._callables.clear()  # callables release their handles into an open session
            session.close()

    def run(
        self, signature_name: str, inputs: Mapping[str, np.ndarray], output_keys: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """Run a signature on validated inputs; return the requested outputs as arrays.

        The one place a model runs: a batching layer (TF Serving's --enable_batching)
        wraps this call.
        """
        feed_keys = tuple(sorted(inputs))
        fetch_keys = tuple(output_keys)
        run = self._callable(signature_name, feed_keys, fetch_keys)
        try:
            results = run(*(inputs[key] for key in feed_keys))
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
            raise invalid_argument(_first_line(exc)) from None
        except tf.errors.OpError as exc:
            raise ServingError(_grpc_code(exc.error_code), _first_line(exc)) from None
        return dict(zip(fetch_keys, results))

    def _callable(self, signature_name: str, feed_keys: tuple, fetch_keys: tuple):
        key = (signature_name, feed_keys, fetch_keys)
        run = self._callables.get(key)
        if run is not None:
            return run
        signature = self.signature_defs.get(signature_name)
        # Membership first: indexing a protobuf map would insert the missing key.
        if (
            signature is None
            or not all(k in signature.inputs for k in feed_keys)
            or not all(k in signature.outputs for k in fetch_keys)
        ):
            raise internal(f"signature {signature_name} of {self!r} cannot be called")
        feeds = [signature.inputs[k].name for k in feed_keys]
        fetches = [signature.outputs[k].name for k in fetch_keys]
        with self._lock:
            run = self._callables.get(key)
            if run is None:
                options = config_pb2.CallableOptions(feed=feeds, fetch=fetches)
                try:
                    # The private fast path (TF_SessionRunCallable, what Keras 2 used):
                    # Session.make_callable with a feed_list falls back to Session.run,
                    # which costs 4x the CPU per call for a small model.
                    run = self._session._make_callable_from_options(options)
                except (KeyError, ValueError, TypeError, tf.errors.OpError) as exc:
                    raise internal(
                        f"signature {signature_name} of {self!r} cannot be called: {_first_line(exc)}"
                    ) from None
                self._callables[key] = run
        return run


def load_servable(
    name: str, version: int, path: Path, options: SessionOptions = SessionOptions()
) -> Servable:
    """Load the SavedModel in `path`; raise LoadError with TF's error code if it fails."""
    signature_defs = read_signature_defs(path)
    graph = tf.Graph()
    config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=options.intra_op_parallelism,
        inter_op_parallelism_threads=options.inter_op_parallelism,
        allow_soft_placement=True,
    )
    session = tf.compat.v1.Session(graph=graph, config=config)
    try:
        with graph.as_default():
            tf.compat.v1.saved_model.loader.load(session, ["serve"], str(path))
    except tf.errors.OpError as exc:
        session.close()
        raise LoadError(exc.error_code, _first_line(exc)) from None
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        session.close()
        raise LoadError(
            grpc.StatusCode.UNKNOWN.value[0], f"cannot load SavedModel at {path}: {_first_line(exc)}"
        ) from None
    graph.finalize()  # nothing may add ops to a serving graph (thread safety, no leaks)
    return Servable(name, version, path, session, signature_defs)


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
