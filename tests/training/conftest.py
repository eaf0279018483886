"""Fixtures for the training job's tests: scratch repositories, data files, the CLI."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import train_into

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Scratch:
    """An empty model repository and runs folder for one test."""

    models_dir: Path
    runs_dir: Path

    @property
    def overrides(self) -> list[str]:
        """The --set values that point the job at this repository."""
        return [f"models_dir={self.models_dir}", f"runs_dir={self.runs_dir}"]

    def train(self, config: str | None, *overrides: str):
        """Run the real training job (`training.run`) into this repository."""
        return train_into(self.models_dir, self.runs_dir, config, list(overrides))


@pytest.fixture
def scratch(tmp_path) -> Scratch:
    """A fresh, not yet created, models/ and runs/ pair under tmp_path."""
    return Scratch(tmp_path / "models", tmp_path / "runs")


@pytest.fixture(scope="module")
def small_models(tmp_path_factory) -> dict:
    """iris and wine, trained for a few epochs (digits and breast_cancer: `model_repo`)."""
    root = tmp_path_factory.mktemp("small_models")
    return {
        name: train_into(root / "models", root / "runs", name, ["epochs=3"])
        for name in ("iris", "wine")
    }


@pytest.fixture
def builtin_result(request, model_repo, small_models):
    """The TrainingResult of the built-in data set named by the test's parameter."""
    name = request.param
    return model_repo.results[name] if name in model_repo.results else small_models[name]


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m training ARGS` as a user runs it (a real process)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "training", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folders`: relative path -> (size, mtime_ns); folders as (-1, 0)."""
    state = {}
    for folder in folders:
        if not folder.exists():
            continue
        for path in sorted(folder.rglob("*")):
            key = str(path)
            if path.is_dir():
                state[key] = (-1, 0)
            else:
                stat = path.stat()
                state[key] = (stat.st_size, stat.st_mtime_ns)
    return state


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    """A CSV file with `header` and `rows`."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def iris_rows(label_names: dict[int, str] | None = None) -> tuple[list[str], list[list]]:
    """scikit-learn's iris as CSV header and rows, labels renamed by `label_names`."""
    from sklearn.datasets import load_iris

    bunch = load_iris()
    header = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    names = label_names or {i: str(n) for i, n in enumerate(bunch.target_names)}
    rows = [[*map(float, x), names[int(t)]] for x, t in zip(bunch.data, bunch.target)]
    return header, rows


@pytest.fixture
def iris_csv(tmp_path) -> Path:
    """iris as a CSV with a `species` label column of strings."""
    header, rows = iris_rows()
    return write_csv(tmp_path / "flowers.csv", header, rows)


def write_image_folder(root: Path, per_class: int = 12, classes=(0, 1, 7),
                       size: int = 16) -> Path:
    """root/<digit>/*.png: scikit-learn digits upscaled to size x size RGB PNGs."""
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    for digit in classes:
        folder = root / f"digit_{digit}"
        folder.mkdir(parents=True)
        images = bunch.images[bunch.target == digit][:per_class]
        for i, image in enumerate(images):
            pixels = (np.asarray(image) * 255 / 16).astype(np.uint8)
            rgb = Image.fromarray(pixels, mode="L").convert("RGB").resize((size, size))
            rgb.save(folder / f"{i:03d}.png")
    return root
