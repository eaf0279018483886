"""The interface between the gateway and whatever serves the model.

One production implementation speaks TF Serving's gRPC API (`serving.gateway.grpc_client`);
it talks to TensorFlow Serving in production and to `serving.model_server` locally, and
cannot tell them apart. Tests inject fakes only where a fault must be injected.
Every method raises `serving.gateway.errors.BackendError` subclasses (or BackendNotFound /
BackendInvalidArgument), never gRPC objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class VersionStatus:
    """One version's state as TF Serving reports it (START, LOADING, AVAILABLE, UNLOADING, END)."""

    version: int
    state: str
    error_code: int = 0
    error_message: str = ""


@dataclass(frozen=True)
class TensorSpec:
    """A signature input or output: dtype name (numpy's, e.g. "float32") and shape (-1 unknown)."""

    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class SignatureInfo:
    """The signature a version serves, as GetModelMetadata reports it."""

    version: int
    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]
    method_name: str = "tensorflow/serving/predict"


class Backend(Protocol):
    """What the gateway needs from a model server."""

    def status(self, model: str) -> list[VersionStatus]:
        """Every version of `model` the server knows, with its state."""
        ...

    def metadata(self, model: str, version: int | None = None, signature: str = "serving_default") -> SignatureInfo:
        """The signature of `model` (a given version, or the one the server would use)."""
        ...

    def predict(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        version: int | None = None,
        signature: str = "serving_default",
    ) -> tuple[int, dict[str, np.ndarray]]:
        """Run the signature; return the version that ran and its outputs as arrays."""
        ...

    def close(self) -> None:
        """Release the connection (the next call reopens it)."""
        ...
