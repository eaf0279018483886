"""The gateway's backend: TF Serving's gRPC API through our generated stubs (no TensorFlow).

`TFServingClient` implements `serving.gateway.backend.Backend`. It talks to TensorFlow
Serving in production and to `serving.model_server` locally, and cannot tell them apart.

- One channel per process, opened lazily on first use and reopened after a fork (the
  pid is checked on every call), so gunicorn can import the app before forking workers.
- Every call has a deadline. The deadline covers the whole call, retries included, so a
  request never waits longer than `deadline_seconds` for the model server.
- Only UNAVAILABLE is retried (the server is down or restarting: nothing ran), with
  exponential backoff and jitter. Anything else may have run, or will fail again.
- gRPC errors become `serving.gateway.errors` classes whose messages are safe to show a
  client: never the gRPC debug string. The gRPC code name is kept in `exc.grpc_code`.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple, Self

import grpc
import numpy as np

from protogen.tfserving import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from serving.gateway import tensors
from serving.gateway.backend import SignatureInfo, TensorSpec, VersionStatus
from serving.gateway.errors import (
    BackendBadResponse,
    BackendDeadline,
    BackendError,
    BackendInvalidArgument,
    BackendNotFound,
    BackendUnavailable,
    BadRequest,
    GatewayError,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_STATE_NAMES = get_model_status_pb2.ModelVersionStatus.State
_MAX_DETAIL_CHARS = 300
# Answers about the request, not about the server's health: not worth a warning.
_CLIENT_CODES = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION}
)


class _Stubs(NamedTuple):
    channel: grpc.Channel
    predict: Any
    metadata: Any
    status: Any


class TFServingClient:
    """A `Backend` over TF Serving's PredictionService and ModelService.

    address: "host:port" of TF Serving (or the local model server).
    deadline_seconds: budget of each call, retries included.
    retries: how many times an UNAVAILABLE call is retried (0 = never).
    backoff_seconds / backoff_max_seconds: the first retry waits about backoff_seconds,
        each next one twice as long, capped at backoff_max_seconds (with ±50% jitter).
    max_message_bytes: the largest request or response message.
    keepalive_time_ms / keepalive_timeout_ms: HTTP/2 pings on an open connection, so a
        dead peer is noticed. TF Serving refuses pings more often than every 5 minutes on
        a connection without calls, hence keepalive_permit_without_calls defaults to off.
    """

    def __init__(
        self,
        address: str,
        *,
        deadline_seconds: float = 5.0,
        retries: int = 2,
        backoff_seconds: float = 0.05,
        backoff_max_seconds: float = 1.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        keepalive_time_ms: int = 30_000,
        keepalive_timeout_ms: int = 10_000,
        keepalive_permit_without_calls: bool = False,
    ):
        if not address or ":" not in address:
            raise ValueError(f"backend address must be host:port, got {address!r}")
        if deadline_seconds <= 0:
            raise ValueError("deadline_seconds must be positive")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if backoff_seconds < 0 or backoff_max_seconds < backoff_seconds:
            raise ValueError("need 0 <= backoff_seconds <= backoff_max_seconds")
        if max_message_bytes <= 0:
            raise ValueError("max_message_bytes must be positive")
        self.address = address
        self.deadline_seconds = float(deadline_seconds)
        self.retries = int(retries)
        self.backoff_seconds = float(backoff_seconds)
        self.backoff_max_seconds = float(backoff_max_seconds)
        reconnect_ms = max(int(backoff_seconds * 1000), 10)
        self._options = [
            ("grpc.max_send_message_length", int(max_message_bytes)),
            ("grpc.max_receive_message_length", int(max_message_bytes)),
            ("grpc.keepalive_time_ms", int(keepalive_time_ms)),
            ("grpc.keepalive_timeout_ms", int(keepalive_timeout_ms)),
            ("grpc.keepalive_permit_without_calls", int(keepalive_permit_without_calls)),
            # A restarted server is found again quickly: our retries are only useful if
            # the channel tries to reconnect within the deadline.
            ("grpc.initial_reconnect_backoff_ms", reconnect_ms),
            ("grpc.min_reconnect_backoff_ms", reconnect_ms),
            ("grpc.max_reconnect_backoff_ms", max(int(backoff_max_seconds * 1000), reconnect_ms)),
        ]
        self._lock = threading.Lock()
        self._stubs: _Stubs | None = None
        self._pid: int | None = None

    # -- the Backend interface ---------------------------------------------------------

    def status(self, model: str) -> list[VersionStatus]:
        """Every version of `model` the server knows, with its state (sorted by version)."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        response = self._call("status", request, model, None)
        out = []
        for item in response.model_version_status:
            try:
                state = _STATE_NAMES.Name(item.state)
            except ValueError:
                state = "UNKNOWN"
            out.append(
                VersionStatus(
                    version=int(item.version),
                    state=state,
                    error_code=int(item.status.error_code),
                    error_message=item.status.error_message,
                )
            )
        return sorted(out, key=lambda s: s.version)

    def metadata(
        self, model: str, version: int | None = None, signature: str = "serving_default"
    ) -> SignatureInfo:
        """The signature `signature` of `model` (the given version, or the newest available)."""
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        _fill_spec(request.model_spec, model, version, "")
        request.metadata_field.append("signature_def")
        response = self._call("metadata", request, model, version)
        if "signature_def" not in response.metadata:
            raise BackendBadResponse(f"model server sent no signature_def for model '{model}'")
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        if not response.metadata["signature_def"].Unpack(sig_map):
            raise BackendBadResponse(f"model server sent an unreadable signature_def for '{model}'")
        if signature not in sig_map.signature_def:
            raise BackendNotFound(f"model '{model}' has no signature '{signature}'")
        sig = sig_map.signature_def[signature]
        served = _served_version(response.model_spec, version, model)
        return SignatureInfo(
            version=served,
            inputs={k: _tensor_spec(v, k) for k, v in sorted(sig.inputs.items())},
            outputs={k: _tensor_spec(v, k) for k, v in sorted(sig.outputs.items())},
            method_name=sig.method_name,
        )

    def predict(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        version: int | None = None,
        signature: str = "serving_default",
    ) -> tuple[int, dict[str, np.ndarray]]:
        """Run `signature` of `model` on `inputs`; return (version that ran, outputs)."""
        request = predict_pb2.PredictRequest()
        _fill_spec(request.model_spec, model, version, signature)
        for name, array in inputs.items():
            try:
                tensors.fill_tensor_proto(request.inputs[name], array)
            except tensors.TensorError as exc:
                raise BadRequest(f"input '{name}': {exc}") from None
        response = self._call("predict", request, model, version)
        served = _served_version(response.model_spec, version, model)
        outputs = {}
        for name, proto in response.outputs.items():
            try:
                outputs[name] = tensors.to_ndarray(proto)
            except tensors.TensorError as exc:
                raise BackendBadResponse(f"model server sent a bad output '{name}': {exc}") from None
        return served, outputs

    def close(self) -> None:
        """Close this process's channel; the next call opens a new one."""
        with self._lock:
            stubs, pid = self._stubs, self._pid
            self._stubs = self._pid = None
        if stubs is not None and pid == os.getpid():
            stubs.channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------------

    def _get_stubs(self) -> _Stubs:
        stubs = self._stubs
        if stubs is not None and self._pid == os.getpid():
            return stubs
        with self._lock:
            if self._stubs is None or self._pid != os.getpid():
                # After a fork the parent's channel is unusable here: drop it unclosed
                # (closing would touch the parent's gRPC state) and open our own.
                channel = grpc.insecure_channel(self.address, options=self._options)
                prediction = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                models = model_service_pb2_grpc.ModelServiceStub(channel)
                self._stubs = _Stubs(
                    channel, prediction.Predict, prediction.GetModelMetadata, models.GetModelStatus
                )
                self._pid = os.getpid()
            return self._stubs

    def _call(self, method: str, request: Any, model: str, version: int | None) -> Any:
        deadline_at = time.monotonic() + self.deadline_seconds
        attempt = 0
        while True:
            remaining = deadline_at - time.monotonic()
            if remaining <= 0:
                raise _error(grpc.StatusCode.DEADLINE_EXCEEDED, "", self, model, version)
            try:
                return getattr(self._get_stubs(), method)(request, timeout=remaining)
            except grpc.RpcError as exc:
                code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN
                details = exc.details() if callable(getattr(exc, "details", None)) else ""
                if code == grpc.StatusCode.UNAVAILABLE and attempt < self.retries:
                    delay = min(self.backoff_seconds * 2**attempt, self.backoff_max_seconds)
                    delay *= random.uniform(0.5, 1.5)
                    if time.monotonic() + delay < deadline_at:
                        attempt += 1
                        log.info("%s: UNAVAILABLE, retry %d in %.3fs", method, attempt, delay)
                        time.sleep(delay)
                        continue
                level = logging.DEBUG if code in _CLIENT_CODES else logging.WARNING
                log.log(level, "%s of model %r failed: %s %s", method, model, code.name, details or "")
                raise _error(code, details or "", self, model, version) from None


def _fill_spec(spec: Any, model: str, version: int | None, signature: str) -> None:
    spec.name = model
    if version is not None:
        spec.version.value = int(version)
    if signature:
        spec.signature_name = signature


def _served_version(spec: Any, requested: int | None, model: str) -> int:
    if spec.HasField("version"):
        return int(spec.version.value)
    if requested is not None:
        return int(requested)
    raise BackendBadResponse(f"model server did not say which version of '{model}' answered")


def _tensor_spec(info: Any, name: str) -> TensorSpec:
    if info.tensor_shape.unknown_rank:
        raise BackendBadResponse(f"signature tensor '{name}' has an unknown rank")
    try:
        dtype = tensors.numpy_dtype(info.dtype).name
    except tensors.TensorError:
        dtype = tensors.dtype_name(info.dtype)
    return TensorSpec(dtype=dtype, shape=tuple(int(d.size) for d in info.tensor_shape.dim))


def _clean(details: str) -> str:
    """The server's message, one line and bounded: TF Serving's texts name the input."""
    line = " ".join(details.split())
    return line if len(line) <= _MAX_DETAIL_CHARS else line[: _MAX_DETAIL_CHARS - 3] + "..."


def _error(
    code: grpc.StatusCode, details: str, client: TFServingClient, model: str, version: int | None
) -> GatewayError:
    """Our error for a failed call, with a message safe to show the client."""
    what = f"model '{model}'" if version is None else f"version {version} of model '{model}'"
    if code == grpc.StatusCode.UNAVAILABLE:
        err: GatewayError = BackendUnavailable("model server is unavailable")
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        err = BackendDeadline(
            f"model server did not answer within {client.deadline_seconds:g} seconds"
        )
    elif code == grpc.StatusCode.NOT_FOUND:
        err = BackendNotFound(f"{what} not found")
    elif code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
        # TF Serving answers FAILED_PRECONDITION for an unknown signature key: a request
        # the client can fix, like INVALID_ARGUMENT.
        err = BackendInvalidArgument(_clean(details) or f"{what} refused the request")
    else:
        err = BackendError(f"model server failed ({code.name})")
    err.grpc_code = code.name  # for logs and metrics, never for the client
    return err
