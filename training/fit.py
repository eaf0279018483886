"""Fitting: seeded and deterministic, the best epoch kept by ModelCheckpoint, early stopping.

Same config and same seed on CPU give the same weights and so the same test metrics:
Python, NumPy and TensorFlow are seeded, TensorFlow's op determinism is on, and the
input pipeline shuffles with the seed.
"""

from __future__ import annotations

import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.config import TrainingConfig
from training.errors import TrainingError

# Several batches per tf.function call: with a model this small the per-call overhead, not
# the arithmetic, dominates an epoch. Still small enough for the progress bar to move.
STEPS_PER_EXECUTION = 8


@dataclass(frozen=True)
class FitOutcome:
    """The per-epoch history (Keras' log names) and the 1-based epoch whose weights were kept."""

    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    monitor: str


def seed_everything(seed: int) -> None:
    """Seed every generator training uses and make TensorFlow's ops deterministic."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def batched(x: np.ndarray, y: np.ndarray, batch_size: int = 1024,
            shuffle_seed: int | None = None):
    """A tf.data pipeline over in-memory arrays, optionally shuffled with a seed."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        data = data.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    options = tf.data.Options()
    # In-memory data: shard by element across workers (there are no files to shard by).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.batch(batch_size).with_options(options)


def _best_epoch(values: list[float], monitor: str) -> int:
    """1-based epoch ModelCheckpoint saved last: the first strict best in Keras' auto mode."""
    maximize = "acc" in monitor or "auc" in monitor
    array = np.asarray(values, dtype=np.float64)
    if np.isnan(array).all():
        raise TrainingError(f"training diverged: {monitor} was NaN in every epoch")
    array = np.where(np.isnan(array), -np.inf if maximize else np.inf, array)
    return int(np.argmax(array) if maximize else np.argmin(array)) + 1


def fit(model, cfg: TrainingConfig, train: tuple[np.ndarray, np.ndarray],
        validation: tuple[np.ndarray, np.ndarray]) -> FitOutcome:
    """Train the compiled `model`; on return it holds the weights of the best epoch."""
    import keras

    train_data = batched(*train, cfg.batch_size, shuffle_seed=cfg.seed)
    val_data = batched(*validation, max(cfg.batch_size, 256))
    interactive = sys.stdout.isatty()
    with tempfile.TemporaryDirectory(prefix="modelserve-ckpt-") as tmp:
        best_path = Path(tmp) / "best.weights.h5"
        checkpoint = keras.callbacks.ModelCheckpoint(
            str(best_path), monitor=cfg.monitor, save_best_only=True, save_weights_only=True,
            mode="auto",
        )
        stopping = keras.callbacks.EarlyStopping(monitor=cfg.monitor, patience=cfg.patience)
        history = model.fit(
            train_data,
            validation_data=val_data,
            epochs=cfg.epochs,
            shuffle=False,  # the dataset shuffles itself, with the seed
            verbose=1 if interactive else 2,
            callbacks=[checkpoint, stopping, keras.callbacks.TerminateOnNaN()],
        ).history
        if not best_path.exists():
            raise TrainingError(f"training diverged: no epoch produced a finite {cfg.monitor}")
        model.load_weights(str(best_path))
    history = {k: [float(v) for v in vs] for k, vs in history.items()}
    epochs_run = len(history.get("loss", []))
    best = _best_epoch(history[cfg.monitor], cfg.monitor)
    return FitOutcome(history, best, epochs_run, cfg.monitor)


def steps_per_execution(num_examples: int, batch_size: int, distributed: bool = False) -> int:
    """Batches per tf.function call: STEPS_PER_EXECUTION, or fewer for a short epoch; one
    under a tf.distribute strategy (Keras cannot loop over distributed batches in-graph)."""
    if distributed:
        return 1
    return max(1, min(STEPS_PER_EXECUTION, math.ceil(num_examples / batch_size)))
