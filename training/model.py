"""The Keras classifier: named input, Dense hidden layers, an output chosen by the class count.

Every layer gets an explicit name so that the SavedModel's signature and variable names
are stable across runs (Keras' default names carry a per-process counter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.config import TrainingConfig
from training.data import IMAGE
from training.errors import ConfigError

if TYPE_CHECKING:
    import keras

SIGMOID = "sigmoid"
SOFTMAX = "softmax"
OUTPUT_NAME = "probabilities"


def input_name(kind: str) -> str:
    """The signature's input key: `pixels` for images, `features` for tabular data."""
    return "pixels" if kind == IMAGE else "features"


def output_activation(num_classes: int) -> tuple[str, int]:
    """(activation, units): one sigmoid unit for two classes, N softmax units otherwise."""
    return (SIGMOID, 1) if num_classes == 2 else (SOFTMAX, num_classes)


def resolve_loss(cfg: TrainingConfig, num_classes: int) -> str:
    """The loss to train with: the configured one, or the cross-entropy matching the output."""
    activation, _ = output_activation(num_classes)
    if cfg.loss == "auto":
        return "binary_crossentropy" if activation == SIGMOID else "categorical_crossentropy"
    return cfg.loss


def check_compatible(cfg: TrainingConfig, num_classes: int) -> None:
    """Refuse a loss or monitor that cannot work with this many classes (before training)."""
    activation, _ = output_activation(num_classes)
    if cfg.loss == "binary_crossentropy" and activation != SIGMOID:
        raise ConfigError(
            f"loss binary_crossentropy needs two classes (a sigmoid output); the data has"
            f" {num_classes}: use categorical_crossentropy, mse or auto"
        )
    if cfg.loss == "categorical_crossentropy" and activation != SOFTMAX:
        raise ConfigError(
            "loss categorical_crossentropy needs three or more classes (a softmax output);"
            " the data has two: use binary_crossentropy, mse or auto"
        )
    if cfg.monitor.endswith("auc") and num_classes != 2:
        raise ConfigError(f"monitor {cfg.monitor} is only logged for two classes")


def build_model(cfg: TrainingConfig, kind: str, instance_shape: tuple[int, ...],
                num_classes: int) -> keras.Model:
    """An uncompiled Dense classifier for inputs of `instance_shape` (normalized values)."""
    import keras

    inputs = keras.Input(shape=instance_shape, dtype="float32", name=input_name(kind))
    x = inputs
    if cfg.input_noise > 0:  # a regularizer: active in fit only, the identity when serving
        x = keras.layers.GaussianNoise(cfg.input_noise, name="input_noise")(x)
    if len(instance_shape) > 1:
        x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(cfg.hidden_units, start=1):
        x = keras.layers.Dense(units, activation=cfg.activation, name=f"hidden_{i}")(x)
        if cfg.dropout > 0:
            x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    activation, units = output_activation(num_classes)
    outputs = keras.layers.Dense(units, activation=activation, name=OUTPUT_NAME)(x)
    return keras.Model(inputs, outputs, name="classifier")


def compile_model(model: keras.Model, cfg: TrainingConfig, num_classes: int,
                  steps_per_execution: int = 1) -> None:
    """Optimizer and loss from the config; metrics: accuracy, plus AUC for two classes."""
    import keras

    if cfg.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=cfg.learning_rate, momentum=cfg.momentum)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate)
    if num_classes == 2:
        metrics = [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")]
    else:
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    loss: str | keras.losses.Loss = resolve_loss(cfg, num_classes)
    if loss == "binary_crossentropy":
        loss = keras.losses.BinaryCrossentropy(label_smoothing=cfg.label_smoothing)
    elif loss == "categorical_crossentropy":
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing)
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=metrics,
        steps_per_execution=steps_per_execution,
    )
