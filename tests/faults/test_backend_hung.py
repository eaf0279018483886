"""Scenario 2: the model server stops answering (SIGSTOP) while requests flow.

Requests end with 504 at the gateway's deadline, never sooner, and long before gunicorn's
worker timeout: gunicorn never kills a worker that waits for the backend. /readyz answers
503 within its own short deadline. On SIGCONT the gateway serves again by itself.
"""

from __future__ import annotations

import signal
import time

import pytest

from serving.gateway.settings import Settings
from tests.faults.load import LoadDriver, report
from tests.model_server.support import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]

DEADLINE = 3.0


def test_backend_hung_under_load(model_server, gateway_factory, cases, references, repo):
    gateway = gateway_factory(deadline_seconds=DEADLINE)
    worker_timeout = Settings(model_root=repo.models_dir, deadline_seconds=DEADLINE).worker_timeout_seconds
    workers = gateway.workers()
    driver = LoadDriver(gateway.url, cases.request, concurrency=3, max_requests=20_000,
                        max_seconds=900, label="2 backend hung")
    with driver:
        driver.wait_until(lambda o: sum(x.status == 200 for x in o) >= 20, 120, "answers before the stop")

        model_server.proc.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            driver.wait_until(
                lambda o: sum(1 for x in o if x.started >= stopped_at and x.status == 504) >= 6, 120,
                "504s while the backend hangs",
            )
            readyz = wait_for(lambda: (r := gateway.get("/readyz", timeout=30))[0] == 503 and r, 60,
                              "/readyz 503 while the backend hangs")
        finally:
            model_server.proc.signal(signal.SIGCONT)
        driver.wait_until(
            lambda o: len(o) >= 20 and all(x.status == 200 for x in o[-20:]), 120,
            "20 answers in a row after SIGCONT",
        )
    figures = report(driver)
    outcomes = driver.outcomes()

    assert set(figures.by_status) == {200, 504}, figures.line()
    assert figures.errors == {}, "every request got an HTTP answer"
    timed_out = [o for o in outcomes if o.status == 504]
    assert all(o.body == {"error": f"model server did not answer within {DEADLINE:g} seconds"}
               for o in timed_out), timed_out[0].body
    early = [round(o.seconds, 3) for o in timed_out if o.seconds < DEADLINE]
    assert early == [], "a 504 before the deadline"
    late = [round(o.seconds, 1) for o in timed_out if o.seconds >= worker_timeout]
    assert late == [], f"504s after gunicorn's worker timeout ({worker_timeout:g} s)"
    assert "did not answer within" in readyz[1]["error"], readyz

    assert cases.all_problems(outcomes, references) == []
    assert gateway.workers() == workers, "gunicorn replaced a worker"
    assert "WORKER TIMEOUT" not in gateway.log_text()
