"""Fixtures of the benchmark's tests: the real `digits` model of the root `model_repo`."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def digits(model_repo):
    """The TrainingResult of the session's real `digits` model."""
    return model_repo.results["digits"]
