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


# -- the real model server, for tests of real predictions ----------------------------------


@pytest.fixture(scope="session")
def live_backend(model_repo):
    """TF Serving's gRPC client against the local model server (in-process, loopback)."""
    from serving.gateway.grpc_client import TFServingClient
    from serving.model_server.flags import ServerOptions
    from serving.model_server.server import ModelServer

    server = ModelServer(
        ServerOptions(port=0, model_config_file=model_repo.config_path, file_system_poll_wait_seconds=0)
    ).start()
    client = TFServingClient(f"127.0.0.1:{server.port}", deadline_seconds=30)
    yield client
    client.close()
    server.stop(grace=1)


@pytest.fixture(scope="session")
def live_app(model_repo, live_backend):
    """The gateway over the real model server and the trained repository."""
    settings = Settings(model_root=model_repo.models_dir, max_instances=512, ready_timeout_seconds=5.0)
    return create_app(settings, live_backend)


@pytest.fixture
def live_client(live_app):
    """Flask's test client of `live_app`."""
    return live_app.test_client()
