"""The benchmark's knobs: one frozen dataclass read from `BENCH_*` environment variables.

Defaults keep a whole `make bench` near fifteen minutes on two cores: 32 cells, each a
median of 3 runs of a 1 s warm-up and 5 s of load (shared machines are noisy: medians,
never single runs), plus training and server start-ups. Every value is checked
before anything starts; a bad one is one line naming the variable.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "BENCH_"
SERVERS = ("a", "b", "c", "d")
SERVER_NAMES = {
    "a": "gateway end to end",
    "b": "backend alone (gRPC client)",
    "c": "in-process SavedModel (Flask + gunicorn)",
    "d": "tutorial (Flask + model.predict)",
}
MODELS = ("digits", "wide")
ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A `BENCH_*` variable holds a value the benchmark cannot run with."""


@dataclass(frozen=True)
class BenchConfig:
    """What to measure, for how long, and where the output goes."""

    duration_seconds: float = 5.0
    warmup_seconds: float = 1.0
    repeats: int = 3
    concurrency: tuple[int, ...] = (1, 32)
    instances: tuple[int, ...] = (1, 32)
    models: tuple[str, ...] = MODELS
    servers: tuple[str, ...] = SERVERS
    out_dir: Path = ROOT / "bench" / "out"
    results_dir: Path = ROOT / "bench"
    retrain: bool = False
    baseline_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    baseline_threads: int = 1
    grpc_processes: int = 2
    wrk_threads: int = 1
    # The local model server as make bench runs it: without batching, which measured best
    # on 2 CPUs (README "Performance", tuning). With bench/batching_cpu.config (timeout 0,
    # one batch thread), gateway instances/s at concurrency 32 were 9-18% lower in every
    # cell: each Session call costs ~0.1 ms, less than the hand-offs between the threads
    # that wait for their rows. BENCH_MODEL_SERVER_ARGS="--enable_batching
    # --batching_parameters_file bench/batching_cpu.config" measures with it.
    model_server_args: tuple[str, ...] = ()
    gateway_args: tuple[str, ...] = ()  # extra gunicorn flags, for experiments (e.g. -k gthread)
    request_timeout_seconds: float = 30.0
    sample_interval_seconds: float = 0.5

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BenchConfig:
        """Read every `BENCH_*` variable of `environ` (default: os.environ); ConfigError if bad."""
        env = os.environ if environ is None else environ
        known = {f"{PREFIX}{name.upper()}" for name in _PARSERS}
        for name in sorted(k for k in env if k.startswith(PREFIX)):
            if name not in known:
                raise ConfigError(f"{name} is not a benchmark setting (known: {', '.join(sorted(known))})")
        values = {}
        for name, parse in _PARSERS.items():
            var = f"{PREFIX}{name.upper()}"
            if var in env:
                values[name] = parse(var, env[var])
        return cls(**values)

    def cells(self) -> list[tuple[str, int, int]]:
        """(model, concurrency, instances) of every cell, in run order."""
        return [(m, c, n) for m in self.models for c in self.concurrency for n in self.instances]


def _number(kind: type, low: float, high: float):
    def parse(var: str, raw: str):
        try:
            value = kind(raw.strip())
        except ValueError:
            raise ConfigError(f"{var}={raw!r}: expected a number between {low:g} and {high:g}") from None
        if not low <= value <= high:
            raise ConfigError(f"{var}={raw!r}: expected a number between {low:g} and {high:g}")
        return value

    return parse


def _int_list(low: int, high: int):
    def parse(var: str, raw: str) -> tuple[int, ...]:
        items = [p.strip() for p in raw.split(",") if p.strip()]
        try:
            values = tuple(int(p) for p in items)
        except ValueError:
            raise ConfigError(f"{var}={raw!r}: expected comma-separated integers") from None
        if not values or any(not low <= v <= high for v in values):
            raise ConfigError(f"{var}={raw!r}: expected integers between {low} and {high}")
        return values

    return parse


def _choices(allowed: tuple[str, ...]):
    def parse(var: str, raw: str) -> tuple[str, ...]:
        values = tuple(p.strip() for p in raw.split(",") if p.strip())
        bad = [v for v in values if v not in allowed]
        if not values or bad:
            raise ConfigError(f"{var}={raw!r}: expected a comma-separated subset of {','.join(allowed)}")
        return tuple(v for v in allowed if v in values)

    return parse


def _bool(var: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no", ""):
        return False
    raise ConfigError(f"{var}={raw!r}: expected 1 or 0")


def _path(var: str, raw: str) -> Path:
    if not raw.strip():
        raise ConfigError(f"{var} is empty: expected a folder")
    return Path(raw.strip()).resolve()


def _args(var: str, raw: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(raw))
    except ValueError as exc:
        raise ConfigError(f"{var}={raw!r}: {exc}") from None


_PARSERS = {
    "duration_seconds": _number(float, 0.5, 3600),
    "warmup_seconds": _number(float, 0, 600),
    "repeats": _number(int, 1, 20),
    "concurrency": _int_list(1, 1024),
    "instances": _int_list(1, 256),
    "models": _choices(MODELS),
    "servers": _choices(SERVERS),
    "out_dir": _path,
    "results_dir": _path,
    "retrain": _bool,
    "baseline_workers": _number(int, 1, 64),
    "baseline_threads": _number(int, 1, 256),
    "grpc_processes": _number(int, 1, 64),
    "wrk_threads": _number(int, 1, 64),
    "model_server_args": _args,
    "gateway_args": _args,
    "request_timeout_seconds": _number(float, 1, 600),
    "sample_interval_seconds": _number(float, 0.05, 10),
}
