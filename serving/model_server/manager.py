"""Which versions are loaded, and their lifecycle: TF Serving's AspiredVersionsManager.

Each model's versions go START → LOADING → AVAILABLE → UNLOADING → END, as
GetModelStatus reports them. A polling thread scans every model's base path; the
version policy turns the complete versions on disk into the *aspired* set, and:

- aspired versions are loaded (and warmed up) newest first; a failed load is retried
  `max_num_load_retries` times, `load_retry_interval` apart, then reported as END with
  its error; the other versions and models keep serving;
- TF Serving's availability-preserving policy: a version that is no longer aspired
  (superseded, or deleted from disk) is unloaded only once an aspired version is
  AVAILABLE, or when nothing is aspired any more. So a rollout never leaves a gap, and
  a broken new version leaves the old one serving.

Requests read an immutable snapshot of the AVAILABLE servables (swapped on change), so
the hot path takes no lock. A request that holds a servable keeps it alive until it
finishes, even if the version is unloaded meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from protogen.tfserving import get_model_status_pb2
from serving.model_server.config import ModelConfig
from serving.model_server.errors import ServingError, invalid_argument, not_found
from serving.model_server.repository import RepositoryError, scan_versions

log = logging.getLogger(__name__)

State = get_model_status_pb2.ModelVersionStatus.State
START, LOADING, AVAILABLE, UNLOADING, END = (
    State.START,
    State.LOADING,
    State.AVAILABLE,
    State.UNLOADING,
    State.END,
)
UNKNOWN_ERROR = 2

# (name, version, folder) -> a loaded servable; raises on failure (any `error_code` kept).
Loader = Callable[[str, int, Path], object]


@dataclass
class VersionRecord:
    """One version's lifecycle state (guarded by the manager's lock)."""

    version: int
    path: Path
    state: int = START
    error_code: int = 0
    error_message: str = ""
    attempts: int = 0
    retry_at: float = 0.0
    servable: object | None = None


@dataclass(frozen=True)
class VersionStatus:
    """What GetModelStatus reports for one version."""

    version: int
    state: int
    error_code: int
    error_message: str


@dataclass
class _Model:
    config: ModelConfig
    in_config: bool = True
    last_scan_error: str = ""

    def __post_init__(self) -> None:
        self.versions: dict[int, VersionRecord] = {}


class Manager:
    """Loads, serves and unloads the versions of the configured models."""

    def __init__(
        self,
        loader: Loader,
        *,
        poll_interval: float = 1.0,
        max_num_load_retries: int = 5,
        load_retry_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._loader = loader
        self._poll_interval = poll_interval
        self._max_retries = max_num_load_retries
        self._retry_interval = load_retry_interval
        self._clock = clock
        self._lock = threading.RLock()
        self._poll_lock = threading.Lock()
        self._models: dict[str, _Model] = {}
        # name -> (newest available version, {version: servable}); replaced, never mutated.
        self._serving: dict[str, tuple[int, dict[int, object]]] = {}
        self._labels: dict[str, dict[str, int]] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0  # completed scans of every model (observable progress)

    # -- configuration -------------------------------------------------------------------

    def set_models(self, configs: Iterable[ModelConfig]) -> None:
        """Serve exactly these models from now on (new ones load on the next poll)."""
        configs = list(configs)
        with self._lock:
            wanted = {c.name: c for c in configs}
            for name, model in self._models.items():
                if name not in wanted and model.in_config:
                    log.info("Model %s removed from the config: unloading its versions", name)
                    model.in_config = False
            for name, cfg in wanted.items():
                model = self._models.get(name)
                if model is None:
                    self._models[name] = _Model(cfg)
                    log.info("Adding model %s (base path %s)", name, cfg.base_path)
                else:
                    model.config, model.in_config = cfg, True
            self._labels = {c.name: dict(c.labels) for c in configs}
        self._wake.set()

    def model_names(self) -> list[str]:
        """The models in the current config."""
        with self._lock:
            return sorted(n for n, m in self._models.items() if m.in_config)

    # -- the request side ----------------------------------------------------------------

    def get_servable(self, name: str, version: int | None = None, label: str | None = None):
        """The servable a request asks for; ServingError with TF Serving's code otherwise."""
        if label is not None:
            version = self._labels.get(name, {}).get(label)
            if version is None:
                raise invalid_argument(f"Unrecognized servable version label: {label}")
        newest, available = self._serving.get(name, (None, {}))
        if version is None:
            if newest is None:
                raise not_found(f"Servable not found for request: Latest({name})")
            return available[newest]
        servable = available.get(version)
        if servable is None:
            raise not_found(f"Servable not found for request: Specific({name}, {version})")
        return servable

    def statuses(self, name: str) -> list[VersionStatus]:
        """Every version of `name` this server has seen, with its state (may be empty)."""
        with self._lock:
            model = self._models.get(name)
            records = sorted(model.versions.values(), key=lambda r: r.version) if model else []
            return [
                VersionStatus(r.version, r.state, r.error_code, r.error_message) for r in records
            ]

    # -- the lifecycle -------------------------------------------------------------------

    def poll_once(self) -> None:
        """Scan every model once: load what is aspired, then unload what is superseded."""
        with self._poll_lock:
            with self._lock:
                names = list(self._models)
            for name in names:
                if self._stop.is_set():
                    return
                try:
                    self._reconcile(name)
                except Exception:  # one model's surprise must not stop the others
                    log.exception("Unexpected error while managing model %s", name)
            self.polls += 1

    def start(self) -> None:
        """Poll in a background thread (every poll_interval; 0: only on config changes)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="model-manager", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop polling and unload every version."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._poll_lock, self._lock:
            for name, model in self._models.items():
                for record in model.versions.values():
                    if record.state == AVAILABLE:
                        self._unload(name, record)
                    elif record.state in (START, LOADING):
                        record.state = END

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._next_wait())
            self._wake.clear()
            if self._stop.is_set():
                return
            self.poll_once()

    def _next_wait(self) -> float | None:
        wait = self._poll_interval if self._poll_interval > 0 else None
        with self._lock:
            retries = [
                r.retry_at
                for m in self._models.values()
                for r in m.versions.values()
                if r.state == LOADING and r.retry_at
            ]
        if retries:
            until_retry = max(min(retries) - self._clock(), 0.0)
            wait = until_retry if wait is None else min(wait, until_retry)
        return wait

    def _reconcile(self, name: str) -> None:
        with self._lock:
            model = self._models[name]
            config, in_config = model.config, model.in_config
        on_disk: dict[int, Path] = {}
        if in_config:
            try:
                on_disk = scan_versions(config.base_path)
            except RepositoryError as exc:
                # Keep serving what is loaded: a transient file system error must not
                # unload a model. Log each distinct problem once.
                if str(exc) != model.last_scan_error:
                    log.warning("Model %s: %s", name, exc)
                    model.last_scan_error = str(exc)
                return
            model.last_scan_error = ""
        aspired = config.policy.select(on_disk) if in_config else set()

        now = self._clock()
        with self._lock:
            for version in aspired:
                record = model.versions.get(version)
                if record is None or (record.state == END and record.error_code == 0):
                    model.versions[version] = VersionRecord(version, on_disk[version])
                    log.info("Aspiring version %d of model %s", version, name)
            for record in model.versions.values():
                if record.version not in aspired and record.state in (START, LOADING):
                    record.state = END  # no longer wanted before it ever loaded
            to_load = sorted(
                (
                    r
                    for v, r in model.versions.items()
                    if v in aspired and r.state in (START, LOADING) and r.retry_at <= now
                ),
                key=lambda r: r.version,
                reverse=True,
            )
        for record in to_load:
            if self._stop.is_set():
                return
            self._load(name, record)
        with self._lock:
            self._unload_superseded(name, model, aspired)
            if not model.in_config and not model.versions:
                del self._models[name]

    def _load(self, name: str, record: VersionRecord) -> None:
        with self._lock:
            record.state = LOADING
            record.attempts += 1
        log.info("Loading servable version {name: %s version: %d}", name, record.version)
        started = time.monotonic()
        try:
            servable = self._loader(name, record.version, record.path)
        except Exception as exc:  # any failure is the version's status
            code = getattr(exc, "error_code", UNKNOWN_ERROR)
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            if not isinstance(exc, ServingError) and not hasattr(exc, "error_code"):
                log.exception("Loading version %d of model %s raised", record.version, name)
            with self._lock:
                if record.attempts <= self._max_retries:
                    record.retry_at = self._clock() + self._retry_interval
                    log.warning(
                        "Loading servable version {name: %s version: %d} failed: %s; retry %d/%d in %gs",
                        name, record.version, message, record.attempts, self._max_retries,
                        self._retry_interval,
                    )
                else:
                    record.state = END
                    record.error_code, record.error_message = int(code), message
                    log.error(
                        "Loading servable version {name: %s version: %d} failed: %s",
                        name, record.version, message,
                    )
            return
        with self._lock:
            if record.state != LOADING:  # dropped while loading (stop, or no longer aspired)
                return
            record.servable, record.state, record.retry_at = servable, AVAILABLE, 0.0
            self._publish(name)
        log.info(
            "Successfully loaded servable version {name: %s version: %d} in %.2fs",
            name, record.version, time.monotonic() - started,
        )

    def _unload_superseded(self, name: str, model: _Model, aspired: set[int]) -> None:
        available = sorted(v for v, r in model.versions.items() if r.state == AVAILABLE)
        superseded = [v for v in available if v not in aspired]
        if not superseded:
            return
        if not aspired or any(v in aspired for v in available):
            victims = superseded
        else:
            victims = superseded[:-1]  # keep the newest superseded one until a successor is up
        for version in victims:
            self._unload(name, model.versions[version])

    def _unload(self, name: str, record: VersionRecord) -> None:
        record.state = UNLOADING
        self._publish(name)
        record.servable = None  # in-flight requests keep their own reference
        record.state = END
        log.info("Done unloading servable version {name: %s version: %d}", name, record.version)

    def _publish(self, name: str) -> None:
        model = self._models[name]
        available = {
            v: r.servable for v, r in model.versions.items() if r.state == AVAILABLE and r.servable is not None
        }
        serving = dict(self._serving)
        if available:
            serving[name] = (max(available), available)
        else:
            serving.pop(name, None)
        self._serving = serving
