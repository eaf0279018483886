"""Scenario 7: abusive clients beside normal ones.

While two normal clients predict in a loop, abusers hit the same gateway: slow-loris
connections that send their head a byte at a time, idle connections, bursts of
concurrent connections, oversized request lines and headers, and a flood of 4 MB bodies
(above GATEWAY_MAX_BODY_BYTES). The normal clients are served throughout (every answer
a 200 with the right label, none slower than their timeout); the abusers get a 4xx or are
dropped, never a 2xx for a bad request nor a 5xx; no worker crashes.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections import Counter

import pytest

from tests.faults.load import LoadDriver, note, report

pytestmark = [pytest.mark.faults, pytest.mark.slow]

READ_TIMEOUT = 5.0  # GATEWAY_READ_TIMEOUT_SECONDS: a slow head is dropped after this
MAX_BODY = 1 << 20  # GATEWAY_MAX_BODY_BYTES
NORMAL_TIMEOUT = 15.0  # a normal request slower than this fails the test
ABUSE_BOUND = 90.0  # every abuser gives up after this (the test's bound, not an expectation)
DROPPED = "dropped"


def status_of(reply: bytes) -> int | str:
    """The status code of an HTTP answer, or DROPPED if the server closed without one."""
    if not reply:
        return DROPPED
    parts = reply.split(b" ", 2)
    return int(parts[1]) if reply.startswith(b"HTTP/1.") and len(parts) > 1 else f"garbage {reply[:40]!r}"


def exchange(port: int, raw: bytes, timeout: float = 30.0) -> int | str:
    """Send `raw` on a new connection; the status answered, or DROPPED."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            try:
                sock.sendall(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before reading everything
            reply = b""
            try:
                while len(reply) < 64 and (chunk := sock.recv(4096)):
                    reply += chunk
            except ConnectionResetError:
                pass
            return status_of(reply)
    except TimeoutError:
        return "no answer within the timeout"


class Abuser(threading.Thread):
    """Runs `attack(port)` and keeps the outcomes it returns (status codes or DROPPED)."""

    def __init__(self, name: str, attack, port: int):
        super().__init__(name=name, daemon=True)
        self.attack, self.port = attack, port
        self.results: list[int | str] = []

    def run(self):
        self.results = self.attack(self.port)


def slow_loris(count: int, interval: float = 0.5):
    """`count` connections sending an endless head, one byte per connection per interval;
    the outcome of each: what the server did to it (4xx, or DROPPED)."""
    def attack(port: int) -> list[int | str]:
        open_ = {socket.create_connection(("127.0.0.1", port), timeout=10): b"" for _ in range(count)}
        for sock in open_:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        results: list[int | str] = []
        deadline = time.monotonic() + ABUSE_BOUND
        while open_ and time.monotonic() < deadline:
            for sock in list(open_):
                try:
                    sock.sendall(b"X")
                except OSError:
                    pass  # reset: recv says so below
            readable, _, _ = select.select(list(open_), [], [], interval)  # the drip interval
            for sock in readable:
                try:
                    reply = sock.recv(4096)
                except OSError:
                    reply = b""
                results.append(status_of(reply))
                del open_[sock]
                sock.close()
        results += ["still open"] * len(open_)
        for sock in open_:
            sock.close()
        return results
    return attack


def idle_connections(count: int):
    """`count` connections that never send anything; how each one ended."""
    def attack(port: int) -> list[int | str]:
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
        results: list[int | str] = []
        deadline = time.monotonic() + ABUSE_BOUND
        while socks and time.monotonic() < deadline:
            readable, _, _ = select.select(socks, [], [], 1.0)
            for sock in readable:
                try:
                    results.append(status_of(sock.recv(4096)))
                except OSError:
                    results.append(DROPPED)
                socks.remove(sock)
                sock.close()
        results += ["still open"] * len(socks)
        for sock in socks:
            sock.close()
        return results
    return attack


def burst(count: int, raw: bytes):
    """`count` connections opened at once, each sending `raw`; the statuses."""
    def attack(port: int) -> list[int | str]:
        out: list[int | str] = []
        threads = [threading.Thread(target=lambda: out.append(exchange(port, raw))) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(ABUSE_BOUND)
        return out
    return attack


def repeated(times: int, raw: bytes):
    """`raw` sent `times` times, one connection each."""
    return lambda port: [exchange(port, raw) for _ in range(times)]


def big_body(size: int) -> bytes:
    body = b'{"instances": [' + b"[0, 0, 0, 0]," * (size // 13) + b"[0]]}"
    return (b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


HEAD = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
ATTACKS = {
    # name: (attack, the outcomes allowed)
    "slow-loris x40": (slow_loris(40), {DROPPED, 400, 408}),
    "idle x300": (idle_connections(300), {DROPPED}),
    "oversized header field": (repeated(10, HEAD + b"X-Big: " + b"a" * 16_000 + b"\r\n\r\n"), {DROPPED, 400, 431}),
    "too many header fields": (repeated(10, HEAD + b"".join(b"X-%d: 1\r\n" % i for i in range(100)) + b"\r\n"),
                               {DROPPED, 400, 431}),
    "overlong request line": (repeated(10, b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"),
                              {DROPPED, 400, 414}),
    # Larger than what the worker buffers on its event loop, yet within gunicorn's limits.
    "100 KB head within the limits": (
        repeated(5, HEAD + b"".join(b"X-%d: %s\r\n" % (i, b"b" * 2000) for i in range(50)) + b"\r\n"), {200}),
    "4 MB bodies x4 threads": (burst(4, big_body(4 << 20)), {DROPPED, 413}),
    "4 MB bodies, again": (burst(4, big_body(4 << 20)), {DROPPED, 413}),
    "burst of 200 connections": (burst(200, HEAD + b"\r\n"), {200}),
}


def test_abusers_are_refused_and_normal_clients_served(model_server, gateway_factory, cases, references):
    gateway = gateway_factory(max_body_bytes=MAX_BODY, read_timeout_seconds=READ_TIMEOUT)
    workers = gateway.workers()
    normal = LoadDriver(gateway.url, cases.request, concurrency=2, max_requests=20_000, max_seconds=600,
                        request_timeout=NORMAL_TIMEOUT, label="7 normal clients beside abusers")
    with normal:
        normal.wait_until(lambda o: sum(x.status == 200 for x in o) >= 10, 120, "answers before the abuse")
        abuse_started = time.monotonic()
        abusers = {name: Abuser(name, attack, gateway.port) for name, (attack, _) in ATTACKS.items()}
        for abuser in abusers.values():
            abuser.start()
        for abuser in abusers.values():
            abuser.join(ABUSE_BOUND + 60)
        abuse_ended = time.monotonic()
        normal.wait_until(lambda o: sum(x.status == 200 for x in o if x.started >= abuse_ended) >= 10, 60,
                          "answers after the abuse")
    figures = report(normal)

    outcomes = {name: Counter(abuser.results) for name, abuser in abusers.items()}
    for name, counts in outcomes.items():
        note(f"[7 abuse] {name}: {dict(counts)}")
    assert not any(a.is_alive() for a in abusers.values()), "an abuser is still running"
    for name, (_, allowed) in ATTACKS.items():
        assert set(outcomes[name]) <= allowed, f"{name}: {dict(outcomes[name])}, allowed {allowed}"
        assert sum(outcomes[name].values()) > 0, name

    during = [o for o in normal.outcomes() if abuse_started <= o.started < abuse_ended]
    assert sum(o.status == 200 for o in during) >= 10, "normal clients were served during the abuse"
    assert set(figures.by_status) == {200} and figures.errors == {}, figures.line()
    assert cases.all_problems(normal.outcomes(), references) == []

    assert gateway.workers() == workers, "a worker died"
    assert gateway.get("/healthz")[0] == 200
    log = gateway.log_text()
    assert "Traceback" not in log and '"status": 500' not in log and "WORKER TIMEOUT" not in log
