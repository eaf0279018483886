"""Latency percentiles of the gRPC driver: nearest rank, like wrk's histogram."""

from __future__ import annotations

import math

import numpy as np

from bench.measure import from_latencies


def test_nearest_rank_percentiles_in_ms():
    latencies = np.arange(1, 101) / 1000.0  # 1..100 ms, shuffled
    m = from_latencies(np.random.default_rng(0).permutation(latencies), errors=2, duration_seconds=4.0)
    assert m.requests == 100 and m.errors == 2
    assert (m.p50_ms, m.p90_ms, m.p99_ms, m.max_ms) == (50.0, 90.0, 99.0, 100.0)
    assert math.isclose(m.mean_ms, 50.5)
    assert m.requests_per_second == 25.0
    assert m.as_dict()["requests_per_second"] == 25.0


def test_a_single_request_is_every_percentile():
    m = from_latencies(np.array([0.002]), errors=0, duration_seconds=1.0)
    assert m.p50_ms == m.p99_ms == m.max_ms == 2.0


def test_no_request_gives_no_latency():
    m = from_latencies(np.array([]), errors=3, duration_seconds=2.0)
    assert m.requests == 0 and m.errors == 3 and m.requests_per_second == 0.0
    assert math.isnan(m.p50_ms)
