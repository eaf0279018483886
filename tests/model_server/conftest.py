"""Fixtures for the local model server's tests: the trained model repository and a
running server over it (real gRPC on loopback)."""

from __future__ import annotations

import pytest

from tests.model_server.support import repo_or_interim, start_server


@pytest.fixture(scope="session")
def repo(request, tmp_path_factory):
    """The model repository with trained `digits` and `breast_cancer` version folders."""
    return repo_or_interim(request, tmp_path_factory)


@pytest.fixture(scope="module")
def server(repo):
    """A model server over `repo` (read-only: tests that change files use a copy)."""
    srv = start_server(model_config_file=repo.config_path, file_system_poll_wait_seconds=0)
    yield srv
    srv.stop(grace=1)


@pytest.fixture(scope="module")
def address(server) -> str:
    return f"127.0.0.1:{server.port}"
