"""From measured runs to the headline: medians, ratios against the baselines, the issue's
targets as PASS/FAIL lines, and the committed outputs (results.json, .md, .png)."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import SERVER_NAMES

# The targets of the issue ("Targets", checked from make bench output).
MIN_RATIO_VS_C = 1.0
MIN_RATIO_VS_D_AT_32 = 50.0
MAX_OVERHEAD_P50_MS = 0.5
MAX_IDLE_WORKER_RSS_MB = 120.0
HIGH_CONCURRENCY = 32

_METRICS = ("requests_per_second", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms")


def median_of_runs(runs: list[dict[str, Any]], instances: int) -> dict[str, Any]:
    """The median of each metric over repeated runs of one cell; errors are summed."""
    out: dict[str, Any] = {m: statistics.median(r[m] for r in runs) for m in _METRICS}
    out["instances_per_second"] = out["requests_per_second"] * instances
    out["errors"] = sum(int(r["errors"]) for r in runs)
    out["requests"] = sum(int(r["requests"]) for r in runs)
    out["runs"] = len(runs)
    groups = sorted({g for r in runs for g in r.get("cpu_ms_per_request", {})})
    if groups:
        out["cpu_ms_per_request"] = {
            g: statistics.median(r["cpu_ms_per_request"][g] for r in runs if g in r.get("cpu_ms_per_request", {}))
            for g in groups
        }
    return out


def cell_key(cell: dict[str, Any]) -> tuple[str, int, int]:
    """(model, concurrency, instances) of a cell."""
    return cell["model"], int(cell["concurrency"]), int(cell["instances"])


def index(cells: list[dict[str, Any]]) -> dict[tuple[str, tuple[str, int, int]], dict[str, Any]]:
    """(server, cell key) → the cell's median metrics."""
    return {(c["server"], cell_key(c)): c["median"] for c in cells}


def _div(a: float, b: float) -> float:
    """a / b, infinite when b is 0 (a baseline that completed nothing)."""
    return a / b if b > 0 else float("inf")


def ratios(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per cell: the gateway's instances/s over (b), (c) and (d)'s, and the p50 overhead."""
    by = index(cells)
    keys = sorted({cell_key(c) for c in cells if c["server"] == "a"})
    out = []
    for key in keys:
        a = by[("a", key)]
        row: dict[str, Any] = {"model": key[0], "concurrency": key[1], "instances": key[2]}
        for other in ("b", "c", "d"):
            o = by.get((other, key))
            if o and o["instances_per_second"] > 0:
                row[f"vs_{other}"] = a["instances_per_second"] / o["instances_per_second"]
        b = by.get(("b", key))
        if b:
            row["overhead_p50_ms"] = a["p50_ms"] - b["p50_ms"]
        out.append(row)
    return out


@dataclass(frozen=True)
class Target:
    """One target of the issue, evaluated: PASS, FAIL, or SKIP (not measured this run)."""

    name: str
    status: str
    detail: str

    def line(self) -> str:
        """`PASS  name: detail`."""
        return f"{self.status:<4}  {self.name}: {self.detail}"


def evaluate_targets(cells: list[dict[str, Any]], memory: dict[str, Any]) -> list[Target]:
    """The four targets of the issue against this run's medians."""
    by = index(cells)
    keys = sorted({cell_key(c) for c in cells if c["server"] == "a"})
    targets = []

    pairs = [(k, by[("a", k)], by[("c", k)]) for k in keys if ("c", k) in by]
    if pairs:
        worst = min(pairs, key=lambda p: _div(p[1]["instances_per_second"], p[2]["instances_per_second"]))
        ratio = _div(worst[1]["instances_per_second"], worst[2]["instances_per_second"])
        ok = all(a["instances_per_second"] >= MIN_RATIO_VS_C * c["instances_per_second"] for _, a, c in pairs)
        targets.append(Target(
            f"gateway >= {MIN_RATIO_VS_C:g}x in-process (c) in instances/s in every cell",
            "PASS" if ok else "FAIL",
            f"worst {ratio:.2f}x at {_cell(worst[0])}; "
            f"{sum(a['instances_per_second'] >= c['instances_per_second'] for _, a, c in pairs)}"
            f"/{len(pairs)} cells pass",
        ))
        high = [(k, a, c) for k, a, c in pairs if k[1] == HIGH_CONCURRENCY]
        if high:
            bad = [(k, a, c) for k, a, c in high if a["p99_ms"] > c["p99_ms"]]
            shown = bad[0] if bad else max(high, key=lambda p: _div(p[1]["p99_ms"], p[2]["p99_ms"]))
            targets.append(Target(
                f"gateway p99 <= in-process (c) p99 at concurrency {HIGH_CONCURRENCY}",
                "FAIL" if bad else "PASS",
                f"{len(high) - len(bad)}/{len(high)} cells pass; e.g. {_cell(shown[0])}: "
                f"{shown[1]['p99_ms']:.1f} ms vs {shown[2]['p99_ms']:.1f} ms",
            ))
    else:
        targets.append(Target("gateway vs in-process (c)", "SKIP", "(a) or (c) not measured"))

    high_d = [(k, by[("a", k)], by[("d", k)]) for k in keys if k[1] == HIGH_CONCURRENCY and ("d", k) in by]
    if high_d:
        worst = min(high_d, key=lambda p: _div(p[1]["instances_per_second"], p[2]["instances_per_second"]))
        ratio = _div(worst[1]["instances_per_second"], worst[2]["instances_per_second"])
        targets.append(Target(
            f"gateway >= {MIN_RATIO_VS_D_AT_32:g}x tutorial (d) at concurrency {HIGH_CONCURRENCY}",
            "PASS" if ratio >= MIN_RATIO_VS_D_AT_32 else "FAIL",
            f"worst {ratio:.0f}x at {_cell(worst[0])}",
        ))
    else:
        targets.append(Target("gateway vs tutorial (d)", "SKIP", "(a) or (d) at concurrency 32 not measured"))

    key = ("digits", 1, 1)
    if ("a", key) in by and ("b", key) in by:
        overhead = by[("a", key)]["p50_ms"] - by[("b", key)]["p50_ms"]
        targets.append(Target(
            f"gateway overhead (p50 of a - b) <= {MAX_OVERHEAD_P50_MS:g} ms, one digits instance, concurrency 1",
            "PASS" if overhead <= MAX_OVERHEAD_P50_MS else "FAIL",
            f"{overhead:.3f} ms ({by[('a', key)]['p50_ms']:.3f} - {by[('b', key)]['p50_ms']:.3f})",
        ))
    else:
        targets.append(Target("gateway overhead", "SKIP", "(a) or (b) digits/1/1 not measured"))

    idle = memory.get("gateway_workers", {}).get("idle", {})
    if idle:
        rss = idle["max_rss_mb"]
        targets.append(Target(
            f"gateway worker idle RSS <= {MAX_IDLE_WORKER_RSS_MB:g} MB",
            "PASS" if rss <= MAX_IDLE_WORKER_RSS_MB else "FAIL",
            f"{rss:.1f} MB (largest of {idle['processes']} workers)",
        ))
    else:
        targets.append(Target("gateway worker idle RSS", "SKIP", "gateway not measured"))
    return targets


def _cell(key: tuple[str, int, int]) -> str:
    model, conc, inst = key
    return f"{model}, concurrency {conc}, {inst} instance{'s' if inst > 1 else ''}/request"


def markdown(results: dict[str, Any]) -> str:
    """results.md: the machine, the table of medians with ratios, memory, targets."""
    m = results["machine"]
    cfg = results["config"]
    lines = [
        "# `make bench` results",
        "",
        (
            f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gb']:.1f} GB memory, "
            f"Python {m['python']}, TensorFlow {m.get('tensorflow', '?')}; load average "
            f"{m['load_before']} before the run, {m.get('load_after', '?')} after. "
            f"Finished {results['finished_at']}, commit {m.get('commit', '?')}."
        ),
        "",
        (
            f"Each cell: {cfg['warmup_seconds']:g} s warm-up, then {cfg['duration_seconds']:g} s "
            f"of closed-loop load, median of {cfg['repeats']} run(s). Load generator on the same "
            f"machine: wrk (HTTP cells), our TFServingClient in {cfg['grpc_processes']} "
            "processes (b)."
        ),
        "",
        "Servers: " + "; ".join(f"({k}) {v}" for k, v in SERVER_NAMES.items() if k in cfg["servers"]) + ".",
        "",
        "CPU ms/req: CPU time of the server's processes per request (gateway + model server for a).",
        "",
        (
            "| model | conc. | inst./req | server | req/s | inst/s | p50 ms | p90 ms | p99 ms | errors "
            "| CPU ms/req | a vs c | a vs d |"
        ),
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ratio_by = {(r["model"], r["concurrency"], r["instances"]): r for r in results["ratios"]}
    for cell in sorted(results["cells"], key=lambda c: (*cell_key(c), c["server"])):
        med = cell["median"]
        r = ratio_by.get(cell_key(cell), {}) if cell["server"] == "a" else {}
        lines.append(
            f"| {cell['model']} | {cell['concurrency']} | {cell['instances']} | ({cell['server']}) | "
            f"{med['requests_per_second']:,.0f} | {med['instances_per_second']:,.0f} | "
            f"{med['p50_ms']:.2f} | {med['p90_ms']:.2f} | {med['p99_ms']:.2f} | {med['errors']} | "
            f"{_cpu(med.get('cpu_ms_per_request'))} | {_ratio(r.get('vs_c'))} | {_ratio(r.get('vs_d'))} |"
        )
    lines += ["", "Memory (MiB; idle: started and answered once; loaded: peak during its cells):", ""]
    lines += ["| processes | state | count | max RSS | max PSS | total RSS | total PSS |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for group, states in results.get("memory", {}).items():
        for state, s in states.items():
            if s:
                lines.append(
                    f"| {group.replace('_', ' ')} | {state} | {s['processes']} | {s['max_rss_mb']:.1f} | "
                    f"{s['max_pss_mb']:.1f} | {s['total_rss_mb']:.1f} | {s['total_pss_mb']:.1f} |"
                )
    lines += ["", "Targets:", "", "```"] + [t["line"] for t in results["targets"]] + ["```", ""]
    return "\n".join(lines)


def _cpu(groups: dict[str, float] | None) -> str:
    if not groups:
        return ""
    if len(groups) == 1:
        return f"{next(iter(groups.values())):.2f}"
    parts = " + ".join(f"{v:.2f}" for v in groups.values())
    return f"{sum(groups.values()):.2f} ({parts})"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def plot(results: dict[str, Any], path: Path) -> None:
    """results.png: instances/s and p99 per cell, one bar per server (log scales)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cells = results["cells"]
    keys = sorted({cell_key(c) for c in cells})
    servers = [s for s in ("a", "b", "c", "d") if any(c["server"] == s for c in cells)]
    by = index(cells)
    x = np.arange(len(keys))
    width = 0.8 / max(len(servers), 1)
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 1.1 * len(keys) + 2), 8), sharex=True)
    for i, server in enumerate(servers):
        for ax, metric in zip(axes, ("instances_per_second", "p99_ms")):
            values = [by[(server, k)][metric] if (server, k) in by else np.nan for k in keys]
            ax.bar(x + (i - (len(servers) - 1) / 2) * width, values, width,
                   label=f"({server}) {SERVER_NAMES[server]}")
    axes[0].set_ylabel("instances / s (log)")
    axes[1].set_ylabel("p99 latency, ms (log)")
    for ax in axes:
        ax.set_yscale("log")
        ax.grid(axis="y", which="both", alpha=0.3)
    # Above the bars, in one row: inside the axes it would hide the tallest ones.
    axes[0].legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(servers), frameon=False)
    axes[1].set_xticks(x, [f"{m}\nc={c} n={n}" for m, c, n in keys], fontsize=8)
    m = results["machine"]
    fig.suptitle(f"make bench: {m['nproc']} CPUs, {m['cpu_model']}; load {m['load_before']} before",
                 y=0.995)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


README_START = "<!-- make bench: start -->"
README_END = "<!-- make bench: end -->"


def headline(results: dict[str, Any]) -> str:
    """The README's table: per cell, instances/s and p99 of (a), (c) and (d), and the ratios."""
    m = results["machine"]
    by = index(results["cells"])
    ratio_by = {(r["model"], r["concurrency"], r["instances"]): r for r in results["ratios"]}
    lines = [
        (
            f"Measured by `make bench` on {m['nproc']} CPUs ({m['cpu_model']}), Python {m['python']}, "
            f"TensorFlow {m.get('tensorflow', '?')}, load generator on the same machine; commit "
            f"{m.get('commit', '?')}, {results['finished_at'][:10]}. Medians of "
            f"{results['config']['repeats']} run(s) of {results['config']['duration_seconds']:g} s; "
            "full table: [bench/results.md](bench/results.md)."
        ),
        "",
        (
            "| model | conc. | inst./req | (a) gateway inst/s | (b) backend alone | (c) in-process "
            "| (d) tutorial | a vs c | a vs d | p99 ms (a / c) |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    keys = sorted({cell_key(c) for c in results["cells"]})
    for key in keys:
        med = {s: by[(s, key)] for s in "abcd" if (s, key) in by}
        r = ratio_by.get(key, {})

        def ips(server: str, med: dict = med) -> str:
            return f"{med[server]['instances_per_second']:,.0f}" if server in med else "-"

        p99 = " / ".join(f"{med[s]['p99_ms']:.0f}" if s in med else "-" for s in "ac")
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]} | {ips('a')} | {ips('b')} | {ips('c')} | {ips('d')} | "
            f"{_ratio(r.get('vs_c'))} | {_ratio(r.get('vs_d'))} | {p99} |"
        )
    lines += ["", "```"] + [t["line"] for t in results["targets"]] + ["```"]
    return "\n".join(lines)


def update_readme(readme: Path, results: dict[str, Any]) -> bool:
    """Replace the text between the README's bench markers by `headline`; False if absent."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    body = f"{README_START}\n{headline(results)}\n{README_END}"
    readme.write_text(text[:start] + body + text[end + len(README_END):], encoding="utf-8")
    return True


def write_outputs(results: dict[str, Any], results_dir: Path) -> list[Path]:
    """Write results.json, results.md and results.png into `results_dir`."""
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = [results_dir / "results.json", results_dir / "results.md", results_dir / "results.png"]
    paths[0].write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    paths[1].write_text(markdown(results))
    plot(results, paths[2])
    return paths
