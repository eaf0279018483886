"""Fixtures of the fault scenarios: a private copy of the session's trained digits model,
the real model server over it, gateways under gunicorn, and the reference answers.

Every scenario owns its processes (it kills, stops or fills things); the trained model
comes from the root `model_repo` fixture (the real training job).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.faults.load import SUMMARY, Cases, Reference
from tests.faults.processes import Gateway, ModelServer
from tests.faults.repository import MODEL, Repo, make_repo


def pytest_terminal_summary(terminalreporter):
    """Every load run's figures and every scenario's notes, after the tests."""
    if SUMMARY:
        terminalreporter.section("fault scenarios: figures")
        for line in SUMMARY:
            terminalreporter.write_line(line)


@pytest.fixture
def repo(tmp_path, model_repo) -> Repo:
    """This test's own repository: digits version 1."""
    return make_repo(tmp_path / "repo", model_repo)


@pytest.fixture(scope="session")
def digits(model_repo):
    """The training job's result for digits (its test split and its own answers)."""
    return model_repo.results[MODEL]


@pytest.fixture(scope="session")
def cases(digits) -> Cases:
    """Predict requests over the digits test split, 4 instances each."""
    return Cases(MODEL, digits.test_inputs, batch=4)


@pytest.fixture(scope="session")
def references(digits) -> dict[str, Reference]:
    """What version 1 answers, per the training job's own evaluation."""
    return {"1": Reference.of_result(digits)}


@pytest.fixture
def model_server(repo, tmp_path) -> Iterator[ModelServer]:
    """The model server over `repo`, digits version 1 AVAILABLE."""
    server = ModelServer(repo.config_path, tmp_path).start()
    try:
        server.wait_available(MODEL, 1)
        yield server
    finally:
        server.stop()


@pytest.fixture
def gateway_factory(repo, model_server, tmp_path) -> Iterator[Callable[..., Gateway]]:
    """Start gateways over `repo` and `model_server` (GATEWAY_* settings as keywords)."""
    started: list[Gateway] = []

    def start(ready: bool = True, **settings: str) -> Gateway:
        gateway = Gateway(repo.models_dir, model_server.address, tmp_path, **settings)
        started.append(gateway)
        return gateway.start(ready=ready)

    yield start
    for gateway in started:
        gateway.stop()
