"""The two benchmark models, trained (or reused) with the training job into the scratch folder.

- `digits`: the training job's default config, as `make train` trains it.
- `wide`: `bench/wide.yaml`, a 28×28×1 image model (Dense 256 → 128 → 10) on synthetic
  data written here as an NPZ file; it exists for speed, its accuracy is meaningless.

Training runs as `python -m training` in a subprocess, so the benchmark's own process
never holds TensorFlow.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.config import ROOT
from contract import ContractError, load_metadata

WIDE_CONFIG = ROOT / "bench" / "wide.yaml"
WIDE_SHAPE = (28, 28, 1)
WIDE_CLASSES = 10
WIDE_EXAMPLES = 3000


class ModelError(RuntimeError):
    """A benchmark model could not be trained."""


def write_wide_data(path: Path, examples: int = WIDE_EXAMPLES, seed: int = 0) -> Path:
    """Synthetic 28×28×1 images (uint8 pixels) with 10 learnable classes, as an NPZ file.

    Each class brightens its own band of rows, plus noise: enough signal that training
    converges in a few epochs, which keeps `make bench`'s set-up short.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, WIDE_CLASSES, size=examples)
    x = rng.integers(0, 96, size=(examples, *WIDE_SHAPE))
    band = WIDE_SHAPE[0] // WIDE_CLASSES
    for label in range(WIDE_CLASSES):
        rows = slice(label * band, (label + 1) * band)
        x[y == label, rows] += 160
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, x=np.clip(x, 0, 255).astype(np.uint8), y=y.astype(np.int64))
    return path


def newest_version(models_dir: Path, name: str) -> Path | None:
    """The newest complete version folder of `name` (with its serving metadata), or None."""
    base = models_dir / name
    if not base.is_dir():
        return None
    for version_dir in sorted(
        (p for p in base.iterdir() if p.name.isdigit()), key=lambda p: int(p.name), reverse=True
    ):
        try:
            load_metadata(version_dir)
        except ContractError:
            continue
        return version_dir
    return None


def training_command(name: str, models_dir: Path, runs_dir: Path, data_dir: Path) -> list[str]:
    """The `python -m training` command that trains benchmark model `name`."""
    overrides = [f"models_dir={models_dir}", f"runs_dir={runs_dir}", f"name={name}"]
    cmd = [sys.executable, "-m", "training"]
    if name == "wide":
        data = write_wide_data(data_dir / "wide.npz")
        cmd += ["--config", str(WIDE_CONFIG)]
        overrides.append(f"data_path={data}")
    for item in overrides:
        cmd += ["--set", item]
    return cmd


def prepare(models: tuple[str, ...], out_dir: Path, retrain: bool = False, log=print) -> Path:
    """Train each of `models` unless a version exists (or `retrain`); the models folder."""
    models_dir = out_dir / "models"
    runs_dir = out_dir / "runs"
    for name in models:
        existing = newest_version(models_dir, name)
        if existing is not None and not retrain:
            log(f"model {name}: reusing {existing}")
            continue
        cmd = training_command(name, models_dir, runs_dir, out_dir / "data")
        log(f"model {name}: training ({' '.join(cmd[1:])})")
        log_path = out_dir / "logs" / f"train_{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as out:
            proc = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            raise ModelError(f"training {name} failed (exit {proc.returncode}); see {log_path}")
        if newest_version(models_dir, name) is None:
            raise ModelError(f"training {name} published no version under {models_dir}")
    config = models_dir / "models.config"
    if not config.is_file():
        raise ModelError(f"{config} is missing after training")
    return models_dir
