"""The training job's one error hierarchy.

`ConfigError` and `DataError` are bad input: the CLI prints their message as one line on
stderr and exits with status 2, and they are raised before anything is written under the
model repository or the runs folder. Any other `TrainingError` exits with status 1.
"""


class TrainingError(Exception):
    """Base class of every error the training job reports to its user."""

    exit_code = 1


class ConfigError(TrainingError):
    """The configuration file or a --set override is invalid."""

    exit_code = 2


class DataError(TrainingError):
    """The data set is missing, malformed, or cannot be split as configured."""

    exit_code = 2


class DiskFullError(TrainingError):
    """The disk of the model repository or of the runs folder filled up while the new
    version was written. Its staging folders are removed; exits with status 2, like bad
    input: the user has something to fix before running again."""

    exit_code = 2


class ExportError(TrainingError):
    """The exported SavedModel does not behave like the trained model, or publishing failed."""
