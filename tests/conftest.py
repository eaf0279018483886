"""Fixtures shared by every test package.

`model_repo`: a real model repository, built once per session by the real training job
(tiny epochs), in a temporary folder:
  - `digits`: image model (pixels, 8x8x1), softmax over 10 classes;
  - `breast_cancer`: tabular model (features, 30 named), one sigmoid unit;
  - `iris`, `wine`: tabular models, softmax over 3 classes (so that the no-skew test
    covers every built-in data set).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Few epochs: the models must be real and servable, not good. Seeded, so every session
# builds the same models.
REPO_MODELS = {
    "digits": ["epochs=4", "seed=0"],
    "breast_cancer": ["epochs=4", "seed=0"],
    "iris": ["epochs=4", "seed=0"],
    "wine": ["epochs=4", "seed=0"],
}


@dataclass
class ModelRepo:
    """A trained model repository: models/ (with models.config) and runs/."""

    models_dir: Path
    runs_dir: Path
    config_path: Path
    results: dict = field(default_factory=dict)  # name -> training.TrainingResult


def train_into(models_dir: Path, runs_dir: Path, config: str, overrides: list[str]):
    """Run the real training job into `models_dir` / `runs_dir`, its progress silenced."""
    import training  # imported here: collecting gateway tests must not pull in the job

    with contextlib.redirect_stdout(io.StringIO()):
        return training.run(
            config, [*overrides, f"models_dir={models_dir}", f"runs_dir={runs_dir}"]
        )


@pytest.fixture(scope="session")
def model_repo(tmp_path_factory) -> ModelRepo:
    """The session's model repository: one trained version of each of REPO_MODELS."""
    root = tmp_path_factory.mktemp("model_repo")
    repo = ModelRepo(root / "models", root / "runs", root / "models" / "models.config")
    for name, overrides in REPO_MODELS.items():
        repo.results[name] = train_into(repo.models_dir, repo.runs_dir, name, overrides)
    return repo
