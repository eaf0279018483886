"""The models to serve: TF Serving's `model_config_list` text format (models.config).

Parsed with our generated `ModelServerConfig` and protobuf's text_format, so a file that
TF Serving reads is read the same way here. Honoured per model: name, base_path,
model_platform ("tensorflow" or empty), model_version_policy (latest / all / specific)
and version_labels.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format

from protogen.tfserving import model_server_config_pb2


class ConfigError(ValueError):
    """The model config cannot be read or breaks a rule (the message says which)."""


@dataclass(frozen=True)
class VersionPolicy:
    """Which of the versions on disk to serve: TF Serving's ServableVersionPolicy."""

    kind: str = "latest"  # latest | all | specific
    num_versions: int = 1
    versions: frozenset[int] = frozenset()

    def select(self, on_disk: Iterable[int]) -> set[int]:
        """The aspired versions among `on_disk`."""
        present = sorted(set(on_disk))
        if self.kind == "all":
            return set(present)
        if self.kind == "specific":
            return self.versions.intersection(present)
        return set(present[-self.num_versions :]) if present else set()


@dataclass(frozen=True)
class ModelConfig:
    """One model: where its versions live and how they are chosen."""

    name: str
    base_path: Path
    policy: VersionPolicy = VersionPolicy()
    labels: dict[str, int] = field(default_factory=dict)


def single_model(name: str, base_path: str | os.PathLike) -> list[ModelConfig]:
    """The config of --model_name/--model_base_path: one model, newest version."""
    return [ModelConfig(name=name, base_path=_local_path(str(base_path), name))]


def parse_config(text: str, source: str = "model config") -> list[ModelConfig]:
    """Parse a models.config text; raise ConfigError naming the problem."""
    message = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if message.WhichOneof("config") != "model_config_list":
        raise ConfigError(f"{source}: expected model_config_list")
    models: list[ModelConfig] = []
    seen: set[str] = set()
    for item in message.model_config_list.config:
        if not item.name:
            raise ConfigError(f"{source}: a model has no name")
        if item.name in seen:
            raise ConfigError(f"{source}: illegal to list model {item.name} multiple times")
        seen.add(item.name)
        if item.model_platform not in ("", "tensorflow"):
            raise ConfigError(
                f"{source}: model {item.name}: model_platform {item.model_platform!r} "
                "is not supported (only tensorflow)"
            )
        if not item.base_path:
            raise ConfigError(f"{source}: model {item.name} has no base_path")
        models.append(
            ModelConfig(
                name=item.name,
                base_path=_local_path(item.base_path, item.name),
                policy=_policy(item, source),
                labels=_labels(item, source),
            )
        )
    return models


def read_config_text(path: str | os.PathLike) -> str:
    """The text of a models.config file; ConfigError if it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read model config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"model config {path} is not UTF-8 text") from None


def load_config(path: str | os.PathLike) -> list[ModelConfig]:
    """Read and parse a models.config file."""
    return parse_config(read_config_text(path), str(path))


def _policy(item: model_server_config_pb2.ModelConfig, source: str) -> VersionPolicy:
    policy = item.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return VersionPolicy(kind="all")
    if choice == "specific":
        versions = frozenset(int(v) for v in policy.specific.versions)
        if not versions:
            raise ConfigError(f"{source}: model {item.name}: specific policy lists no versions")
        return VersionPolicy(kind="specific", versions=versions)
    # TF Serving's default, also for num_versions 0: the newest version only.
    num = policy.latest.num_versions if choice == "latest" else 1
    return VersionPolicy(kind="latest", num_versions=max(int(num), 1))


def _labels(item: model_server_config_pb2.ModelConfig, source: str) -> dict[str, int]:
    labels = {}
    for label, version in item.version_labels.items():
        if not label or version < 0:
            raise ConfigError(f"{source}: model {item.name}: bad version label {label!r}: {version}")
        labels[label] = int(version)
    return labels


def _local_path(base_path: str, name: str) -> Path:
    if "://" in base_path:
        raise ConfigError(f"model {name}: base_path {base_path!r}: only local folders are supported")
    return Path(base_path).expanduser().absolute()
