"""Profile the hot path under load: `python -m bench.profile --label before`.

Starts the model server and the gateway exactly as `make bench` does, drives one cell
with wrk, and samples every gateway worker and the model server with py-spy (all
threads, idle ones left out) while the load runs. Writes, per process kind, a text
summary (the functions with the largest share of samples, inclusive and self) to
`bench/profiles/<label>-<cell>-<process>.txt`, and the raw collapsed stacks to
`bench/out/profiles/` (flame graphs: `flamegraph.pl` or speedscope read them).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from bench import models, payloads, servers
from bench.config import ROOT
from bench.wrk import run_wrk
from contract import load_metadata

PROFILES = ROOT / "bench" / "profiles"
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def collapsed_counts(text: str) -> collections.Counter:
    """Collapsed stacks ("f1;f2;f3 N" lines) as a Counter of stack tuples."""
    stacks: collections.Counter = collections.Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def short(frame: str) -> str:
    """`func (path/to/site-packages/pkg/mod.py:12)` → `func (pkg/mod.py)`: lines vary."""
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


def package(frame: str) -> str:
    """Who owns a frame: a package (py-spy prints paths from the package root), our
    `serving/<component>`, or a standard-library module."""
    m = _FRAME.match(frame)
    path = m.group("file") if m else frame
    for marker in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        path = path.split(marker, 1)[-1]
    parts = path.split("/")
    if parts[0] in ("serving", "bench"):
        return "/".join(parts[:2]) + " (ours)"
    if parts[0] == "contract":
        return "contract (ours)"
    if len(parts) == 1 or path.startswith("<frozen"):
        return "python stdlib"
    if parts[0] in ("concurrent", "email", "logging", "json", "http", "importlib", "multiprocessing"):
        return f"python stdlib ({parts[0]})"
    return parts[0]


def summarize(stacks: collections.Counter, title: str, top: int = 30) -> str:
    """The frames with the largest inclusive and self share of the samples."""
    total = sum(stacks.values())
    inclusive: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    for stack, count in stacks.items():
        frames = [short(f) for f in stack if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    by_package: collections.Counter = collections.Counter()
    for stack, count in stacks.items():
        frames = [f for f in stack if not f.startswith(("process ", "thread "))]
        if frames:
            by_package[package(frames[-1])] += count
    lines = [title, f"{total} samples", "", "self %       package (where the samples' innermost frame is)"]
    lines += [f"{100 * n / total:10.1f}  {p}" for p, n in by_package.most_common(top)]
    lines += ["", "inclusive %  function"]
    lines += [f"{100 * n / total:10.1f}  {f}" for f, n in inclusive.most_common(top)]
    lines += ["", "self %       function"]
    lines += [f"{100 * n / total:10.1f}  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines) + "\n"


def record(pid: int, seconds: float, out: Path, rate: int, gil: bool = False) -> subprocess.Popen:
    """Start py-spy sampling `pid` for `seconds` into `out` (collapsed stacks).

    gil: sample only the thread holding the GIL, i.e. where the process's Python time goes.
    """
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    cmd = [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
           "--format", "raw", "--output", str(out), "--nonblocking", "--threads"]
    if gil:
        cmd.append("--gil")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def main(argv: list[str] | None = None) -> int:
    """Profile one cell of (a): gateway workers and model server under wrk load."""
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    p.add_argument("--label", required=True, help="e.g. before / after (part of the file names)")
    p.add_argument("--model", default="digits", choices=("digits", "wide"))
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--instances", type=int, default=1)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--rate", type=int, default=250, help="samples per second")
    p.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    p.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "out")
    p.add_argument("--model-server-arg", action="append", default=[], help="extra model server flag")
    args = p.parse_args(argv)

    models_dir = models.prepare((args.model,), args.out_dir, log=lambda m: print(m, file=sys.stderr))
    meta = load_metadata(models.newest_version(models_dir, args.model))
    body = args.out_dir / "bodies" / f"profile_{args.model}_{args.instances}.json"
    body.parent.mkdir(parents=True, exist_ok=True)
    body.write_bytes(payloads.predict_body(payloads.raw_instances(meta, args.instances)))
    raw_dir = args.out_dir / "profiles"
    raw_dir.mkdir(parents=True, exist_ok=True)
    PROFILES.mkdir(parents=True, exist_ok=True)
    cell = f"{args.model}-c{args.concurrency}-n{args.instances}" + ("-gil" if args.gil else "")
    logs = args.out_dir / "logs"

    ms = servers.start_model_server(models_dir / "models.config", logs, tuple(args.model_server_arg))
    gw = None
    try:
        servers.wait_model_server(ms, (args.model,))
        gw = servers.start_gateway(ms.port, models_dir, logs)
        url_path = f"/v1/models/{args.model}:predict"
        servers.wait_http(gw, url_path, body.read_bytes())
        url = f"http://127.0.0.1:{gw.port}{url_path}"
        run_wrk(url, body, concurrency=args.concurrency, duration_seconds=2)  # warm-up
        targets = {"model_server": [ms.pid], "gateway": gw.workers()}
        load: dict = {}
        driver = threading.Thread(target=lambda: load.update(m=run_wrk(
            url, body, concurrency=args.concurrency, duration_seconds=args.seconds + 2)))
        driver.start()
        spies = []
        for kind, pids in targets.items():
            for pid in pids:
                out = raw_dir / f"{args.label}-{cell}-{kind}-{pid}.collapsed"
                spies.append((kind, out, record(pid, args.seconds, out, args.rate, args.gil)))
        for _, _, spy in spies:
            _, err = spy.communicate(timeout=args.seconds + 60)
            if spy.returncode != 0:
                print(f"py-spy failed: {err.strip()[-300:]}", file=sys.stderr)
        driver.join()
    finally:
        if gw is not None:
            gw.stop()
        ms.stop()

    m = load["m"]
    print(f"load during the profile: {m.requests_per_second:,.0f} req/s, p50 {m.p50_ms:.2f} ms, "
          f"p99 {m.p99_ms:.2f} ms, errors {m.errors}")
    for kind in targets:
        stacks: collections.Counter = collections.Counter()
        for k, out, _ in spies:
            if k == kind and out.exists():
                stacks.update(collapsed_counts(out.read_text()))
        view = "the GIL holder only" if args.gil else "all threads, idle excluded"
        title = (f"{args.label}: {kind}, cell {cell} under wrk ({m.requests_per_second:,.0f} req/s, "
                 f"p50 {m.p50_ms:.2f} ms), py-spy {args.rate} Hz for {args.seconds:g} s, {view}")
        path = PROFILES / f"{args.label}-{cell}-{kind}.txt"
        path.write_text(summarize(stacks, title))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
