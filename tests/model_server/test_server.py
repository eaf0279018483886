"""The server as a whole: `python -m serving.model_server` in a real process (readiness,
SIGTERM), config re-reading, and start-up errors."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys

import grpc
import numpy as np
import pytest

from serving.gateway.errors import BackendNotFound
from serving.gateway.grpc_client import TFServingClient
from serving.model_server.config import ConfigError
from serving.model_server.flags import parse_args
from serving.model_server.server import ModelServer
from tests.model_server.support import (
    ROOT,
    ServerProcess,
    copy_model,
    start_server,
    version_states,
    wait_available,
    wait_for,
    write_config,
)


def predict_once(address: str, model: str) -> int:
    client = TFServingClient(address, deadline_seconds=30)
    try:
        info = client.metadata(model)
        (name, spec), = info.inputs.items()
        shape = [1 if d == -1 else d for d in spec.shape]
        version, _ = client.predict(model, {name: np.zeros(shape, np.float32)})
        return version
    finally:
        client.close()


@pytest.mark.slow
def test_the_process_serves_then_stops_gracefully_on_sigterm(model_repo):
    with ServerProcess(f"--model_config_file={model_repo.config_path}", "--file_system_poll_wait_seconds=1") as server:
        for name, result in model_repo.results.items():
            wait_available(server.address, name, result.version)
            assert predict_once(server.address, name) == result.version
        code, output = server.terminate()
    assert code == 0, output
    assert "stopping gracefully" in output
    assert "Done unloading servable version {name: digits" in output
    assert "Model server stopped" in output


def test_the_single_model_flags(model_repo):
    result = model_repo.results["breast_cancer"]
    options = parse_args(
        ["--port=0", "--model_name=cancer", f"--model_base_path={result.version_dir.parent}",
         "--file_system_poll_wait_seconds=0"]
    )
    server = ModelServer(options).start()
    address = f"127.0.0.1:{server.port}"
    try:
        wait_available(address, "cancer", result.version)
        assert predict_once(address, "cancer") == result.version
    finally:
        server.stop(grace=1)


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (["--model_config_file=/nonexistent/models.config"], 2, "cannot read model config /nonexistent/models.config"),
        (["--model_name=x"], 2, "give --model_config_file, or --model_name with --model_base_path"),
        (["--model_base_path=/m", "--bogus=1"], 2, "unrecognized arguments: --bogus=1"),
    ],
)
def test_start_up_errors_are_one_line(args, code, fragment):
    result = subprocess.run(
        [sys.executable, "-m", "serving.model_server", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]


def test_a_bad_config_file_stops_the_start(tmp_path):
    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "m" } }')
    with pytest.raises(ConfigError, match="model m has no base_path"):
        start_server(model_config_file=config)


def test_a_port_in_use_is_an_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="cannot listen on 127.0.0.1"):
            start_server(model_base_path=tmp_path, port=taken.getsockname()[1])


def test_a_model_with_no_versions_yet_is_not_found_until_one_appears(model_repo, tmp_path):
    base = tmp_path / "later"
    server = start_server(model_name="later", model_base_path=base, file_system_poll_wait_seconds=0.05)
    address = f"127.0.0.1:{server.port}"
    try:
        with pytest.raises(grpc.RpcError) as info:
            version_states(address, "later")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        copy_model(model_repo.results["digits"].version_dir, base, 3)
        wait_available(address, "later", 3)
    finally:
        server.stop(grace=1)


def test_the_config_file_is_re_read(model_repo, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="serving.model_server")
    digits = model_repo.results["digits"].version_dir.parent
    cancer = model_repo.results["breast_cancer"].version_dir.parent
    config = write_config(tmp_path / "models.config", {"digits": digits})
    server = start_server(
        model_config_file=config,
        file_system_poll_wait_seconds=0.05,
        model_config_file_poll_wait_seconds=0.05,
    )
    address = f"127.0.0.1:{server.port}"
    try:
        assert "AVAILABLE" in version_states(address, "digits").values()
        replace(config, write_config(tmp_path / "next.config", {"cancer": cancer}))
        wait_available(address, "cancer", model_repo.results["breast_cancer"].version)
        wait_for(lambda: "AVAILABLE" not in version_states(address, "digits").values(), 60, "digits unloaded")

        replace(config, tmp_path / "broken.config", text="model_config_list { config { name: ")
        wait_for(lambda: "keeping the current config" in caplog.text, 60, "the broken config to be refused")
        assert predict_once(address, "cancer") == model_repo.results["breast_cancer"].version
    finally:
        server.stop(grace=1)


def replace(target, source, text=None):
    """Swap a config file atomically, as an operator (or the training job) would."""
    if text is not None:
        source.write_text(text)
    os.replace(source, target)


def test_a_model_that_fails_to_load_is_reported_and_the_others_serve(model_repo, tmp_path):
    broken = copy_model(model_repo.results["digits"].version_dir, tmp_path / "broken", 1)
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    digits = model_repo.results["digits"]
    config = write_config(tmp_path / "models.config", {"broken": broken.parent, "digits": digits.version_dir.parent})
    server = start_server(model_config_file=config, file_system_poll_wait_seconds=0, max_num_load_retries=0)
    address = f"127.0.0.1:{server.port}"
    try:
        client = TFServingClient(address, deadline_seconds=30)
        (status,) = client.status("broken")
        assert (status.version, status.state) == (1, "END")
        assert status.error_code != 0 and status.error_message
        assert predict_once(address, "digits") == digits.version
        with pytest.raises(BackendNotFound):
            client.predict("broken", {"pixels": np.zeros((1, 1), np.float32)})
        client.close()
    finally:
        server.stop(grace=1)
