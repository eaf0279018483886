"""CPU per predict body of the gateway's parsing: the orjson path against the numeric fast path.

`python -m bench.parse_speed` times `parse_predict_body` + `to_raw_batch` (thread CPU
time per call, median of repeats) for digits (8×8×1, integers 0-16) and wide (28×28×1,
integers 0-255) bodies of 1 and 32 instances, and a flat list of 64 small numbers (the
kind of body below `numeric_json.MIN_BODY_BYTES`): once with the fast path switched off
(threshold raised past every body) and once with it on for every size (threshold 0),
checking that both give the same array.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import orjson

from protogen.contract.serving_metadata_pb2 import InputSpec
from serving.gateway import numeric_json
from serving.gateway.instances import parse_predict_body, to_raw_batch

CASES = [
    ("digits", (8, 8, 1), 16, 1),
    ("digits", (8, 8, 1), 16, 32),
    ("wide", (28, 28, 1), 255, 1),
    ("wide", (28, 28, 1), 255, 32),
    ("flat", (64,), 16, 1),
]


def body(shape: tuple[int, ...], high: int, count: int) -> bytes:
    """A predict body of `count` random integer instances nested in `shape`."""
    values = np.random.default_rng(0).integers(0, high + 1, size=(count, *shape))
    return orjson.dumps({"instances": values.tolist()})


def cpu_per_call(fn, calls: int, repeats: int = 15) -> float:
    """Median over `repeats` of the thread CPU seconds per call of `fn`."""
    fn()
    samples = []
    for _ in range(repeats):
        start = time.thread_time()
        for _ in range(calls):
            fn()
        samples.append((time.thread_time() - start) / calls)
    return statistics.median(samples)


def main() -> None:
    threshold = numeric_json.MIN_BODY_BYTES
    print(f"fast path used from {threshold} bytes; thread CPU per call, median of 15 repeats")
    print()
    print("| model | instances | body bytes | orjson path µs | fast path µs | speed-up |")
    print("|---|---|---|---:|---:|---:|")
    for name, shape, high, count in CASES:
        spec = InputSpec(name="x", kind=InputSpec.IMAGE)
        spec.shape.extend(shape)
        data = body(shape, high, count)

        def run(data=data, spec=spec):
            parsed = parse_predict_body(data, max_instances=64)
            return to_raw_batch(parsed.instances, spec, 1 << 20)

        calls = max(20, 200_000 // len(data))
        numeric_json.MIN_BODY_BYTES = sys.maxsize
        slow = cpu_per_call(run, calls)
        expected = run()
        numeric_json.MIN_BODY_BYTES = 0
        fast = cpu_per_call(run, calls)
        np.testing.assert_array_equal(run(), expected)
        numeric_json.MIN_BODY_BYTES = threshold
        print(
            f"| {name} | {count} | {len(data)} | {slow * 1e6:.1f} | {fast * 1e6:.1f} "
            f"| {slow / fast:.1f}× |"
        )


if __name__ == "__main__":
    main()
