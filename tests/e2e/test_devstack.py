"""`make serve` (serving/devstack.py) from an empty model repository: it trains the default
model, starts the model server and gunicorn, prints a curl example that works, and stops
both on Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

from serving.devstack import ROOT, has_models
from tests.e2e.support import CLEAN_ENV, free_port


def lines_of(proc: subprocess.Popen) -> queue.Queue:
    out: queue.Queue = queue.Queue()

    def pump():
        for line in proc.stdout:
            out.put(line)
        out.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return out


def read_until(out: queue.Queue, pattern: str, timeout: float, seen: list[str]) -> re.Match:
    """Bounded wait for a line of the output matching `pattern`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = out.get(timeout=1)
        except queue.Empty:
            continue
        assert line is not None, "make serve exited:\n" + "".join(seen[-40:])
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matching {pattern!r}:\n" + "".join(seen[-40:]))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_serve_trains_serves_and_stops_on_ctrl_c(tmp_path):
    models = tmp_path / "models"
    assert not has_models(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving.devstack", "--models-dir", str(models),
         "--set", "epochs=2", "--set", f"runs_dir={tmp_path / 'runs'}",
         "--bind", f"127.0.0.1:{free_port()}", "--grpc-port", str(free_port())],
        cwd=ROOT, env={**CLEAN_ENV, "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    seen: list[str] = []
    out = lines_of(proc)
    try:
        read_until(out, r"no model under .*: training one", 60, seen)
        pids = read_until(out, r"ready: model server pid (\d+), gateway pid (\d+)", 600, seen)
        server_pid, gateway_pid = int(pids[1]), int(pids[2])
        url = read_until(out, r"gateway  (http://\S+)", 10, seen)[1]
        curl = read_until(out, r"try: +(curl .*)$", 10, seen)[1]
        read_until(out, r"Ctrl-C stops both", 10, seen)
        assert has_models(models)

        answer = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=60, check=False)
        assert answer.returncode == 0 and '"model":"digits"' in answer.stdout, answer.stdout
        assert url.startswith("http://127.0.0.1:")

        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends (the children have their own session)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    while (line := out.get(timeout=30)) is not None:
        seen.append(line)
    assert "[serve] stopped" in "".join(seen)
    assert not alive(server_pid) and not alive(gateway_pid)
