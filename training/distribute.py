"""Where training runs: the tf.distribute strategy, and which process publishes.

- `auto`: MultiWorkerMirroredStrategy when TF_CONFIG describes a cluster of several
  tasks; MirroredStrategy when the host has several GPUs; otherwise TensorFlow's
  default strategy (one GPU if there is one, else the CPU).
- `mirrored`: MirroredStrategy over every local GPU (the CPU if there is none).
- `multi_worker`: MultiWorkerMirroredStrategy over the hosts named in TF_CONFIG.

In a multi-worker cluster every worker trains the same model in lockstep; only the
chief (task `chief`, or `worker` 0 when the cluster has no chief) publishes it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from training.errors import ConfigError


@dataclass(frozen=True)
class Placement:
    """The chosen strategy, a human description of it, and whether this process publishes."""

    strategy: Any
    description: str
    is_chief: bool
    replicas: int
    distributed: bool  # an explicit tf.distribute strategy, not TensorFlow's default one


def _tf_config() -> dict[str, Any] | None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        value = json.loads(raw)
        cluster, task = value["cluster"], value.get("task", {})
        task_type, index = task.get("type", "worker"), int(task.get("index", 0))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError("TF_CONFIG is not valid JSON with a cluster and a task") from None
    return {"cluster": cluster, "type": task_type, "index": index}


def cluster_size() -> int:
    """The number of tasks TF_CONFIG names (0 without TF_CONFIG)."""
    tf_config = _tf_config()
    if not tf_config:
        return 0
    return sum(len(v) for k, v in tf_config["cluster"].items() if k in ("chief", "worker"))


def is_chief() -> bool:
    """Whether this process publishes: always, unless TF_CONFIG makes it a non-chief worker."""
    tf_config = _tf_config()
    if not tf_config:
        return True
    if tf_config["type"] == "chief":
        return True
    return tf_config["type"] == "worker" and tf_config["index"] == 0 and (
        "chief" not in tf_config["cluster"]
    )


def check_strategy(name: str) -> None:
    """Validate what can be checked before TensorFlow starts (TF_CONFIG's form)."""
    if name in ("auto", "multi_worker"):
        _tf_config()


def choose(name: str) -> Placement:
    """Create the strategy. Must run before any other TensorFlow op (multi-worker rule)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    device = f"{len(gpus)} GPU(s)" if gpus else "CPU"
    distributed = True
    if name == "multi_worker" or (name == "auto" and cluster_size() > 1):
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        description = f"MultiWorkerMirroredStrategy, {cluster_size()} workers, {device} each"
    elif name == "mirrored" or (name == "auto" and len(gpus) > 1):
        strategy = tf.distribute.MirroredStrategy()
        description = f"MirroredStrategy over {strategy.num_replicas_in_sync} replica(s) ({device})"
    else:
        strategy, distributed = tf.distribute.get_strategy(), False
        description = f"default strategy on {'GPU' if gpus else 'CPU'}"
    return Placement(strategy, description, is_chief(), strategy.num_replicas_in_sync,
                     distributed)


def is_multi_worker(strategy: Any) -> bool:
    """Whether `strategy` is a MultiWorkerMirroredStrategy."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def patch_keras_for_multi_worker(model: Any, strategy: Any, sample: tuple) -> None:
    """Work around Keras 3's fit() under MultiWorkerMirroredStrategy (keras-team/keras#20585,
    open for Keras 3.15, the pinned version; tests/training run two real workers to catch
    a Keras upgrade that changes these internals).

    1. fit() builds the model from the first distributed batch reduced eagerly with
       strategy.reduce, which MultiWorkerMirroredStrategy refuses: build from a local
       sample batch instead (the same shapes, which is all the build needs).
    2. Step logs (scalars) are reduced with strategy.reduce(MEAN, axis=0), invalid for a
       scalar: reduce scalars with axis=None.
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    def build_from_sample(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=sample)

    model._maybe_symbolic_build = build_from_sample
    if getattr(trainer.reduce_per_replica, "patched_for_multi_worker", False):
        return
    original = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not trainer._collective_all_reduce_multi_worker(
                strategy):
            return original(values, strategy, reduction)

        def reduce(value):
            if trainer._is_per_replica_instance(value):
                rank = value.values[0].shape.rank
            elif isinstance(value, tf.Tensor):
                rank = value.shape.rank
            else:
                return value
            return strategy.reduce("MEAN", value, axis=0 if rank else None)

        return tf.nest.map_structure(reduce, values)

    reduce_per_replica.patched_for_multi_worker = True
    trainer.reduce_per_replica = reduce_per_replica

