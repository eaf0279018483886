"""Scenario 6: steady load at moderate concurrency for a while (FAULTS_SOAK_SECONDS,
default 75 s: short enough for CI; set it to 600 or more for a real soak).

No request fails, every answer is right, and the memory of each gateway worker is flat
after warm-up: its resident set size (RSS) never grows more than RSS_TOLERANCE above its
value at the end of warm-up (the first WARMUP_FRACTION of the run). A leak of a few
kilobytes per request (a cache that never evicts, a response kept alive) exceeds it
within the default run; allocator noise does not.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.faults.load import LoadDriver, note, report
from tests.faults.processes import rss_kib

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SOAK_SECONDS = float(os.environ.get("FAULTS_SOAK_SECONDS", "75"))
WARMUP_FRACTION = 0.3
RSS_TOLERANCE_KIB = 8 * 1024
CONCURRENCY = 4


def test_soak(model_server, gateway_factory, cases, references):
    gateway = gateway_factory()
    workers = gateway.workers()
    driver = LoadDriver(gateway.url, cases.request, concurrency=CONCURRENCY, max_requests=10_000_000,
                        max_seconds=SOAK_SECONDS, request_timeout=30,
                        label=f"6 soak {SOAK_SECONDS:g} s x {CONCURRENCY} clients")
    samples: list[tuple[float, dict[int, int]]] = []
    with driver:
        started = time.monotonic()
        while not driver.done():
            samples.append((time.monotonic() - started, {pid: rss_kib(pid) for pid in workers}))
            time.sleep(1.0)  # the sampling interval of the memory curve
    figures = report(driver)

    assert figures.failed == 0 and figures.errors == {}, figures.line()
    assert cases.all_problems(driver.outcomes(), references) == []
    assert gateway.workers() == workers

    settled = [rss for at, rss in samples if at >= SOAK_SECONDS * WARMUP_FRACTION]
    assert len(settled) >= 10, f"only {len(settled)} memory samples after warm-up"
    growth = {}
    for pid in workers:
        curve = [rss[pid] for rss in settled]
        growth[pid] = max(curve) - curve[0]
        note(f"[6 soak] worker {pid}: RSS after warm-up {curve[0] / 1024:.1f} MiB, "
              f"peak {max(curve) / 1024:.1f} MiB, end {curve[-1] / 1024:.1f} MiB, "
              f"growth {growth[pid] / 1024:.2f} MiB (tolerance {RSS_TOLERANCE_KIB / 1024:g} MiB); "
              f"{figures.sent / figures.seconds:.0f} requests/s")
    assert all(g <= RSS_TOLERANCE_KIB for g in growth.values()), growth
