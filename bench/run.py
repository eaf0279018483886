"""`python -m bench` (what `make bench` runs): every cell, then the report.

One server stack runs at a time, so the cells of one server never share the CPUs with
another's idle threads: the model server (cells b, then a with the gateway in front of
it), then baseline (c), then baseline (d). Each stack is warmed up with one request per
model before its cells; each cell gets a `wrk` (or gRPC) warm-up of its own first.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

from bench import grpc_load, memory, models, payloads, report, servers
from bench.config import ROOT, BenchConfig, ConfigError
from bench.wrk import run_wrk
from contract import load_metadata


def log(message: str) -> None:
    """Progress on stderr, one line each, with the time."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_before": load_average(),
        "commit": _commit(),
    }


def _commit() -> str:
    """The checkout's commit (with "+changes" if files differ from it), for the record."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as uptime prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


class CpuMeter:
    """CPU time the processes of each group use during a `with` block (gone ones excluded)."""

    def __init__(self, groups):
        self.groups = groups
        self.used: dict[str, float] = {}
        self.wall = 0.0

    def __enter__(self) -> Self:
        self._start = {name: servers.cpu_seconds(pids()) for name, pids in self.groups.items()}
        self._t0 = time.monotonic()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall = time.monotonic() - self._t0
        self.used = {name: servers.cpu_seconds(pids()) - self._start[name] for name, pids in self.groups.items()}

    def attach(self, m, seconds: float | None = None) -> dict[str, Any]:
        """The measurement as a dict, with CPU ms per request of each group.

        The CPU of the whole block is spread over the requests that completed in its
        measured `seconds` (default: the block's duration) scaled to the whole block.
        """
        out = m.as_dict()
        rate = m.requests_per_second * (seconds if seconds is not None else self.wall)
        out["cpu_ms_per_request"] = {k: 1000 * v / rate if rate > 0 else float("nan") for k, v in self.used.items()}
        return out


class Bench:
    """One benchmark run: models, bodies, the servers' cells, memory."""

    def __init__(self, cfg: BenchConfig):
        self.cfg = cfg
        self.logs = cfg.out_dir / "logs"
        self.cells: list[dict[str, Any]] = []
        self.memory: dict[str, dict[str, Any]] = {}
        self.models_dir = models.prepare(cfg.models, cfg.out_dir, cfg.retrain, log)
        self.meta = {}
        self.raw = {}
        self.bodies: dict[tuple[str, int], Path] = {}
        body_dir = cfg.out_dir / "bodies"
        body_dir.mkdir(parents=True, exist_ok=True)
        for name in cfg.models:
            version_dir = models.newest_version(self.models_dir, name)
            self.meta[name] = load_metadata(version_dir)
            for n in cfg.instances:
                raw = payloads.raw_instances(self.meta[name], n, seed=n)
                self.raw[(name, n)] = raw
                path = body_dir / f"{name}_{n}.json"
                path.write_bytes(payloads.predict_body(raw))
                self.bodies[(name, n)] = path

    # -- cells ---------------------------------------------------------------------------

    def http_cells(self, server_id: str, server: servers.Server, busy_pids, cpu_groups) -> None:
        """Every cell of an HTTP server (a, c or d), driven by wrk.

        After every wrk run, wait until `busy_pids()` are idle: requests a stopped wrk left
        queued in the server must not be served during the next run. `cpu_groups` (name →
        pids) are the processes whose CPU time per request is reported.
        """
        for model, conc, n in self.cfg.cells():
            url = f"http://127.0.0.1:{server.port}/v1/models/{model}:predict"
            body = self.bodies[(model, n)]
            runs = []
            for _ in range(self.cfg.repeats):
                if self.cfg.warmup_seconds > 0:
                    run_wrk(url, body, concurrency=conc, duration_seconds=self.cfg.warmup_seconds,
                            threads=self.cfg.wrk_threads, timeout_seconds=self.cfg.request_timeout_seconds)
                    servers.wait_quiet(busy_pids)
                with CpuMeter(cpu_groups) as cpu:
                    m = run_wrk(url, body, concurrency=conc, duration_seconds=self.cfg.duration_seconds,
                                threads=self.cfg.wrk_threads,
                                timeout_seconds=self.cfg.request_timeout_seconds)
                runs.append(cpu.attach(m))
                servers.wait_quiet(busy_pids)
                server.check_alive()
            self._record(server_id, model, conc, n, runs)

    def grpc_cells(self, server: servers.Server, versions: dict[str, int]) -> None:
        """Every cell of (b): the model server through our TFServingClient."""
        for model, conc, n in self.cfg.cells():
            meta = self.meta[model]
            spec = grpc_load.LoadSpec(
                address=f"127.0.0.1:{server.port}",
                model=model,
                version=versions[model],
                inputs={meta.input.name: payloads.backend_batch(self.raw[(model, n)], meta)},
                deadline_seconds=self.cfg.request_timeout_seconds,
            )
            runs = []
            for _ in range(self.cfg.repeats):
                # The warm-up is inside run_load: the meter's total includes it, so the
                # per-request CPU of (b) is over warm-up and measured requests alike.
                with CpuMeter({"model_server": lambda: [server.pid]}) as cpu:
                    m = grpc_load.run_load(spec, concurrency=conc, warmup_seconds=self.cfg.warmup_seconds,
                                           duration_seconds=self.cfg.duration_seconds,
                                           processes=self.cfg.grpc_processes)
                runs.append(cpu.attach(m, seconds=self.cfg.warmup_seconds + self.cfg.duration_seconds))
            server.check_alive()
            self._record("b", model, conc, n, runs)

    def _record(self, server_id: str, model: str, conc: int, n: int, runs: list[dict]) -> None:
        median = report.median_of_runs(runs, n)
        self.cells.append({"server": server_id, "model": model, "concurrency": conc, "instances": n,
                           "runs": runs, "median": median})
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in median.get("cpu_ms_per_request", {}).items())
        log(f"({server_id}) {model} c={conc} n={n}: {median['requests_per_second']:,.0f} req/s, "
            f"{median['instances_per_second']:,.0f} inst/s, p50 {median['p50_ms']:.2f} ms, "
            f"p99 {median['p99_ms']:.2f} ms, errors {median['errors']}; CPU ms/request: {cpu}")

    # -- server stacks -------------------------------------------------------------------

    def warm_http(self, server: servers.Server) -> None:
        """Wait until `server` answers a predict for every model."""
        for model in self.cfg.models:
            servers.wait_http(server, f"/v1/models/{model}:predict", self.bodies[(model, self.cfg.instances[0])].read_bytes())

    def run_backend_stack(self) -> None:
        """The model server: cells (b), then the gateway in front of it: cells (a)."""
        ms = servers.start_model_server(self.models_dir / "models.config", self.logs, self.cfg.model_server_args)
        try:
            versions = servers.wait_model_server(ms, self.cfg.models)
            log(f"model server up on :{ms.port} (pid {ms.pid}), versions {versions}")
            ms_idle = memory.summarize({ms.pid: memory.read_memory(ms.pid)})
            ms_peaks: dict[int, memory.Memory] = {}
            if "b" in self.cfg.servers:
                with memory.PeakSampler({"ms": lambda: [ms.pid]}, self.cfg.sample_interval_seconds) as s:
                    self.grpc_cells(ms, versions)
                ms_peaks.update(s.peaks()["ms"])
            if "a" in self.cfg.servers:
                self.run_gateway(ms, ms_peaks)
            self.memory["model_server"] = {"idle": ms_idle, "loaded": memory.summarize(ms_peaks)}
        finally:
            ms.stop()

    def run_gateway(self, ms: servers.Server, ms_peaks: dict[int, memory.Memory]) -> None:
        """Cells (a): the production gateway over the running model server."""
        gw = servers.start_gateway(ms.port, self.models_dir, self.logs, self.cfg.gateway_args)
        try:
            self.warm_http(gw)
            workers = gw.workers()
            log(f"gateway up on :{gw.port} (master {gw.pid}, workers {workers})")
            idle = memory.summarize({pid: memory.read_memory(pid) for pid in workers})
            groups = {"gw": gw.workers, "ms": lambda: [ms.pid]}
            with memory.PeakSampler(groups, self.cfg.sample_interval_seconds) as s:
                self.http_cells("a", gw, lambda: [gw.pid, *gw.workers(), ms.pid],
                                {"gateway": lambda: [gw.pid, *gw.workers()], "model_server": lambda: [ms.pid]})
            peaks = s.peaks()
            for pid, mem in peaks["ms"].items():
                old = ms_peaks.get(pid)
                ms_peaks[pid] = mem if old is None else memory.Memory(
                    max(old.rss_mb, mem.rss_mb), max(old.pss_mb, mem.pss_mb))
            self.memory["gateway_workers"] = {"idle": idle, "loaded": memory.summarize(peaks["gw"])}
            self.memory["gateway_master"] = {"idle": memory.summarize({gw.pid: memory.read_memory(gw.pid)})}
        finally:
            gw.stop()

    def run_baseline(self, server_id: str, kind: str) -> None:
        """Cells (c) or (d): an in-process baseline under gunicorn."""
        srv = servers.start_baseline(kind, self.models_dir, self.cfg.models, self.cfg.baseline_workers,
                                     self.cfg.baseline_threads, self.logs)
        try:
            self.warm_http(srv)
            log(f"baseline {kind} up on :{srv.port} (workers {srv.workers()})")
            with memory.PeakSampler({"w": srv.workers}, self.cfg.sample_interval_seconds) as s:
                self.http_cells(server_id, srv, lambda: [srv.pid, *srv.workers()],
                                {"server": lambda: [srv.pid, *srv.workers()]})
            self.memory[f"baseline_{kind}_workers"] = {"loaded": memory.summarize(s.peaks()["w"])}
        finally:
            srv.stop()


def run(cfg: BenchConfig) -> dict[str, Any]:
    """Run every configured cell and return the results document."""
    info = machine()
    started = datetime.datetime.now(datetime.UTC)
    log(f"{info['nproc']} CPUs ({info['cpu_model']}), load average {info['load_before']}")
    bench = Bench(cfg)
    if "a" in cfg.servers or "b" in cfg.servers:
        bench.run_backend_stack()
    if "c" in cfg.servers:
        bench.run_baseline("c", "savedmodel")
    if "d" in cfg.servers:
        bench.run_baseline("d", "tutorial")
    info["load_after"] = load_average()
    try:
        info["tensorflow"] = importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        info["tensorflow"] = "not installed"
    results: dict[str, Any] = {
        "machine": info,
        "config": {
            "duration_seconds": cfg.duration_seconds,
            "warmup_seconds": cfg.warmup_seconds,
            "repeats": cfg.repeats,
            "concurrency": list(cfg.concurrency),
            "instances": list(cfg.instances),
            "models": list(cfg.models),
            "servers": list(cfg.servers),
            "grpc_processes": cfg.grpc_processes,
            "wrk_threads": cfg.wrk_threads,
            "baseline_workers": cfg.baseline_workers,
            "baseline_threads": cfg.baseline_threads,
            "model_server_args": list(cfg.model_server_args),
            "gateway_args": list(cfg.gateway_args),
            "gateway_env": {k: v for k, v in os.environ.items() if k.startswith("GATEWAY_")},
        },
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cells": bench.cells,
        "memory": bench.memory,
    }
    results["ratios"] = report.ratios(bench.cells)
    targets = report.evaluate_targets(bench.cells, bench.memory)
    results["targets"] = [{"name": t.name, "status": t.status, "detail": t.detail, "line": t.line()} for t in targets]
    return results


def main() -> int:
    """Run the benchmark, write the outputs, print the headline and the targets."""
    try:
        cfg = BenchConfig.from_env()
    except ConfigError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    try:
        results = run(cfg)
    except (servers.ServerError, models.ModelError, RuntimeError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    paths = report.write_outputs(results, cfg.results_dir)
    if cfg.results_dir == ROOT / "bench" and report.update_readme(ROOT / "README.md", results):
        paths.append(ROOT / "README.md")  # the committed results: the README shows them too
    print(report.markdown(results))
    print("Wrote " + ", ".join(str(p) for p in paths))
    return 0
