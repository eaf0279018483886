"""`make serve`: the whole stack on this machine, on loopback.

1. Trains the default model (`python -m training --config training/configs/digits.yaml`)
   if the model repository has no model yet.
2. Starts the local model server (`python -m serving.model_server`, TF Serving's gRPC
   API) on 127.0.0.1:8500 over `<models>/models.config`, watching for new versions.
3. Starts the gateway under gunicorn with its production configuration
   (`serving/gunicorn.conf.py`) on 127.0.0.1:8000, or GATEWAY_BIND / --bind.
   It is started once the model server listens (i.e. has loaded its models).
4. Waits until `/readyz` answers 200, prints the URL and a curl example, and runs until
   Ctrl-C (or SIGTERM), which stops the gateway (gracefully) and then the model server.

Any GATEWAY_* variable in the environment reaches the gateway unchanged (e.g.
GATEWAY_API_KEYS, GATEWAY_WORKERS). `Stack` is also what the end-to-end tests start.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = "training/configs/digits.yaml"
# One sample of scikit-learn's digits (a "0"), raw values 0-16 as in training.
EXAMPLE_DIGIT = [
    0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0,
    0, 4, 12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0,
    0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0,
]


class StackError(RuntimeError):
    """A part of the stack failed to start or stopped on its own."""


def has_models(models_dir: Path) -> bool:
    """Whether the repository has a models.config and at least one version folder."""
    if not (models_dir / "models.config").is_file():
        return False
    return any(
        child.is_dir() and child.name.isdigit()
        for model in models_dir.iterdir() if model.is_dir()
        for child in model.iterdir()
    )


def train_default(
    models_dir: Path, config: str, overrides: list[str] = (), python: str = sys.executable
) -> None:
    """Run the training job once, publishing into `models_dir`."""
    argv = [python, "-m", "training", "--config", config, "--set", f"models_dir={models_dir}"]
    for override in overrides:
        argv += ["--set", override]
    print(f"[serve] no model under {models_dir}: training one ({' '.join(argv[1:])})", flush=True)
    if subprocess.run(argv, cwd=ROOT, check=False).returncode != 0:
        raise StackError("training failed (see above)")


class Stack:
    """The model server and the gateway as child processes (each in its own session, so a
    Ctrl-C on the terminal reaches only us, and we stop them in order)."""

    def __init__(
        self,
        models_dir: Path,
        bind: str = "127.0.0.1:8000",
        grpc_port: int = 8500,
        env: dict[str, str] | None = None,
        output: int | None = None,
        python: str = sys.executable,
        poll_seconds: float = 1.0,
    ):
        self.models_dir = Path(models_dir).resolve()
        self.bind = bind
        self.grpc_address = f"127.0.0.1:{grpc_port}"
        self.grpc_port = grpc_port
        self.env = {**os.environ, **(env or {})}
        self.output = output
        self.python = python
        self.poll_seconds = poll_seconds
        self.model_server: subprocess.Popen | None = None
        self.gateway: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The gateway's base URL."""
        host, _, port = self.bind.rpartition(":")
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{port}"

    def start(self, ready_timeout: float = 300.0, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Start both processes and wait until the gateway is ready (or `cancelled()`)."""
        self.model_server = self._spawn(
            [
                self.python, "-m", "serving.model_server",
                f"--port={self.grpc_port}",
                f"--model_config_file={self.models_dir / 'models.config'}",
                f"--file_system_poll_wait_seconds={self.poll_seconds:g}",
                f"--model_config_file_poll_wait_seconds={self.poll_seconds:g}",
            ],
            self.env,
        )
        # Like TF Serving, the model server listens only once its models are loaded: wait
        # for the port, so no gateway worker starts out in gRPC's reconnect backoff.
        self.wait_backend(ready_timeout, cancelled)
        gateway_env = {
            **self.env,
            "GATEWAY_BIND": self.bind,
            "GATEWAY_BACKEND_ADDRESS": self.grpc_address,
            "GATEWAY_MODEL_ROOT": str(self.models_dir),
        }
        self.gateway = self._spawn(
            [self.python, "-m", "gunicorn", "-c", "serving/gunicorn.conf.py", "serving.gateway.wsgi:app"],
            gateway_env,
        )
        self.wait_ready(ready_timeout, cancelled)

    def wait_backend(self, timeout: float, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Poll the model server's port until it accepts connections (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cancelled():
                raise StackError("interrupted before the stack was ready")
            self.check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.grpc_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)  # the poll interval of a bounded wait
        raise StackError(f"the model server did not listen on port {self.grpc_port} within {timeout:g} s")

    def wait_ready(self, timeout: float, cancelled: Callable[[], bool] = lambda: False) -> dict:
        """Poll /readyz until it answers 200 (bounded); fail early if a process dies."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if cancelled():
                raise StackError("interrupted before the stack was ready")
            self.check_alive()
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=5) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                last = exc.read().decode(errors="replace")[:300]
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                last = str(exc)
            time.sleep(0.2)  # the poll interval of a bounded wait
        raise StackError(f"the gateway was not ready after {timeout:g} s: {last}")

    def check_alive(self) -> None:
        """Raise StackError if a process has exited."""
        for name, proc in (("model server", self.model_server), ("gateway", self.gateway)):
            if proc is not None and proc.poll() is not None:
                hint = ""
                if name == "gateway":
                    hint = f" (is {self.bind} in use? set GATEWAY_BIND or --bind)"
                else:
                    hint = f" (is port {self.grpc_port} in use? use --grpc-port)"
                raise StackError(f"the {name} exited with status {proc.returncode}{hint}")

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM the gateway (graceful), then the model server; SIGKILL what outlives `timeout`."""
        for proc in (self.gateway, self.model_server):
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, start_new_session=True,
            stdout=self.output, stderr=subprocess.STDOUT if self.output is not None else None,
        )


def example_request(models_dir: Path, url: str) -> str:
    """A curl command predicting one instance of the first model in the repository."""
    from contract import load_metadata  # no TensorFlow: numpy and protobuf only

    for model in sorted(p for p in models_dir.iterdir() if p.is_dir()):
        versions = sorted((int(v.name) for v in model.iterdir() if v.name.isdigit()), reverse=True)
        if not versions:
            continue
        meta = load_metadata(model / str(versions[0]))
        if list(meta.input.shape) == [8, 8, 1]:
            instance: object = EXAMPLE_DIGIT
        elif meta.input.feature_names:
            ranges = list(meta.input.feature_ranges) or [meta.input.raw_range] * len(meta.input.feature_names)
            instance = {n: round((r.min + r.max) / 2, 4) for n, r in zip(meta.input.feature_names, ranges)}
        else:
            size = 1
            for d in meta.input.shape:
                size *= int(d)
            instance = [0] * size
        body = json.dumps({"instances": [instance], "top_k": 3}, separators=(",", ":"))
        return (
            f"curl -s {url}/v1/models/{model.name}:predict "
            f"-H 'Content-Type: application/json' -d '{body}'"
        )
    return f"curl -s {url}/readyz"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of `make serve` (ARGS=...)."""
    p = argparse.ArgumentParser(prog="make serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--models-dir", type=Path, default=Path("models"), help="the model repository (default: models)")
    p.add_argument("--config", default=DEFAULT_CONFIG, help="what to train when the repository is empty")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a training override for that first training (repeatable), e.g. epochs=20")
    p.add_argument("--bind", default=os.environ.get("GATEWAY_BIND", "127.0.0.1:8000"),
                   help="the gateway's host:port (default: GATEWAY_BIND or 127.0.0.1:8000)")
    p.add_argument("--grpc-port", type=int, default=8500, help="the model server's port on 127.0.0.1 (default 8500)")
    p.add_argument("--ready-timeout", type=float, default=300.0, help="seconds to wait for readiness")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Train if needed, start both processes, print how to call them, stop on Ctrl-C/SIGTERM."""
    args = parse_args(argv)
    models_dir = args.models_dir.resolve()
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    stack = Stack(models_dir, bind=args.bind, grpc_port=args.grpc_port)
    try:
        if not has_models(models_dir):
            train_default(models_dir, args.config, args.overrides)
        if stopping:
            return 130
        print(f"[serve] starting the model server on {stack.grpc_address} and the gateway on {args.bind}", flush=True)
        stack.start(args.ready_timeout, cancelled=lambda: stopping)
        print(
            f"[serve] ready: model server pid {stack.model_server.pid}, gateway pid {stack.gateway.pid}\n"
            f"[serve] gateway  {stack.url}   (API docs: {stack.url}/docs)\n"
            f"[serve] try:     {example_request(models_dir, stack.url)}\n"
            "[serve] Ctrl-C stops both.",
            flush=True,
        )
        while not stopping:
            stack.check_alive()
            time.sleep(0.5)  # waiting for Ctrl-C; also notices a child that died
        print("[serve] stopping the gateway, then the model server", flush=True)
        return 0
    except StackError as exc:
        if stopping:
            return 130
        print(f"[serve] {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        stack.stop()
        if stopping:
            print("[serve] stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
