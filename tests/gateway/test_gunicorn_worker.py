"""serving/gateway/gunicorn_worker.py: idle and slow clients hold no thread, a request is
read within its deadline, and a stopping gateway refuses new connections at once.

The socket tests use a socketpair; the worker tests run the real gunicorn with the
production config (no model server: /healthz does not need one, and a predict request
whose backend is unreachable is answered 503 at once).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from serving.gateway.gunicorn_worker import DeadlineSocket, ReadDeadlineExceeded
from tests.faults.processes import listening, server_has_read

ROOT = Path(__file__).resolve().parents[2]
READ_TIMEOUT = 1.0  # GATEWAY_READ_TIMEOUT_SECONDS of the gunicorn under test


# -- DeadlineSocket -------------------------------------------------------------------------


@pytest.fixture
def pair():
    left, right = socket.socketpair()
    sock = DeadlineSocket.adopt(left)
    yield sock, right
    sock.close()
    right.close()


def test_reads_without_a_deadline_are_plain_reads(pair):
    sock, peer = pair
    peer.sendall(b"abc")
    assert sock.recv(10) == b"abc"
    assert sock.gettimeout() is None


def test_a_read_past_the_deadline_is_a_connection_reset(pair):
    sock, peer = pair
    peer.sendall(b"a")
    sock.read_deadline = time.monotonic() + 0.2
    assert sock.recv(10) == b"a"  # data in time
    with pytest.raises(ReadDeadlineExceeded) as caught:
        sock.recv(10)  # nothing more comes
    assert isinstance(caught.value, ConnectionResetError)
    assert sock.gettimeout() is None  # the blocking mode is restored
    with pytest.raises(ReadDeadlineExceeded):
        sock.recv(10)  # the deadline has passed: fails at once


def test_a_shorter_timeout_of_the_caller_keeps_its_own_error(pair):
    sock, _ = pair
    sock.read_deadline = time.monotonic() + 60
    sock.settimeout(0.05)
    with pytest.raises(TimeoutError) as caught:
        sock.recv(10)
    assert not isinstance(caught.value, ReadDeadlineExceeded)
    assert sock.gettimeout() == 0.05


def test_non_blocking_reads_ignore_the_deadline(pair):
    sock, _ = pair
    sock.read_deadline = time.monotonic() - 1
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(10)


# -- the worker under gunicorn ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gateway(request, tmp_path):
    """gunicorn with the production config, 1 worker × 2 threads, a 1 s read timeout
    (or the one given by indirect parametrization)."""
    read_timeout = getattr(request, "param", READ_TIMEOUT)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PROMETHEUS_"))}
    env.update(
        GATEWAY_BIND=f"127.0.0.1:{port}", GATEWAY_MODEL_ROOT=str(tmp_path),
        GATEWAY_BACKEND_ADDRESS=f"127.0.0.1:{free_port()}", GATEWAY_WORKERS="1",
        GATEWAY_THREADS="2", GATEWAY_READ_TIMEOUT_SECONDS=str(read_timeout),
        GATEWAY_GRACEFUL_TIMEOUT_SECONDS="20",
    )
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "serving/gunicorn.conf.py", "serving.gateway.wsgi:app"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    proc.port = port
    proc.log_path = tmp_path / "gunicorn.log"
    try:
        until(lambda: answer(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").startswith(b"HTTP/1.1 200"),
              60, "gunicorn answering")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)  # poll interval of a bounded wait


def answer(port: int, raw: bytes, timeout: float = 10.0) -> bytes:
    """Send `raw` on a new connection; everything the server sends until it closes or
    `timeout` passes (Connection: close is added to a request without it)."""
    if b"Connection:" not in raw:
        raw = raw.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def healthz_answered(port: int) -> bool:
    return answer(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", timeout=5).startswith(b"HTTP/1.1 200")


@pytest.mark.slow
def test_idle_connections_hold_no_thread_and_are_closed(gateway):
    idle = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(50)]
    try:
        assert healthz_answered(gateway.port)  # 50 idle connections, 2 threads
        idle[0].settimeout(30)
        assert read_all(idle[0]) == b""  # closed by the server after keepalive (5 s)
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.slow
def test_a_head_sent_a_byte_at_a_time_holds_no_thread_and_is_dropped(gateway):
    slow = [socket.create_connection(("127.0.0.1", gateway.port), timeout=30) for _ in range(10)]
    try:
        for sock in slow:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        for sock in slow:
            sock.sendall(b"a")  # still coming...
        assert healthz_answered(gateway.port)  # 10 slow heads, 2 threads
        assert read_all(slow[0]) == b""  # dropped at the read timeout, without an answer
    finally:
        for sock in slow:
            sock.close()


@pytest.mark.slow
def test_a_head_in_pieces_and_keep_alive_requests_are_answered(gateway):
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        replies = sock.makefile("rb")
        for piece in (b"GET /hea", b"lthz HTTP/1.1\r\nHo", b"st: t\r\n", b"\r\n"):
            sock.sendall(piece)
        assert read_response(replies) == (200, b'{"status":"ok"}')
        # the same connection again, then two pipelined requests
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(replies)[0] == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
        assert [read_response(replies)[0], read_response(replies)[0]] == [200, 404]


@pytest.mark.slow
def test_a_kept_alive_connection_with_half_a_head_waits_for_the_rest(gateway):
    # The worker reads a kept-alive connection's next request as soon as it wakes; half a
    # head must go back to the event loop (no thread held) and be answered once whole.
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        replies = sock.makefile("rb")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(replies)[0] == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        until(lambda: server_has_read(gateway.port, sock.getsockname()[1]), 15, "the half head read")
        assert healthz_answered(gateway.port)  # 2 threads, neither held by the half head
        sock.sendall(b"st: t\r\n\r\n")
        assert read_response(replies) == (200, b'{"status":"ok"}')


@pytest.mark.slow
def test_a_kept_alive_connection_that_stalls_or_closes_is_closed(gateway):
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as stalled, \
            socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as closing:
        for sock in (stalled, closing):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_response(sock.makefile("rb"))[0] == 200
        stalled.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        closing.shutdown(socket.SHUT_WR)
        assert read_all(closing) == b""  # the server closes its side too
        assert read_all(stalled) == b""  # dropped at the read timeout, without an answer
    assert healthz_answered(gateway.port)


def read_response(replies) -> tuple[int, bytes]:
    """(status, body) of the next response on a connection's buffered reader."""
    status = int(replies.readline().split()[1])
    length = 0
    while (line := replies.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, replies.read(length)


@pytest.mark.slow
def test_a_body_slower_than_the_read_timeout_is_a_400(gateway):
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
        sock.sendall(b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: t\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"inst")
        reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert b"Traceback" not in gateway.log_path.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("gateway", [120.0], indirect=True)  # the body may take its time
def test_a_stopping_gateway_refuses_new_connections_and_finishes_the_request_in_flight(gateway):
    port = gateway.port
    inflight = socket.create_connection(("127.0.0.1", port), timeout=30)
    body = b'{"instances": [[0, 0]]}'
    inflight.sendall(b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:5])
    until(lambda: server_has_read(port, inflight.getsockname()[1]), 15, "the head read by gunicorn")
    # the head is complete: a thread is now reading the body
    gateway.send_signal(signal.SIGTERM)
    until(lambda: not listening(port), 15, "the listening socket closed")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    inflight.sendall(body[5:])  # finish the request: it is answered (no backend: 503)
    reply = read_all(inflight)
    inflight.close()
    assert reply.startswith(b"HTTP/1.1 503"), reply[:200]
    assert gateway.wait(30) == 0
