"""The gateway's one data plane, under the thin v1 and v2 HTTP layers.

`infer` is the whole hot path: resolve and pin the version, build the normalized batch
with that version's metadata, one batched Predict on the backend, check the version that
answered, decode with the same metadata. If the pinned version was unloaded between the
resolution and the call (NOT_FOUND during a rollout), the current version is resolved
again (skipping the one that went away) and the batch rebuilt with its metadata; this
happens at most once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from protogen.contract.serving_metadata_pb2 import ServingMetadata
from serving.gateway import metrics, postprocess
from serving.gateway.backend import Backend, SignatureInfo, VersionStatus
from serving.gateway.errors import (
    BackendBadResponse,
    BackendNotFound,
    BackendUnavailable,
    NotFound,
)
from serving.gateway.settings import MODEL_NAME_RE
from serving.gateway.versions import VersionResolver

log = logging.getLogger(__name__)

BuildInputs = Callable[[ServingMetadata], np.ndarray]


@dataclass(frozen=True)
class Inference:
    """The answer of one infer call: who answered, with what metadata, and the decoding."""

    model: str
    version: int
    metadata: ServingMetadata
    decoded: postprocess.Decoded


class DataPlane:
    """Status, metadata and inference for the HTTP layers; errors are GatewayErrors."""

    def __init__(self, backend: Backend, resolver: VersionResolver):
        self.backend = backend
        self.resolver = resolver

    def status(self, model: str) -> list[VersionStatus]:
        """Every version of `model` the backend knows (404 for an unknown model)."""
        check_model_name(model)
        return sorted(self.resolver.status(model), key=lambda s: s.version)

    def metadata(self, model: str, version: int | None = None) -> tuple[int, ServingMetadata]:
        """The serving metadata of `version` (default: the current version)."""
        check_model_name(model)
        return self.resolver.resolve(model, version)

    def signature(self, model: str, version: int, meta: ServingMetadata) -> SignatureInfo:
        """The signature the backend serves for `model` version `version`."""
        try:
            return self.backend.metadata(model, version, meta.signature_name or "serving_default")
        except BackendNotFound:
            raise NotFound(f"model {model!r} version {version} is not being served") from None

    def infer(self, model: str, version: int | None, build: BuildInputs) -> Inference:
        """Run the model on the batch `build(meta)` makes with the pinned version's metadata."""
        check_model_name(model)
        pinned, meta = self.resolver.resolve(model, version)
        batch = build(meta)
        try:
            return self._call(model, pinned, meta, batch)
        except BackendNotFound:
            if version is not None:
                raise NotFound(f"model {model!r} version {version} is not being served") from None
            log.info("model %s version %s went away; resolving the current version again", model, pinned)
        fresh, fresh_meta = self.resolver.replacement(model, pinned)
        batch = build(fresh_meta)
        try:
            return self._call(model, fresh, fresh_meta, batch)
        except BackendNotFound:
            raise BackendUnavailable(
                f"model {model!r} is changing versions; try again"
            ) from None

    def _call(self, model: str, pinned: int, meta: ServingMetadata, batch: np.ndarray) -> Inference:
        signature = meta.signature_name or "serving_default"
        answered, outputs = self.backend.predict(model, {meta.input.name: batch}, pinned, signature)
        if answered != pinned:
            # Decoding with `meta` would mislabel: the labels belong to the pinned version.
            raise BackendBadResponse(
                f"the backend answered with version {answered} instead of the pinned version {pinned}"
            )
        decoded = postprocess.decode(outputs, meta, batch.shape[0])
        metrics.record_prediction(model, pinned, batch.shape[0])
        return Inference(model, pinned, meta, decoded)


def check_model_name(model: str) -> None:
    """Model names are path components of the repository: refuse anything else with 404."""
    if not MODEL_NAME_RE.match(model):
        raise NotFound(f"unknown model {model!r}")
