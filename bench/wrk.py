"""Drive an HTTP cell with `wrk` and `bench/body.lua`; parse the line the script prints."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from bench.measure import Measurement

LUA_SCRIPT = Path(__file__).resolve().parent / "body.lua"
RESULT_MARKER = "BENCH_RESULT "


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no result."""


def wrk_command(
    url: str,
    body_file: Path,
    *,
    concurrency: int,
    duration_seconds: float,
    threads: int = 1,
    timeout_seconds: float = 30.0,
    wrk: str = "wrk",
) -> list[str]:
    """The wrk command line of one run: `concurrency` connections, closed loop."""
    threads = max(1, min(threads, concurrency))
    return [
        wrk,
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{max(1, round(duration_seconds))}s",
        f"--timeout={max(1, round(timeout_seconds))}s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(body_file),
    ]


def parse_output(stdout: str) -> Measurement:
    """The Measurement in wrk's output (the line body.lua's `done` prints)."""
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            doc = json.loads(line[len(RESULT_MARKER) :])
            break
    else:
        raise WrkError(f"wrk printed no result line; its output was:\n{stdout[-2000:]}")
    lat = doc["latency_us"]
    duration = doc["duration_us"] / 1e6
    errors = sum(int(v) for v in doc["errors"].values())
    return Measurement(
        requests=int(doc["requests"]),
        errors=errors,
        duration_seconds=duration,
        p50_ms=lat["p50"] / 1000.0,
        p90_ms=lat["p90"] / 1000.0,
        p99_ms=lat["p99"] / 1000.0,
        mean_ms=lat["mean"] / 1000.0,
        max_ms=lat["max"] / 1000.0,
    )


def run_wrk(
    url: str,
    body_file: Path,
    *,
    concurrency: int,
    duration_seconds: float,
    threads: int = 1,
    timeout_seconds: float = 30.0,
) -> Measurement:
    """Run wrk once against `url`, POSTing `body_file`; WrkError if it cannot."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkError("wrk is not installed (make bench installs it: apt-get install wrk)")
    cmd = wrk_command(
        url,
        body_file,
        concurrency=concurrency,
        duration_seconds=duration_seconds,
        threads=threads,
        timeout_seconds=timeout_seconds,
        wrk=wrk,
    )
    proc = subprocess.run(
        cmd, check=False, capture_output=True, text=True, timeout=duration_seconds + timeout_seconds + 30
    )
    if proc.returncode != 0:
        raise WrkError(f"wrk exited with {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return parse_output(proc.stdout)
