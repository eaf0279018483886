"""The training job: train a Keras classifier and publish it as a new, servable version.

    python -m training [--config FILE] [--set key=value ...]

`run()` is the same job as a Python call (the tests use it). TensorFlow is imported only
once the configuration and the data have been checked.
"""

from training.errors import ConfigError, DataError, DiskFullError, ExportError, TrainingError
from training.job import TrainingResult, prepare, run

__all__ = [
    "ConfigError",
    "DataError",
    "DiskFullError",
    "ExportError",
    "TrainingError",
    "TrainingResult",
    "prepare",
    "run",
]
