"""Skew-proof version resolution: which version answers, and that version's metadata.

The gateway never lets the backend pick a version. For every request it resolves one
(the newest AVAILABLE version from `Backend.status`, cached for `ttl_seconds`, or the
version the client named), loads that version's `serving_metadata.json` from the model
repository (cached per (model, version): a published version is never rewritten), and
pins the version in the Predict call. Inputs are normalized and outputs decoded with the
metadata of exactly that version. When the pinned version has just been unloaded the
data plane calls `refresh` and tries once more with the new current version.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contract import ContractError, load_metadata
from protogen.contract.serving_metadata_pb2 import ServingMetadata
from serving.gateway.backend import Backend, VersionStatus
from serving.gateway.errors import BackendNotFound, BackendUnavailable, NotFound, ServiceUnavailable

log = logging.getLogger(__name__)

AVAILABLE = "AVAILABLE"


@dataclass(frozen=True)
class _Current:
    version: int
    fetched_at: float
    # Taken before the status call that saw `version`: of two concurrent refreshes, the
    # one that asked last wins, so the cache never falls back to an older observation.
    ticket: int


class VersionResolver:
    """Resolves and caches the serving version of each model and the metadata of each version."""

    def __init__(
        self,
        backend: Backend,
        model_root: str | Path,
        ttl_seconds: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        metadata_cache_size: int = 256,
    ):
        self._backend = backend
        self._root = Path(model_root)
        self._ttl = ttl_seconds
        self._clock = clock
        self._current: dict[str, _Current] = {}
        self._metadata: OrderedDict[tuple[str, int], ServingMetadata] = OrderedDict()
        self._cache_size = metadata_cache_size
        self._lock = threading.Lock()
        self._tickets = itertools.count()

    def _remember(self, model: str, version: int, ticket: int) -> None:
        with self._lock:
            cached = self._current.get(model)
            if cached is None or cached.ticket < ticket:
                self._current[model] = _Current(version, self._clock(), ticket)

    def status(self, model: str) -> list[VersionStatus]:
        """Every version the backend knows for `model` (404 if it knows none); refreshes the cache."""
        statuses, _ = self._status(model)
        return statuses

    def _status(self, model: str) -> tuple[list[VersionStatus], int]:
        ticket = next(self._tickets)
        try:
            statuses = self._backend.status(model)
        except BackendNotFound:
            with self._lock:
                self._current.pop(model, None)
            raise NotFound(f"unknown model {model!r}") from None
        newest = newest_available(statuses)
        if newest is not None:
            self._remember(model, newest, ticket)
        return statuses, ticket

    def current(self, model: str) -> int:
        """The newest AVAILABLE version of `model`, from the cache while it is fresh."""
        cached = self._current.get(model)
        if cached is not None and self._clock() - cached.fetched_at < self._ttl:
            return cached.version
        return self.refresh(model)

    def refresh(self, model: str) -> int:
        """Ask the backend again which version is current (after a NOT_FOUND, or when stale)."""
        statuses = self.status(model)
        newest = newest_available(statuses)
        if newest is None:
            states = ", ".join(f"{s.version} {s.state}" for s in statuses) or "none"
            raise BackendUnavailable(f"model {model!r} has no AVAILABLE version (versions: {states})")
        return newest

    def replacement(self, model: str, gone: int) -> tuple[int, ServingMetadata]:
        """After the backend answered NOT_FOUND for `gone`: the newest other AVAILABLE version.

        The status may still list `gone` as AVAILABLE for an instant (it is being unloaded,
        or a new version is being published), so it is skipped rather than tried again.
        """
        statuses, ticket = self._status(model)
        others = [s for s in statuses if s.version != gone]
        newest = newest_available(others)
        if newest is None:
            raise BackendUnavailable(f"model {model!r} is changing versions; try again")
        with self._lock:
            cached = self._current.get(model)
            if cached is None or cached.ticket <= ticket:
                self._current[model] = _Current(newest, self._clock(), ticket)
        try:
            return newest, self.metadata(model, newest)
        except NotFound:
            raise ServiceUnavailable(
                f"the backend serves model {model!r} version {newest}, "
                "which the gateway cannot find in its model repository"
            ) from None

    def invalidate(self, model: str) -> None:
        """Forget the cached current version of `model`."""
        with self._lock:
            self._current.pop(model, None)

    def metadata(self, model: str, version: int) -> ServingMetadata:
        """The serving metadata of `model` version `version` (404 if the version does not exist)."""
        key = (model, version)
        with self._lock:
            meta = self._metadata.get(key)
            if meta is not None:
                self._metadata.move_to_end(key)
                return meta
        version_dir = self._root / model / str(version)
        if not version_dir.is_dir():
            raise NotFound(f"model {model!r} has no version {version}")
        try:
            meta = load_metadata(version_dir)
        except ContractError as exc:
            log.error("cannot use the metadata of %s version %s: %s", model, version, exc)
            raise ServiceUnavailable(
                f"the serving metadata of model {model!r} version {version} is unreadable"
            ) from None
        if meta.model_name != model:
            log.warning("%s: metadata names model %r", version_dir, meta.model_name)
        with self._lock:
            self._metadata[key] = meta
            while len(self._metadata) > self._cache_size:
                self._metadata.popitem(last=False)
        return meta

    def resolve(self, model: str, version: int | None = None) -> tuple[int, ServingMetadata]:
        """The version to pin and its metadata: `version` if given, else the current one."""
        if version is not None:
            return version, self.metadata(model, version)
        current = self.current(model)
        try:
            return current, self.metadata(model, current)
        except NotFound:
            raise ServiceUnavailable(
                f"the backend serves model {model!r} version {current}, "
                "which the gateway cannot find in its model repository"
            ) from None


def newest_available(statuses: list[VersionStatus]) -> int | None:
    """The highest version whose state is AVAILABLE, or None."""
    versions = [s.version for s in statuses if s.state == AVAILABLE]
    return max(versions) if versions else None
