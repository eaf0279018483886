"""The training-to-serving contract: `serving_metadata.json` and the normalization it describes.

Both the training job and the gateway import this package, so a model's inputs are
normalized by one implementation on both sides. It depends only on numpy and the
generated protobuf code: never on TensorFlow.
"""

from contract.metadata import (
    FORMAT_VERSION,
    METADATA_FILENAME,
    ContractError,
    load_metadata,
    metadata_path,
    parse_metadata,
    to_json,
    write_metadata,
)
from contract.normalization import normalize

__all__ = [
    "FORMAT_VERSION",
    "METADATA_FILENAME",
    "ContractError",
    "load_metadata",
    "metadata_path",
    "normalize",
    "parse_metadata",
    "to_json",
    "write_metadata",
]
