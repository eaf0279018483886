"""The benchmark's models: the synthetic wide data, the training commands, reuse."""

from __future__ import annotations

import sys

import numpy as np

from bench import models
from contract import write_metadata
from tests.bench.support import image_meta


def test_wide_data_is_28x28x1_uint8_with_ten_separable_classes(tmp_path):
    path = models.write_wide_data(tmp_path / "wide.npz", examples=500)
    with np.load(path) as npz:
        x, y = npz["x"], npz["y"]
    assert x.shape == (500, 28, 28, 1) and x.dtype == np.uint8
    assert set(np.unique(y)) == set(range(10))
    # class k brightens its own band of rows: the brightest band names the class
    band_means = np.stack([x[:, 2 * k : 2 * k + 2].mean(axis=(1, 2, 3)) for k in range(10)], axis=1)
    assert np.array_equal(band_means.argmax(axis=1), y)


def test_training_commands(tmp_path):
    digits = models.training_command("digits", tmp_path / "m", tmp_path / "r", tmp_path / "d")
    assert digits[:3] == [sys.executable, "-m", "training"]
    assert "--config" not in digits  # the job's default config
    assert f"models_dir={tmp_path / 'm'}" in digits and f"runs_dir={tmp_path / 'r'}" in digits
    wide = models.training_command("wide", tmp_path / "m", tmp_path / "r", tmp_path / "d")
    assert wide[wide.index("--config") + 1] == str(models.WIDE_CONFIG)
    assert f"data_path={tmp_path / 'd' / 'wide.npz'}" in wide
    assert (tmp_path / "d" / "wide.npz").is_file()


def test_wide_config_is_valid_for_the_training_job():
    from training.config import load_config

    cfg = load_config(models.WIDE_CONFIG, ["data_path=/tmp/x.npz"])
    assert cfg.dataset == "npz" and cfg.hidden_units == (256, 128) and cfg.model_name == "wide"


def test_newest_version_skips_folders_without_metadata(tmp_path):
    base = tmp_path / "digits"
    for v in (1, 2, 10):
        (base / str(v)).mkdir(parents=True)
    write_metadata(base / "2", image_meta())
    (base / ".tmp-11").mkdir()
    assert models.newest_version(tmp_path, "digits") == base / "2"
    write_metadata(base / "10", image_meta())
    assert models.newest_version(tmp_path, "digits") == base / "10"
    assert models.newest_version(tmp_path, "wide") is None


def test_prepare_reuses_existing_versions(tmp_path):
    models_dir = tmp_path / "models"
    (models_dir / "digits" / "3").mkdir(parents=True)
    write_metadata(models_dir / "digits" / "3", image_meta())
    (models_dir / "models.config").write_text("model_config_list {}\n")
    logged: list[str] = []
    assert models.prepare(("digits",), tmp_path, log=logged.append) == models_dir
    assert logged == [f"model digits: reusing {models_dir / 'digits' / '3'}"]
