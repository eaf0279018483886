"""Scenario 1: the model server is killed (SIGKILL) while requests flow.

The gateway answers 503 at once (well before its deadline: no worker waits for a dead
backend, no 500), /readyz turns 503, and once a model server is back on the same address
the gateway serves again by itself. Every 200 of the run carries the label the training
job's own evaluation gives for that input.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.faults.load import LoadDriver, report
from tests.model_server.support import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]

DEADLINE = 10.0  # the gateway's backend deadline: a 503 must come well before it


def statuses_since(outcomes, moment, status):
    return sum(1 for o in outcomes if o.started >= moment and o.status == status)


def test_backend_killed_under_load(model_server, gateway_factory, cases, references):
    gateway = gateway_factory(deadline_seconds=DEADLINE)
    workers = gateway.workers()
    driver = LoadDriver(gateway.url, cases.request, concurrency=4, max_requests=20_000,
                        max_seconds=900, label="1 backend killed")
    with driver:
        driver.wait_until(lambda o: statuses_since(o, 0, 200) >= 20, 120, "answers before the kill")

        model_server.proc.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        model_server.proc.wait(30)
        driver.wait_until(lambda o: statuses_since(o, killed_at, 503) >= 20, 120, "503s after the kill")
        wait_for(lambda: gateway.get("/readyz")[0] == 503, 60, "/readyz 503 while the backend is down")
        down = gateway.get("/readyz")

        model_server.start()
        model_server.wait_available("digits", 1)
        wait_for(lambda: gateway.get("/readyz")[0] == 200, 120, "/readyz 200 once the backend is back")
        driver.wait_until(
            lambda o: len(o) >= 20 and all(x.status == 200 for x in o[-20:]), 120,
            "20 answers in a row after the restart",
        )
    figures = report(driver)
    outcomes = driver.outcomes()

    assert set(figures.by_status) == {200, 503}, figures.line()
    assert figures.errors == {}, "every request got an HTTP answer"
    unavailable = [o for o in outcomes if o.status == 503]
    assert all(o.body == {"error": "model server is unavailable"} for o in unavailable), unavailable[0].body
    slow = [round(o.seconds, 2) for o in unavailable if o.seconds >= DEADLINE]
    assert slow == [], f"503s that waited out the {DEADLINE:g} s deadline"
    assert down[0] == 503 and "unavailable" in down[1]["error"], down

    assert cases.all_problems(outcomes, references) == []
    assert gateway.workers() == workers, "no worker hung or was replaced"
    log = gateway.log_text()
    assert "WORKER TIMEOUT" not in log and '"status": 500' not in log

    status, metrics = gateway.get("/metrics")
    assert status == 200
    assert 'route="/v1/models/<model:name>:predict",status="503"' in metrics
