"""One measured run of one cell, whatever drove it (wrk or the gRPC load driver)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Measurement:
    """Closed-loop load for `duration_seconds`: completed requests, errors, latency in ms."""

    requests: int
    errors: int
    duration_seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @property
    def requests_per_second(self) -> float:
        """Completed requests (errors included, as wrk counts them) per second."""
        return self.requests / self.duration_seconds if self.duration_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly fields plus requests/s."""
        out = asdict(self)
        out["requests_per_second"] = self.requests_per_second
        return out


def from_latencies(latencies_s: np.ndarray, errors: int, duration_seconds: float) -> Measurement:
    """A Measurement from every request's latency in seconds (the gRPC driver's way).

    Percentiles are the nearest-rank ones wrk's histogram gives (no interpolation).
    """
    lat = np.sort(np.asarray(latencies_s, dtype=np.float64)) * 1000.0
    if lat.size == 0:
        return Measurement(0, errors, duration_seconds, *([float("nan")] * 5))

    def pct(q: float) -> float:
        rank = max(int(np.ceil(q / 100.0 * lat.size)) - 1, 0)
        return float(lat[rank])

    return Measurement(
        requests=int(lat.size),
        errors=int(errors),
        duration_seconds=float(duration_seconds),
        p50_ms=pct(50),
        p90_ms=pct(90),
        p99_ms=pct(99),
        mean_ms=float(lat.mean()),
        max_ms=float(lat[-1]),
    )
