"""Fixtures of the end-to-end tests: the real stack (local model server + gateway under
gunicorn with its production config) on loopback, over the session's trained models."""

from __future__ import annotations

import pytest

from tests.e2e.support import start_stack


def pytest_collection_modifyitems(items):
    for item in items:
        if "/tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def stack(model_repo, tmp_path_factory):
    """The stack of `make serve` over `model_repo`, shared by the read-only e2e tests."""
    log = tmp_path_factory.mktemp("stack") / "stack.log"
    stack = start_stack(model_repo.models_dir, log, GATEWAY_WORKERS="2", GATEWAY_THREADS="4",
                        GATEWAY_LOG_LEVEL="info")
    stack.log_path = log
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def url(stack) -> str:
    """The gateway's base URL."""
    return stack.url
