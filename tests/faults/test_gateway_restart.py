"""Scenario 4: the gateway is stopped (SIGTERM) with slow requests in flight, and one of
its workers is killed (SIGKILL) under load.

SIGTERM: the requests in flight (made slow by a model server stopped with SIGSTOP, for a
bounded time) complete with 200 and the right labels; the listening port closes at once,
so new connections are refused while they finish; gunicorn exits 0 within its graceful
timeout. SIGKILL of a worker: gunicorn starts another, the load goes on, the only
failures are the connections the dead worker held, and no answer is wrong.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
import time

import pytest

from tests.faults.load import LoadDriver, Outcome, note, report
from tests.faults.processes import listening, server_has_read
from tests.model_server.support import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]

GRACEFUL = 30.0
IN_FLIGHT = 4


class SlowRequest(threading.Thread):
    """One predict request on its own connection, answered (or not) in the background."""

    def __init__(self, port: int, request):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.conn.connect()
        self.client_port = self.conn.sock.getsockname()[1]
        self.request = request
        self.outcome: Outcome | None = None

    def run(self):
        outcome = Outcome(0, 0, 1, self.request, time.monotonic(), 0.0)
        try:
            self.conn.request(self.request.method, self.request.path, self.request.body, self.request.headers)
            response = self.conn.getresponse()
            outcome.status, outcome.body = response.status, json.loads(response.read())
            outcome.headers = {k.lower(): v for k, v in response.getheaders()}
        except (OSError, http.client.HTTPException, ValueError) as exc:
            outcome.error = type(exc).__name__
        outcome.seconds = time.monotonic() - outcome.started
        self.outcome = outcome
        self.conn.close()


def test_sigterm_lets_requests_in_flight_finish_and_refuses_new_connections(
    model_server, gateway_factory, cases, references
):
    gateway = gateway_factory(deadline_seconds=120, graceful_timeout_seconds=GRACEFUL)
    assert gateway.get("/v1/models/digits")[0] == 200

    model_server.proc.signal(signal.SIGSTOP)
    try:
        slow = [SlowRequest(gateway.port, cases.request(9, seq)) for seq in range(IN_FLIGHT)]
        for request in slow:
            request.start()
        wait_for(lambda: all(server_has_read(gateway.port, r.client_port) for r in slow), 60,
                 "gunicorn reading every slow request")
        assert not any(r.outcome for r in slow), "answered although the backend is stopped"

        gateway.proc.signal(signal.SIGTERM)
        termed_at = time.monotonic()
        wait_for(lambda: not listening(gateway.port), 30, "the listening socket closed")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
        refused = gateway.get("/healthz", timeout=5)
        assert refused[0] is None and "Connection refused" in refused[1], refused
        assert gateway.proc.alive() and not any(r.outcome for r in slow), "still finishing its requests"
    finally:
        model_server.proc.signal(signal.SIGCONT)

    for request in slow:
        request.join(120)
    code = gateway.proc.wait(GRACEFUL + 30)
    stopped_in = time.monotonic() - termed_at
    outcomes = [r.outcome for r in slow]
    note(f"[4 SIGTERM] {IN_FLIGHT} requests in flight: statuses {[o.status for o in outcomes]}, "
          f"gunicorn exited {code} {stopped_in:.1f} s after SIGTERM")
    assert [o.status for o in outcomes] == [200] * IN_FLIGHT, [o.error or o.body for o in outcomes]
    assert cases.all_problems(outcomes, references) == []
    assert code == 0
    assert stopped_in < GRACEFUL
    log = gateway.log_text()
    assert "Handling signal: term" in log and "Shutting down: Master" in log
    assert "WORKER TIMEOUT" not in log and "Traceback" not in log


def test_killed_workers_are_replaced_and_no_answer_is_wrong(model_server, gateway_factory, cases, references):
    gateway = gateway_factory()
    driver = LoadDriver(gateway.url, cases.request, concurrency=4, max_requests=20_000,
                        max_seconds=600, label="4 workers killed")
    victims = []
    with driver:
        driver.wait_until(lambda o: sum(x.status == 200 for x in o) >= 40, 120, "answers before the kill")
        # Kill each original worker in turn: the answers after the second replacement all
        # come from workers gunicorn started after a SIGKILL.
        for victim in gateway.workers():
            victims.append(victim)
            os.kill(victim, signal.SIGKILL)
            workers = wait_for(
                lambda: (w := gateway.workers()) and len(w) == 2 and not set(victims) & set(w) and w, 120,
                "gunicorn replacing the killed worker",
            )
            replaced_at = time.monotonic()
            driver.wait_until(
                lambda o, since=replaced_at: sum(1 for x in o if x.started >= since and x.status == 200) >= 40, 120,
                "answers after the replacement",
            )
    figures = report(driver)

    assert set(figures.by_status) == {200}, figures.line()
    # A client whose kept-alive connection was on a dead worker loses that one request.
    assert sum(figures.errors.values()) <= driver.concurrency * len(victims), figures.line()
    assert set(figures.errors) <= {"RemoteDisconnected", "ConnectionResetError", "BrokenPipeError", "IncompleteRead"}
    assert cases.all_problems(driver.outcomes(), references) == []
    assert gateway.workers() == workers
    log = gateway.log_text()
    assert all(f"Worker (pid:{victim}) was sent SIGKILL" in log for victim in victims)
