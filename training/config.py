"""The training configuration: one flat set of typed keys, from a YAML file plus --set overrides.

Every key has a default, so a config file names only what differs. Relative paths
(`data_path`, `models_dir`, `runs_dir`) are relative to the working directory.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from training.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "digits.yaml"

BUILTIN_DATASETS = ("digits", "iris", "wine", "breast_cancer")
FILE_DATASETS = ("csv", "npz", "images")
DATASETS = BUILTIN_DATASETS + FILE_DATASETS
OPTIMIZERS = ("adam", "sgd")
LOSSES = ("auto", "binary_crossentropy", "categorical_crossentropy", "mse")
MONITORS = ("val_loss", "val_accuracy", "val_auc", "loss", "accuracy", "auc")
STRATEGIES = ("auto", "mirrored", "multi_worker")
ACTIVATIONS = ("relu", "gelu", "elu", "selu", "tanh", "sigmoid", "swish")
COLOR_MODES = ("grayscale", "rgb")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


# Validators: each takes the raw value (from YAML or a --set) and returns the typed value,
# or raises ValueError with what was expected.
def _integer(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"expected an integer >= {minimum}")
        return value

    return check


def _number(low: float, high: float, *, low_open: bool = False, high_open: bool = True):
    def check(value: Any) -> float:
        if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
            ok = (value > low if low_open else value >= low) and (
                value < high if high_open else value <= high
            )
        if not ok:
            lo, hi = "(" if low_open else "[", ")" if high_open else "]"
            raise ValueError(f"expected a number in {lo}{low:g}, {high:g}{hi}")
        return value

    return check


def _choice(choices: Iterable[str]) -> Callable[[Any], str]:
    options = tuple(choices)

    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return value

    return check


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise ValueError("expected letters, digits, '_', '.' or '-' (a folder name, at most 64)")
    return value


def _units(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or any(
        isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value
    ):
        raise ValueError("expected a list of positive integers, e.g. [128, 64] (or [] for none)")
    return tuple(value)


def _key(check: Callable[[Any], Any], doc: str) -> Any:
    return {"check": check, "doc": doc}


@dataclass(frozen=True)
class TrainingConfig:
    """A validated training configuration. Build it with `load_config`."""

    name: str | None = field(default=None, metadata=_key(
        _optional(_name), "model name (folder under models/); default: the data set's name"))
    dataset: str = field(default="digits", metadata=_key(
        _choice(DATASETS), "a built-in data set, or csv / npz / images with data_path"))
    data_path: str | None = field(default=None, metadata=_key(
        _optional(_text), "the CSV or NPZ file, or the image folder root/<class>/*.png|jpg"))
    label_column: str = field(default="label", metadata=_key(_text, "CSV: the label column"))
    image_height: int = field(default=28, metadata=_key(_integer(1), "image folders: resize to"))
    image_width: int = field(default=28, metadata=_key(_integer(1), "image folders: resize to"))
    color_mode: str = field(default="grayscale", metadata=_key(
        _choice(COLOR_MODES), "image folders: grayscale (1 channel) or rgb (3)"))
    validation_fraction: float = field(default=0.1, metadata=_key(
        _number(0, 0.5, low_open=True), "share of all examples held out for checkpointing"))
    test_fraction: float = field(default=0.2, metadata=_key(
        _number(0, 0.5, low_open=True), "share of all examples held out for the final test"))
    hidden_units: tuple[int, ...] = field(default=(128, 64), metadata=_key(
        _units, "width of each hidden Dense layer"))
    activation: str = field(default="relu", metadata=_key(
        _choice(ACTIVATIONS), "hidden layers' activation"))
    dropout: float = field(default=0.0, metadata=_key(
        _number(0, 1), "dropout rate after each hidden layer (0: none)"))
    input_noise: float = field(default=0.0, metadata=_key(
        _number(0, 10), "std. deviation of Gaussian noise added to normalized inputs, training"
        " only (0: none)"))
    label_smoothing: float = field(default=0.0, metadata=_key(
        _number(0, 1), "cross-entropy label smoothing (0: none)"))
    optimizer: str = field(default="adam", metadata=_key(_choice(OPTIMIZERS), "adam or sgd"))
    learning_rate: float = field(default=0.001, metadata=_key(
        _number(0, 10, low_open=True), "optimizer learning rate"))
    momentum: float = field(default=0.0, metadata=_key(_number(0, 1), "sgd momentum"))
    loss: str = field(default="auto", metadata=_key(
        _choice(LOSSES), "auto: binary / categorical cross-entropy, following the output"))
    epochs: int = field(default=100, metadata=_key(_integer(1), "maximum number of epochs"))
    batch_size: int = field(default=32, metadata=_key(_integer(1), "global batch size"))
    patience: int = field(default=20, metadata=_key(
        _integer(1), "early stopping: epochs without improvement of monitor"))
    monitor: str = field(default="val_loss", metadata=_key(
        _choice(MONITORS), "the quantity that picks the best (exported) epoch"))
    seed: int = field(default=0, metadata=_key(_integer(0), "seeds the split, weights, shuffling"))
    strategy: str = field(default="auto", metadata=_key(
        _choice(STRATEGIES), "tf.distribute: auto, mirrored (local GPUs), multi_worker (TF_CONFIG)"))
    keep_versions: int = field(default=5, metadata=_key(
        _integer(1), "how many newest versions stay in models/<name>/"))
    warmup_requests: int = field(default=4, metadata=_key(
        _integer(0), "requests in assets.extra/tf_serving_warmup_requests"))
    models_dir: str = field(default="models", metadata=_key(_text, "the model repository"))
    runs_dir: str = field(default="runs", metadata=_key(_text, "where the reports go"))

    @property
    def model_name(self) -> str:
        """The name the model is published under."""
        if self.name:
            return self.name
        if self.dataset in BUILTIN_DATASETS:
            return self.dataset
        stem = Path(self.data_path or self.dataset).stem or self.dataset
        cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", stem).lstrip("._-") or self.dataset
        return cleaned[:64]

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain JSON-able values (name resolved)."""
        out = dataclasses.asdict(self)
        out["hidden_units"] = list(self.hidden_units)
        out["name"] = self.model_name
        return out


KEYS = {f.name: f for f in dataclasses.fields(TrainingConfig)}


def valid_keys() -> str:
    """The valid keys, for error messages."""
    return ", ".join(sorted(KEYS))


def describe_keys() -> str:
    """One line per key: name, default, meaning (for --help)."""
    lines = []
    for f in dataclasses.fields(TrainingConfig):
        default = list(f.default) if isinstance(f.default, tuple) else f.default
        lines.append(f"  {f.name:<20} {f.metadata['doc']} (default: {default})")
    return "\n".join(lines)


def resolve_config_path(config: str | os.PathLike | None) -> Path:
    """A file path, or the name of a built-in config (digits, iris, wine, breast_cancer)."""
    if config is None:
        return DEFAULT_CONFIG
    path = Path(config)
    if not path.exists() and path.suffix == "" and (CONFIG_DIR / f"{path.name}.yaml").exists():
        return CONFIG_DIR / f"{path.name}.yaml"
    return path


def read_config_file(path: Path) -> dict[str, Any]:
    """The mapping in a YAML config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise ConfigError(f"config file {path} is not valid YAML{line}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of key: value")
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """Split one `key=value` override; the value is read as YAML (so 3, 0.5, [64, 32], null)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"bad --set {text!r}: expected key=value")
    if key not in KEYS:
        raise ConfigError(f"unknown config key {key!r} in --set; valid keys: {valid_keys()}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw  # not YAML: take it as a plain string, the key's check decides
    return key, value


def build_config(values: Mapping[str, Any], origins: Mapping[str, str] | None = None) -> TrainingConfig:
    """Check every value against its key and the cross-key rules; raise ConfigError naming it."""
    origins = origins or {}
    typed: dict[str, Any] = {}
    for key, value in values.items():
        if key not in KEYS:
            where = origins.get(key, "config")
            raise ConfigError(f"unknown config key {key!r} in {where}; valid keys: {valid_keys()}")
        try:
            typed[key] = KEYS[key].metadata["check"](value)
        except ValueError as exc:
            where = origins.get(key, "config")
            if where.startswith("--set"):
                raise ConfigError(f"bad {where}: {exc}") from None
            raise ConfigError(f"bad value for {key} in {where}: {value!r}: {exc}") from None
    cfg = TrainingConfig(**typed)
    if cfg.validation_fraction + cfg.test_fraction > 0.6:
        raise ConfigError(
            "validation_fraction + test_fraction must leave at least 40% of the data for training"
        )
    if cfg.dataset in FILE_DATASETS and not cfg.data_path:
        raise ConfigError(f"dataset {cfg.dataset} needs data_path (the file or folder to read)")
    if cfg.dataset in BUILTIN_DATASETS and cfg.data_path:
        raise ConfigError(f"dataset {cfg.dataset} is built in; data_path must not be set")
    if cfg.optimizer != "sgd" and cfg.momentum:
        raise ConfigError("momentum applies to optimizer sgd only")
    if cfg.label_smoothing and cfg.loss == "mse":
        raise ConfigError("label_smoothing applies to the cross-entropy losses, not mse")
    if cfg.strategy == "multi_worker" and not os.environ.get("TF_CONFIG"):
        raise ConfigError("strategy multi_worker needs the TF_CONFIG environment variable")
    return cfg


def load_config(
    config: str | os.PathLike | None = None, overrides: Iterable[str] = ()
) -> TrainingConfig:
    """The config file (default: digits) with `key=value` overrides applied, validated."""
    path = resolve_config_path(config)
    values = read_config_file(path)
    origins = {key: f"config file {path}" for key in values}
    for text in overrides:
        key, value = parse_override(text)
        values[key] = value
        origins[key] = f"--set {text}"
    return build_config(values, origins)
