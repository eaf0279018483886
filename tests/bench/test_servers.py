"""Process control of the benchmark: process groups, idleness, loopback ports."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from bench import servers

# Burns argv[1] seconds of CPU (not of wall time: the machine may be busy).
SPINNER = "import sys, time\nwhile time.process_time() < float(sys.argv[1]): pass\n"


def test_free_port_can_be_bound():
    port = servers.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_cpu_seconds_grow_while_a_process_spins():
    proc = subprocess.Popen([sys.executable, "-c", SPINNER, "0.5"])
    try:
        before = servers.cpu_seconds([proc.pid])
        proc.wait(10)
    finally:
        proc.kill()
    assert servers.cpu_seconds([proc.pid]) == 0  # gone: counts nothing
    assert servers.cpu_seconds([999_999_999]) == 0
    assert before >= 0


def test_wait_quiet_returns_once_the_work_is_done():
    proc = subprocess.Popen([sys.executable, "-c", SPINNER + "import sys; sys.stdin.read()\n", "1.5"],
                            stdin=subprocess.PIPE)
    try:
        waited = servers.wait_quiet(lambda: [proc.pid], window=0.2, timeout=30)
        # It returned because the spinning stopped, not because of the timeout.
        assert waited < 30
        assert proc.poll() is None
        assert servers.cpu_seconds([proc.pid]) >= 1.4
    finally:
        proc.stdin.close()
        proc.wait(10)


def test_stop_ends_the_whole_process_group(tmp_path):
    script = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "time.sleep(60)\n"
    )
    server = servers.launch("group", [sys.executable, "-c", script], 0, {}, tmp_path)
    deadline = time.monotonic() + 20
    while not server.workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    (grandchild,) = server.workers()
    server.stop(timeout=5)
    assert server.process.poll() is not None
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)
    assert (tmp_path / "group.log").exists()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
