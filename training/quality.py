"""Measure the built-in configs against their quality targets.

    python -m training.quality [--seeds 0,1,2] [--configs digits,iris,wine,breast_cancer]

Trains every config once per seed into a scratch folder (the real model repository is
not touched) and prints held-out test accuracy per seed, the mean, and the target.
Exit status 1 when a mean misses its target.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time

# Mean held-out test accuracy over seeds 0, 1, 2 each default config must reach.
TARGETS = {"digits": 0.98, "breast_cancer": 0.97, "iris": 0.95, "wine": 0.97}


def measure(config: str, seeds: list[int], scratch: str) -> list[tuple[int, float, int, float]]:
    """(seed, test accuracy, best epoch, seconds) for each seed."""
    from training import run

    rows = []
    for seed in seeds:
        start = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()):
            result = run(config, [f"seed={seed}", f"models_dir={scratch}/models",
                                  f"runs_dir={scratch}/runs"])
        rows.append((seed, result.metrics["accuracy"], result.best_epoch,
                     time.monotonic() - start))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the table; return 1 if a config misses its target."""
    parser = argparse.ArgumentParser(prog="python -m training.quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated (default 0,1,2)")
    parser.add_argument("--configs", default=",".join(TARGETS), help="comma-separated")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    missed = False
    with tempfile.TemporaryDirectory(prefix="modelserve-quality-") as scratch:
        for config in args.configs.split(","):
            rows = measure(config, seeds, scratch)
            mean = sum(r[1] for r in rows) / len(rows)
            target = TARGETS.get(config)
            verdict = "" if target is None else (
                f"target {target:.2f}: {'ok' if mean >= target else 'MISSED'}")
            missed |= target is not None and mean < target
            per_seed = ", ".join(f"seed {s}: {a:.4f} (epoch {e}, {t:.0f}s)" for s, a, e, t in rows)
            print(f"{config:<14} mean {mean:.4f}  {verdict}\n    {per_seed}", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
