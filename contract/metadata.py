"""Reading and writing `assets.extra/serving_metadata.json` through the generated message."""

from __future__ import annotations

import os
from pathlib import Path

from google.protobuf import json_format

from protogen.contract.serving_metadata_pb2 import (
    InputSpec,
    Normalization,
    OutputSpec,
    ServingMetadata,
)

FORMAT_VERSION = 1
METADATA_FILENAME = "serving_metadata.json"
ASSETS_EXTRA = "assets.extra"


class ContractError(ValueError):
    """The metadata file is missing, unreadable, or breaks the contract's rules."""


def metadata_path(version_dir: str | os.PathLike) -> Path:
    """Where the metadata of the SavedModel in `version_dir` lives."""
    return Path(version_dir) / ASSETS_EXTRA / METADATA_FILENAME


def to_json(meta: ServingMetadata) -> str:
    """The JSON form of `meta` (proto field names, enums as names, stable key order)."""
    return json_format.MessageToJson(
        meta,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        indent=2,
        sort_keys=False,
    )


def write_metadata(version_dir: str | os.PathLike, meta: ServingMetadata) -> Path:
    """Validate `meta` and write it into `version_dir`'s assets.extra folder."""
    validate(meta)
    path = metadata_path(version_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(meta) + "\n", encoding="utf-8")
    return path


def parse_metadata(text: str | bytes) -> ServingMetadata:
    """Parse and validate the JSON form; raise ContractError if it does not hold."""
    meta = ServingMetadata()
    try:
        json_format.Parse(text, meta, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise ContractError(f"serving metadata is not valid: {exc}") from None
    validate(meta)
    return meta


def load_metadata(version_dir: str | os.PathLike) -> ServingMetadata:
    """Read the metadata of the SavedModel in `version_dir`."""
    path = metadata_path(version_dir)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ContractError(f"cannot read {path}: {exc.strerror}") from None
    return parse_metadata(text)


def validate(meta: ServingMetadata) -> None:
    """Check the rules a reader relies on; raise ContractError naming the first broken one."""
    if meta.format_version > FORMAT_VERSION:
        raise ContractError(
            f"format_version {meta.format_version} is newer than this reader ({FORMAT_VERSION})"
        )
    if not meta.model_name:
        raise ContractError("model_name is empty")
    if not meta.input.name:
        raise ContractError("input.name is empty")
    shape = list(meta.input.shape)
    if not shape or any(d <= 0 for d in shape):
        raise ContractError(f"input.shape {shape} must be non-empty and positive")
    if meta.input.kind == InputSpec.IMAGE and len(shape) != 3:
        raise ContractError(f"an image input needs shape [H, W, C], got {shape}")
    if meta.input.kind == InputSpec.TABULAR:
        if len(shape) != 1:
            raise ContractError(f"a tabular input needs shape [F], got {shape}")
        if len(meta.input.feature_names) != shape[0]:
            raise ContractError("input.feature_names must have one name per feature")
    if meta.input.kind == InputSpec.KIND_UNSPECIFIED:
        raise ContractError("input.kind is unspecified")
    labels = list(meta.labels)
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ContractError("labels must hold at least two distinct labels")
    out = meta.output
    if out.activation == OutputSpec.SIGMOID:
        if len(labels) != 2 or out.units != 1:
            raise ContractError("a sigmoid output has 1 unit and exactly 2 labels")
    elif out.activation == OutputSpec.SOFTMAX:
        if out.units != len(labels):
            raise ContractError("a softmax output has one unit per label")
    else:
        raise ContractError("output.activation is unspecified")
    norm = meta.normalization
    if norm.method == Normalization.METHOD_UNSPECIFIED:
        raise ContractError("normalization.method is unspecified")
    if len(norm.offset) != len(norm.scale) or not norm.offset:
        raise ContractError("normalization.offset and scale must have the same, non-zero length")
    if any(not (s > 0) for s in norm.scale):
        raise ContractError("normalization.scale values must be positive")
    width = shape[-1] if meta.input.kind == InputSpec.TABULAR else 1
    if len(norm.offset) not in (1, width):
        raise ContractError(f"normalization has {len(norm.offset)} values; expected 1 or {width}")
