"""The real processes of the fault scenarios, and what can be seen of them from outside.

`ModelServer` runs `python -m serving.model_server` and `Gateway` runs gunicorn with the
production configuration (`serving/gunicorn.conf.py`, `serving.gateway.wsgi:app`), each on
a loopback port, in its own session, its output in a log file of the test's folder. The
`/proc` readers tell which workers a gunicorn master has, their memory, and the state of
TCP sockets (is a port still listening, has the server read what a client sent).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from tests.model_server.support import free_port, version_states, wait_available, wait_for

ROOT = Path(__file__).resolve().parents[2]
# Generous bounds: the machine may be busy; a model server imports TensorFlow on start.
START_TIMEOUT = 300.0


class Proc:
    """A child process in its own session, its stdout and stderr in `log_path`."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in wait()
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        """Whether the process has not exited (a stopped process is alive)."""
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        """Send `sig` to the process (not its group)."""
        os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        """Its exit status, waiting at most `timeout` seconds (subprocess.TimeoutExpired)."""
        code = self.popen.wait(timeout=timeout)
        self._log.close()
        return code

    def stop(self, timeout: float = 60.0) -> int:
        """SIGCONT + SIGTERM, then SIGKILL whatever outlives `timeout`; the exit status."""
        if self.alive():
            for sig in (signal.SIGCONT, signal.SIGTERM):
                try:
                    os.kill(self.pid, sig)
                except ProcessLookupError:
                    break
            try:
                return self.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        return self.wait(timeout)

    def log_text(self) -> str:
        """Everything the process wrote so far (it writes to the file itself)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


class ModelServer:
    """`python -m serving.model_server` over a models.config, on a fixed loopback port, so
    that it can be restarted where the gateway expects it."""

    def __init__(self, config_path: Path, log_dir: Path, port: int | None = None, poll_seconds: float = 0.5):
        self.config_path = config_path
        self.log_dir = log_dir
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.poll_seconds = poll_seconds
        self.proc: Proc | None = None
        self.starts = 0

    def start(self) -> Self:
        """Start a new process on this port (does not wait for it)."""
        self.starts += 1
        argv = [
            sys.executable, "-m", "serving.model_server",
            f"--port={self.port}",
            f"--model_config_file={self.config_path}",
            f"--file_system_poll_wait_seconds={self.poll_seconds:g}",
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.proc = Proc(argv, env, self.log_dir / f"model_server-{self.starts}.log")
        return self

    def wait_available(self, model: str, version: int, timeout: float = START_TIMEOUT) -> None:
        """Wait until `version` of `model` is AVAILABLE (the process must stay up)."""
        def check():
            assert self.proc is not None and self.proc.alive(), self._died()
            try:
                wait_available(self.address, model, version, timeout=0.5)
                return True
            except AssertionError:
                return False

        wait_for(check, timeout, f"{model} version {version} AVAILABLE on the model server")

    def stop(self) -> None:
        """Stop the current process (continued first if it was stopped)."""
        if self.proc is not None:
            self.proc.stop()

    def _died(self) -> str:
        tail = self.proc.log_text()[-2000:] if self.proc else ""
        return f"the model server exited:\n{tail}"


class Gateway:
    """The gateway exactly as deployed: gunicorn with serving/gunicorn.conf.py."""

    def __init__(self, models_dir: Path, backend_address: str, log_dir: Path, **settings: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PROMETHEUS_"))},
            "GATEWAY_BIND": f"127.0.0.1:{self.port}",
            "GATEWAY_BACKEND_ADDRESS": backend_address,
            "GATEWAY_MODEL_ROOT": str(models_dir),
            **{f"GATEWAY_{k.upper()}": str(v) for k, v in settings.items()},
        }
        self.log_path = log_dir / f"gateway-{self.port}.log"
        self.proc: Proc | None = None

    def start(self, ready: bool = True, timeout: float = START_TIMEOUT) -> Self:
        """Start gunicorn; wait for every worker and, if `ready`, for /readyz to say 200."""
        argv = [sys.executable, "-m", "gunicorn", "-c", "serving/gunicorn.conf.py", "serving.gateway.wsgi:app"]
        self.proc = Proc(argv, self.env, self.log_path)
        expected = int(self.env.get("GATEWAY_WORKERS", "2"))
        wait_for(lambda: self._alive() and len(self.workers()) == expected, timeout, "gunicorn's workers")
        if ready:
            wait_for(lambda: self._alive() and self.get("/readyz")[0] == 200, timeout, "the gateway ready")
        return self

    @property
    def pid(self) -> int:
        """The master's pid."""
        assert self.proc is not None
        return self.proc.pid

    def workers(self) -> list[int]:
        """The pids of the master's worker processes."""
        return children(self.pid)

    def get(self, path: str, timeout: float = 30.0) -> tuple[int | None, dict | str]:
        """GET `path`: (status, JSON body or text); (None, error) if there was no answer."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _decode(exc.read())
        except OSError as exc:
            return None, repr(exc)

    def log_text(self) -> str:
        """gunicorn's log and the gateway's JSON log lines."""
        return self.proc.log_text() if self.proc else ""

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (graceful), SIGKILL after `timeout`."""
        return self.proc.stop(timeout) if self.proc else None

    def _alive(self) -> bool:
        assert self.proc is not None and self.proc.alive(), f"gunicorn exited:\n{self.log_text()[-3000:]}"
        return True


def _decode(raw: bytes) -> dict | str:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


# -- /proc ---------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The pids whose parent is `pid` (scans /proc; gunicorn's workers of a master)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def rss_kib(pid: int) -> int:
    """The resident set size of `pid` in KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def tcp_sockets() -> list[dict]:
    """The IPv4 TCP sockets of this network namespace: local and remote port, state, rx queue."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote, state, queues = parts[1], parts[2], parts[3], parts[4]
        rows.append({
            "local_port": int(local.split(":")[1], 16),
            "remote_port": int(remote.split(":")[1], 16),
            "state": state,
            "rx_queue": int(queues.split(":")[1], 16),
        })
    return rows


LISTEN = "0A"


def listening(port: int) -> bool:
    """Whether some socket listens on `port`."""
    return any(s["local_port"] == port and s["state"] == LISTEN for s in tcp_sockets())


def server_has_read(server_port: int, client_port: int) -> bool:
    """Whether the server side of the connection from `client_port` exists and has read
    everything the client sent (nothing left in its receive queue)."""
    sides = [
        s for s in tcp_sockets()
        if s["local_port"] == server_port and s["remote_port"] == client_port and s["state"] != LISTEN
    ]
    return bool(sides) and all(s["rx_queue"] == 0 for s in sides)


# -- the training job and the model server's view of versions --------------------------------


def training_job(models_dir: Path, runs_dir: Path, *overrides: str) -> list[str]:
    """The command line of the real training job (digits config, 2 epochs) into a repository."""
    sets = ["epochs=2", *overrides, f"models_dir={models_dir}", f"runs_dir={runs_dir}"]
    return [sys.executable, "-m", "training", "--config", "digits", *(a for s in sets for a in ("--set", s))]


def run_training(models_dir: Path, runs_dir: Path, *overrides: str, timeout: float = 900.0):
    """Run the training job to its end; the CompletedProcess (text output)."""
    return subprocess.run(
        training_job(models_dir, runs_dir, *overrides), cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, check=False,
    )


def versions(model_dir: Path) -> list[int]:
    """The version folders of a model, as the model server counts them (integer names)."""
    return sorted(int(p.name) for p in model_dir.iterdir() if p.name.isdigit() and p.is_dir())


class StatusWatcher(threading.Thread):
    """Polls GetModelStatus of `model` until stopped, recording every (version, state) seen."""

    def __init__(self, address: str, model: str):
        super().__init__(daemon=True)
        self.address, self.model = address, model
        self.seen: set[tuple[int, str]] = set()
        self.polls = 0
        self.failed_polls = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.seen |= set(version_states(self.address, self.model).items())
                self.polls += 1
            except Exception:  # noqa: BLE001 - a poll during a restart; the next one counts
                self.failed_polls += 1
            self._stop_event.wait(0.1)  # poll interval

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_event.set()
        self.join(30)

    def versions(self) -> set[int]:
        """Every version the model server ever reported."""
        return {v for v, _ in self.seen}
