"""Publishing into the model repository without ever showing a half-written version.

A version is assembled in a hidden staging folder beside its final place (TF Serving only
looks at folders whose name is a number), then renamed into place. Choosing the number,
the renames, `models.config` and pruning happen under an exclusive lock on
`models/.publish.lock`, so concurrent trainings get distinct versions and never lose each
other's `models.config` entries. A version number already used under `models/<name>/` or
`runs/<name>/` is never reused while either folder still shows it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format

from training.errors import ConfigError

MODELS_CONFIG = "models.config"
LOCK_FILE = ".publish.lock"
MODEL_PLATFORM = "tensorflow"


@dataclass(frozen=True)
class Published:
    """Where a published version ended up."""

    version: int
    version_dir: Path
    run_dir: Path


@contextmanager
def publish_lock(models_dir: Path) -> Iterator[None]:
    """Hold the repository's exclusive lock (blocks while another publisher holds it)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def versions(folder: Path) -> list[int]:
    """The version numbers present in `folder` (sub-folders named by a positive integer)."""
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        if entry.name.isdigit() and entry.is_dir() and int(entry.name) > 0:
            found.append(int(entry.name))
    return sorted(found)


def staging_dir(parent: Path) -> Path:
    """A fresh hidden folder under `parent` to assemble a version in."""
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f".staging-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def discard(path: Path | None) -> None:
    """Remove a staging folder that was not published (no error if it is gone)."""
    if path is not None and path.exists():
        shutil.rmtree(path, ignore_errors=True)


def publish(models_dir: Path, runs_dir: Path, name: str, staged_model: Path,
            staged_run: Path, keep_versions: int,
            finalize: Callable[[int], None] = lambda version: None) -> Published:
    """Rename the staged SavedModel and report into place as the next version; register the
    model in models.config; keep the newest `keep_versions` versions of the model.

    `finalize(version)` runs once the number is chosen, before the renames: it writes
    what names the version (serving_metadata.json, report.json) into the staged folders.
    """
    model_root, run_root = models_dir / name, runs_dir / name
    run_root.mkdir(parents=True, exist_ok=True)
    with publish_lock(models_dir):
        version = max(versions(model_root) + versions(run_root), default=0) + 1
        while True:
            finalize(version)
            try:
                os.rename(staged_model, model_root / str(version))
                break
            except OSError as exc:  # someone created that number without the lock
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                version += 1
        version_dir = model_root / str(version)
        run_dir = run_root / str(version)
        os.rename(staged_run, run_dir)
        register_model(models_dir, name)
        prune(model_root, keep_versions)
    return Published(version, version_dir, run_dir)


def prune(model_root: Path, keep: int) -> list[int]:
    """Delete all but the newest `keep` versions; return the numbers removed.
    Each is first renamed to a hidden name, so it vanishes from TF Serving's view at once."""
    removed = []
    for version in versions(model_root)[:-keep]:
        doomed = model_root / f".deleting-{version}-{uuid.uuid4().hex[:8]}"
        os.rename(model_root / str(version), doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        removed.append(version)
    return removed


def read_models_config(models_dir: Path):
    """models/models.config as TF Serving's ModelServerConfig (empty if there is none);
    ConfigError if it cannot be read as a model_config_list."""
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    path = models_dir / MODELS_CONFIG
    if not path.exists():
        return config
    try:
        text_format.Parse(path.read_text(encoding="utf-8"), config)
    except (OSError, UnicodeDecodeError, text_format.ParseError) as exc:
        raise ConfigError(f"{path} is not a valid TF Serving model config: {exc}") from None
    if config.WhichOneof("config") not in (None, "model_config_list"):
        raise ConfigError(f"{path} must hold a model_config_list")
    return config


def register_model(models_dir: Path, name: str) -> Path:
    """Add `name` (base_path: the absolute models/<name>) to models.config, keeping every
    other entry; replace the file atomically."""
    config = read_models_config(models_dir)
    base_path = str((models_dir / name).resolve())
    entries = config.model_config_list.config
    entry = next((e for e in entries if e.name == name), None)
    if entry is None:
        entry = entries.add(name=name)
    entry.base_path = base_path
    if not entry.model_platform:
        entry.model_platform = MODEL_PLATFORM
    path = models_dir / MODELS_CONFIG
    temporary = models_dir / f".{MODELS_CONFIG}.{uuid.uuid4().hex[:12]}.tmp"
    temporary.write_text(text_format.MessageToString(config), encoding="utf-8")
    os.replace(temporary, path)
    return path
