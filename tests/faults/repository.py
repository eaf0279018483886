"""The model repositories of the fault scenarios: a private copy of the session's trained
digits model (from the root `model_repo` fixture), which the scenario may change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.model_server.support import copy_model, write_config

MODEL = "digits"


@dataclass(frozen=True)
class Repo:
    """A model repository: models/ (with models.config) and runs/."""

    models_dir: Path
    runs_dir: Path
    config_path: Path

    @property
    def model_dir(self) -> Path:
        """models/digits."""
        return self.models_dir / MODEL


def make_repo(root: Path, model_repo) -> Repo:
    """`root`/models with the session's digits as version 1, and an empty `root`/runs."""
    models = root / "models"
    copy_model(model_repo.results[MODEL].version_dir, models / MODEL, 1)
    config = write_config(models / "models.config", {MODEL: (models / MODEL).resolve()})
    (root / "runs").mkdir(parents=True, exist_ok=True)
    return Repo(models, root / "runs", config)
