"""The versions of one model on disk: `<base_path>/<integer>/` SavedModel folders.

A folder counts as a version only when its name is a non-negative integer (TF Serving's
rule; "3.tmp", ".3", "latest" are ignored) and it holds a complete SavedModel:
saved_model.pb (or .pbtxt) and the variables/ folder. The training job publishes by
renaming a finished folder into place, so an incomplete folder is a crash leftover or
someone copying by hand: either way it is never loaded.
"""

from __future__ import annotations

import os
from pathlib import Path


class RepositoryError(OSError):
    """The base path cannot be listed (missing, not a folder, no permission)."""


def is_complete(version_dir: Path) -> bool:
    """True when `version_dir` holds a SavedModel that can be loaded."""
    has_graph = (version_dir / "saved_model.pb").is_file() or (
        version_dir / "saved_model.pbtxt"
    ).is_file()
    return has_graph and (version_dir / "variables").is_dir()


def scan_versions(base_path: Path) -> dict[int, Path]:
    """The complete versions under `base_path`: version number -> folder."""
    try:
        entries = list(os.scandir(base_path))
    except FileNotFoundError:
        raise RepositoryError(f"base path {base_path} does not exist") from None
    except NotADirectoryError:
        raise RepositoryError(f"base path {base_path} is not a folder") from None
    except OSError as exc:
        raise RepositoryError(f"cannot list base path {base_path}: {exc.strerror}") from None
    versions: dict[int, Path] = {}
    for entry in entries:
        if not entry.name.isascii() or not entry.name.isdigit():
            continue
        path = Path(entry.path)
        if entry.is_dir() and is_complete(path):
            versions[int(entry.name)] = path
    return versions
