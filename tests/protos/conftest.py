"""Fixtures for the wire-compatibility tests: a model server over the session's trained
model repository (`model_repo`, root conftest)."""

from __future__ import annotations

import pytest

from tests.model_server.support import start_server


@pytest.fixture(scope="module")
def address(model_repo):
    server = start_server(model_config_file=model_repo.config_path, file_system_poll_wait_seconds=0)
    yield f"127.0.0.1:{server.port}"
    server.stop(grace=1)
