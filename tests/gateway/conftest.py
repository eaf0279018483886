"""Fixtures of the gateway unit tests, as in Flask's tutorial: `app` → `client`.

`repo` is a temporary model repository holding serving metadata (no SavedModels) for an
image model `digits` and a tabular model `cancer`; `backend` is the scripted fake of
tests.gateway.support, for the HTTP layer and fault injection. Tests of real predictions
use the real model server (the `live_*` fixtures below).
"""

from __future__ import annotations

import pytest

from serving.gateway import create_app
from serving.gateway.settings import Settings
from tests.gateway import support


@pytest.fixture
def repo(tmp_path):
    """A model repository with digits v1 (image, softmax) and cancer v1 (tabular, sigmoid)."""
    root = tmp_path / "models"
    support.publish(root, support.image_metadata())
    support.publish(root, support.tabular_metadata())
    return root


@pytest.fixture
def settings(repo) -> Settings:
    """Settings for unit tests: small limits so the limits are testable."""
    return Settings(
        model_root=repo,
        max_instances=8,
        max_body_bytes=64 * 1024,
        ready_timeout_seconds=0.2,
        version_ttl_seconds=60.0,
    )


@pytest.fixture
def backend() -> support.ScriptedBackend:
    """The scripted fake backend: digits and cancer, version 1 AVAILABLE."""
    return support.ScriptedBackend(
        versions={"digits": {1: "AVAILABLE"}, "cancer": {1: "AVAILABLE"}},
        units={"digits": 10, "cancer": 1},
    )


@pytest.fixture
def app(settings, backend):
    """The gateway app over the scripted backend."""
    return create_app(settings, backend)


@pytest.fixture
def client(app):
    """Flask's test client of `app`."""
    return app.test_client()
