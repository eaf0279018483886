"""Helpers of the end-to-end tests: free loopback ports, the stack of `make serve` with
its output kept in a log file, and a gunicorn gateway alone (for fault injection)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from serving.devstack import ROOT, Stack, StackError

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PROMETHEUS_"))}


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_stack(models_dir: Path, log_path: Path, **gateway_env: str) -> Stack:
    """The model server and gunicorn on free loopback ports, ready to serve."""
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the processes until stop()
    env = {**CLEAN_ENV, "GATEWAY_LOG_LEVEL": "warning", "TF_CPP_MIN_LOG_LEVEL": "2", **gateway_env}
    stack = Stack(models_dir, bind=f"127.0.0.1:{free_port()}", grpc_port=free_port(), env=env,
                  output=log.fileno(), poll_seconds=0.5)
    try:
        stack.start(ready_timeout=240)
    except StackError as exc:
        stack.stop()
        raise AssertionError(f"stack did not start: {exc}\n{tail(log_path)}") from None
    finally:
        log.close()
    return stack


def tail(path: Path, lines: int = 40) -> str:
    """The end of a log file, for failure messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Gateway:
    """gunicorn with the production config alone, against whatever backend address."""

    def __init__(self, models_dir: Path, backend_address: str, log_path: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "serving/gunicorn.conf.py", "serving.gateway.wsgi:app"],
                cwd=ROOT,
                env={
                    **CLEAN_ENV,
                    "GATEWAY_BIND": f"127.0.0.1:{self.port}",
                    "GATEWAY_BACKEND_ADDRESS": backend_address,
                    "GATEWAY_MODEL_ROOT": str(models_dir),
                    **env,
                },
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.wait_live()

    def wait_live(self, timeout: float = 60.0) -> None:
        """Bounded poll of /healthz."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"gunicorn exited:\n{tail(self.log_path)}"
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.1)  # poll interval
        raise AssertionError(f"gunicorn never answered:\n{tail(self.log_path)}")

    def stop(self) -> int:
        """SIGTERM (graceful) and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)
