"""Helpers shared by the model-server, gRPC-client and wire-compatibility tests: start a
real model server on a free loopback port, and wait on conditions with bounded polls."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self, TypeVar

import grpc

from protogen.tfserving import get_model_status_pb2, model_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    """A port nobody listens on right now (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], T | None], timeout: float = 60.0, what: str = "condition") -> T:
    """Call `check` until it returns something truthy (its value), at most `timeout` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - kept for the failure message
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")
        time.sleep(0.05)  # poll interval of a bounded wait, not a timing assumption


def version_states(address: str, model: str) -> dict[int, str]:
    """{version: state name} from GetModelStatus (raises grpc.RpcError)."""
    with grpc.insecure_channel(address) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        response = stub.GetModelStatus(request, timeout=5)
    names = get_model_status_pb2.ModelVersionStatus.State
    return {s.version: names.Name(s.state) for s in response.model_version_status}


def wait_available(address: str, model: str, version: int, timeout: float = 120.0) -> None:
    """Poll GetModelStatus until `version` of `model` is AVAILABLE."""
    wait_for(
        lambda: version_states(address, model).get(version) == "AVAILABLE",
        timeout,
        f"{model} version {version} AVAILABLE at {address}",
    )


class ServerProcess:
    """`python -m serving.model_server` in a child process, on a free port."""

    def __init__(self, *args: str, port: int | None = None, env: dict | None = None):
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "serving.model_server", f"--port={self.port}", *args],
            cwd=ROOT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def terminate(self, timeout: float = 60.0) -> tuple[int, str]:
        """SIGTERM, wait for the exit; return (exit status, output)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return self.proc.returncode, out

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.terminate()


def copy_model(src_version_dir: Path, base_path: Path, version: int) -> Path:
    """Publish a copy of a SavedModel as `base_path/<version>` atomically (copy, then rename)."""
    base_path.mkdir(parents=True, exist_ok=True)
    staging = base_path / f".tmp-{version}"
    shutil.copytree(src_version_dir, staging)
    target = base_path / str(version)
    os.rename(staging, target)
    return target


def write_config(path: Path, models: dict[str, Path], extra: dict[str, str] | None = None) -> Path:
    """A models.config listing `models` (name -> base path), with optional extra text per model."""
    blocks = []
    for name, base in models.items():
        more = (extra or {}).get(name, "")
        blocks.append(
            f'  config {{\n    name: "{name}"\n    base_path: "{base}"\n'
            f'    model_platform: "tensorflow"\n{more}  }}\n'
        )
    path.write_text("model_config_list {\n" + "".join(blocks) + "}\n")
    return path


def start_server(**flags):
    """An in-process ModelServer on a free port; flags as in ServerOptions."""
    from serving.model_server.flags import ServerOptions
    from serving.model_server.server import ModelServer

    options = ServerOptions(**{"port": 0, **flags})
    return ModelServer(options).start()
