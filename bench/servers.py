"""Start, wait for, and stop the servers of the benchmark, each in its own process group.

All of them listen on loopback ports picked free at start. The gateway runs exactly as
in production (`gunicorn -c serving/gunicorn.conf.py serving.gateway.wsgi:app`, its
GATEWAY_* settings); the model server as `python -m serving.model_server`. Logs go to
files under the scratch folder, never to the terminal.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.config import ROOT
from bench.memory import children


class ServerError(RuntimeError):
    """A server did not start, or died."""


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running server process (the leader of its own process group)."""

    name: str
    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        """The server's main process (gunicorn's master for the HTTP servers)."""
        return self.process.pid

    def workers(self) -> list[int]:
        """gunicorn's worker processes (empty for a single-process server)."""
        try:
            return children(self.pid)
        except OSError:
            return []

    def check_alive(self) -> None:
        """ServerError with the log's tail if the process has exited."""
        if self.process.poll() is not None:
            raise ServerError(
                f"{self.name} exited with {self.process.returncode}; the end of {self.log_path}:\n"
                + tail(self.log_path)
            )

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group, wait, SIGKILL it if it does not go."""
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        # Stray workers of the group, if the leader went first.
        _signal_group(self.process.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def launch(name: str, cmd: list[str], port: int, env: dict[str, str], log_dir: Path) -> Server:
    """Start `cmd` in its own process group with its output in `log_dir/<name>.log`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **env}
    with open(log_path, "w") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, process, port, log_path)


def start_model_server(config_path: Path, log_dir: Path, extra_args: tuple[str, ...] = ()) -> Server:
    """The local model server over `config_path` (models.config)."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "serving.model_server",
        "--port", str(port),
        "--model_config_file", str(config_path),
        *extra_args,
    ]
    return launch("model_server", cmd, port, {}, log_dir)


def start_gateway(
    backend_port: int, model_root: Path, log_dir: Path, extra_args: tuple[str, ...] = ()
) -> Server:
    """The gateway in its production configuration (serving/gunicorn.conf.py); gunicorn
    flags in `extra_args` override it (experiments only)."""
    port = free_port()
    env = {
        "GATEWAY_BIND": f"127.0.0.1:{port}",
        "GATEWAY_BACKEND_ADDRESS": f"127.0.0.1:{backend_port}",
        "GATEWAY_MODEL_ROOT": str(model_root),
    }
    cmd = [
        sys.executable, "-m", "gunicorn",
        "-c", str(ROOT / "serving" / "gunicorn.conf.py"),
        *extra_args,
        "serving.gateway.wsgi:app",
    ]
    return launch("gateway", cmd, port, env, log_dir)


def start_baseline(
    kind: str, model_root: Path, models: tuple[str, ...], workers: int, threads: int, log_dir: Path
) -> Server:
    """Baseline (c) `savedmodel` or (d) `tutorial` under gunicorn."""
    port = free_port()
    module = {"savedmodel": "savedmodel_app", "tutorial": "tutorial_app"}[kind]
    env = {"BASELINE_MODEL_ROOT": str(model_root), "BASELINE_MODELS": ",".join(models)}
    cmd = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--worker-class", "gthread" if threads > 1 else "sync",
        "--threads", str(threads),
        "--timeout", "300",
        "--log-level", "warning",
        f"bench.baselines.{module}:create_app()",
    ]
    return launch(f"baseline_{kind}", cmd, port, env, log_dir)


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) the processes have used so far; gone ones count 0."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / tick


def wait_quiet(pids_of, window: float = 0.5, max_busy: float = 0.05, timeout: float = 120.0) -> float:
    """Wait until the processes use under `max_busy` of a CPU over `window` seconds.

    A closed-loop client that stops leaves requests queued in a slow server (the tutorial
    baseline takes seconds to drain 32 of them); the next run must not pay for them.
    Returns the seconds waited.
    """
    start = time.monotonic()
    before = cpu_seconds(pids_of())
    while time.monotonic() - start < timeout:
        time.sleep(window)
        after = cpu_seconds(pids_of())
        if after - before <= max_busy * window:
            break
        before = after
    return time.monotonic() - start


def wait_http(server: Server, path: str, body: bytes, timeout: float = 300.0) -> None:
    """Poll a POST of `body` to `path` until it answers 200 (bounded by `timeout`)."""
    url = f"http://127.0.0.1:{server.port}{path}"
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        server.check_alive()
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise ServerError(f"{server.name} not ready after {timeout:g}s ({last}); log:\n{tail(server.log_path)}")


def wait_model_server(server: Server, models: tuple[str, ...], timeout: float = 300.0) -> dict[str, int]:
    """Poll GetModelStatus until every model has an AVAILABLE version; model → version."""
    from serving.gateway.errors import GatewayError
    from serving.gateway.grpc_client import TFServingClient

    # Connection refused is expected until the server listens: not worth a warning each time.
    logging.getLogger("serving.gateway.grpc_client").setLevel(logging.ERROR)
    deadline = time.monotonic() + timeout
    last = ""
    with TFServingClient(f"127.0.0.1:{server.port}", deadline_seconds=5, retries=0) as client:
        while time.monotonic() < deadline:
            server.check_alive()
            versions = {}
            for model in models:
                try:
                    statuses = client.status(model)
                except GatewayError as exc:
                    last = f"{model}: {exc}"
                    break
                available = [s.version for s in statuses if s.state == "AVAILABLE"]
                if not available:
                    last = f"{model}: {[(s.version, s.state) for s in statuses]}"
                    break
                versions[model] = max(available)
            else:
                return versions
            time.sleep(0.2)
    raise ServerError(f"model server not ready after {timeout:g}s ({last}); log:\n{tail(server.log_path)}")
