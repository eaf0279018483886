"""Fixtures for the wire-compatibility tests: a model server over the trained repository."""

from __future__ import annotations

import pytest

from tests.model_server.support import repo_or_interim, start_server


@pytest.fixture(scope="session")
def repo(request, tmp_path_factory):
    return repo_or_interim(request, tmp_path_factory)


@pytest.fixture(scope="module")
def address(repo):
    server = start_server(model_config_file=repo.config_path, file_system_poll_wait_seconds=0)
    yield f"127.0.0.1:{server.port}"
    server.stop(grace=1)
