"""Cell (b): the model server alone, driven through our own `TFServingClient`.

A closed loop like wrk's: `concurrency` callers, each sending its next request as soon as
the previous one is answered, spread over a few processes (one Python process cannot
keep 32 callers busy: the GIL) with threads in each. Every process opens its own
channel, does one call to connect, then all start together: a warm-up, then the
measured window. A request counts if it completes inside the window (as in wrk); its
latency is taken around `TFServingClient.predict`, so the gateway's overhead is the
difference between cell (a) and this one.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from dataclasses import dataclass
from queue import Empty

import numpy as np

from bench.measure import Measurement, from_latencies

_START_DELAY_SECONDS = 0.2


@dataclass(frozen=True)
class LoadSpec:
    """What every caller sends: `inputs` to `model` version `version` at `address`."""

    address: str
    model: str
    version: int
    inputs: dict[str, np.ndarray]
    deadline_seconds: float = 30.0


def split(concurrency: int, processes: int) -> list[int]:
    """Callers per process: `concurrency` spread as evenly as possible, no empty process."""
    processes = max(1, min(processes, concurrency))
    base, extra = divmod(concurrency, processes)
    return [base + (1 if i < extra else 0) for i in range(processes)]


def run_load(
    spec: LoadSpec,
    *,
    concurrency: int,
    warmup_seconds: float,
    duration_seconds: float,
    processes: int = 2,
) -> Measurement:
    """Drive `spec` with `concurrency` closed-loop callers; measure `duration_seconds`."""
    ctx = mp.get_context("spawn")  # gRPC's state does not survive fork
    ready = ctx.Queue()
    results = ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    procs = [
        ctx.Process(
            target=_process_main,
            args=(spec, threads, warmup_seconds, duration_seconds, ready, results, go, start_at),
            daemon=True,
        )
        for threads in split(concurrency, processes)
    ]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            status = _get(ready, procs, timeout=120)
            if status != "ok":
                raise RuntimeError(f"a load process could not reach the model server: {status}")
        start_at.value = time.time() + _START_DELAY_SECONDS
        go.set()
        budget = _START_DELAY_SECONDS + warmup_seconds + duration_seconds + spec.deadline_seconds + 60
        latencies, errors = [], 0
        for _ in procs:
            lat, err = _get(results, procs, timeout=budget)
            latencies.append(lat)
            errors += err
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    return from_latencies(np.concatenate(latencies), errors, duration_seconds)


def _get(queue, procs, timeout: float):
    """The next item of `queue`; RuntimeError if a load process died or time ran out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return queue.get(timeout=0.5)
        except Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(
                    f"a load process exited with {dead[0].exitcode} (a script that uses "
                    "bench.grpc_load needs `if __name__ == '__main__':`)"
                ) from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer from the load processes within {timeout:g}s") from None


def _process_main(spec, threads, warmup_seconds, duration_seconds, ready, results, go, start_at):
    from serving.gateway.grpc_client import TFServingClient

    client = TFServingClient(spec.address, deadline_seconds=spec.deadline_seconds, retries=0)
    try:
        client.predict(spec.model, spec.inputs, spec.version)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the cell
        ready.put(f"{type(exc).__name__}: {exc}")
        return
    ready.put("ok")
    go.wait()
    begin = start_at.value + warmup_seconds
    end = begin + duration_seconds
    per_thread: list[tuple[list[float], int]] = [([], 0) for _ in range(threads)]

    def caller(slot: int) -> None:
        lat: list[float] = []
        errors = 0
        delay = start_at.value - time.time()
        if delay > 0:
            time.sleep(delay)
        while True:
            t0 = time.perf_counter()
            if time.time() >= end:
                break
            ok = True
            try:
                client.predict(spec.model, spec.inputs, spec.version)
            except Exception:  # noqa: BLE001 - counted, like wrk's errors
                ok = False
            elapsed = time.perf_counter() - t0
            done = time.time()
            if begin <= done < end:
                lat.append(elapsed)
                errors += not ok
        per_thread[slot] = (lat, errors)

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    client.close()
    lat = np.array([x for lats, _ in per_thread for x in lats], dtype=np.float64)
    results.put((lat, sum(e for _, e in per_thread)))
