"""Fixtures of the deployment tests: the compose files (as written and as docker-compose
resolves them), the parsed Dockerfiles, and local stand-ins for the container paths."""

from __future__ import annotations

import pytest

from tests.deploy import support


@pytest.fixture(params=["gpu", "cpu"])
def variant(request) -> str:
    """Both deployment variants: docker-compose.yml (GPU) and docker-compose.cpu.yml."""
    return request.param


@pytest.fixture
def compose(variant) -> dict:
    """The variant's compose file as written."""
    return support.load_compose(variant)


@pytest.fixture(scope="session")
def compose_binary() -> str:
    """Debian's docker-compose (.ci/run installs it); the tests that need it skip without it."""
    binary = support.compose_binary()
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose; .ci/run does)")
    return binary


@pytest.fixture(scope="session")
def resolved(compose_binary) -> dict[str, dict]:
    """`docker-compose config` of each variant, by variant."""
    return {v: support.compose_config(v) for v in support.COMPOSE_FILES}


@pytest.fixture(scope="session")
def dockerfiles() -> dict[str, support.Dockerfile]:
    """The parsed Dockerfiles, by compose service (gateway, train)."""
    return {name: support.parse_dockerfile(path) for name, path in support.DOCKERFILES.items()}


@pytest.fixture
def container_paths(tmp_path) -> dict:
    """Local stand-ins for the container paths: the code (/app) is this checkout, the
    mounted model repository and reports are empty temporary folders."""
    models, runs = tmp_path / "models", tmp_path / "runs"
    models.mkdir()
    runs.mkdir()
    return {"/app": support.ROOT, "/models": models, "/runs": runs, "/opt/venv": support.VENV_BIN.parent}
