"""Fixtures for the local model server's tests: a running server over the session's
trained model repository (`model_repo`, root conftest), on a loopback port."""

from __future__ import annotations

import pytest

from tests.model_server.support import start_server


@pytest.fixture(scope="module")
def server(model_repo):
    """A model server over `model_repo` (read-only: tests that change files use a copy)."""
    srv = start_server(model_config_file=model_repo.config_path, file_system_poll_wait_seconds=0)
    yield srv
    srv.stop(grace=1)


@pytest.fixture(scope="module")
def address(server) -> str:
    return f"127.0.0.1:{server.port}"
