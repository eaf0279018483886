"""Dependency helpers for the container builds (training/Dockerfile, serving/Dockerfile).

`requirements EXTRA...` prints the pinned requirements of the project's base
dependencies plus the given extras, read from pyproject.toml, one per line: the
images install exactly these (with constraints.txt) and nothing of the other
components. `check --tensorflow VERSION` asserts that exactly one TensorFlow
distribution is installed, at that version, and importable; `check
--no-tensorflow` asserts that none is installed and `import tensorflow` fails.
Each check prints one line and exits 1 when it fails, so a bad image stops the
build.

Usage: python scripts/image_deps.py requirements gateway > requirements.txt
       python scripts/image_deps.py check --no-tensorflow
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Every PyPI distribution that installs the `tensorflow` module: two of them in
# one environment overwrite each other's files.
TENSORFLOW_DISTRIBUTIONS = (
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-gpu",
    "tensorflow-intel",
    "tensorflow-macos",
    "tensorflow-aarch64",
    "tensorflow-cpu-aws",
    "tf-nightly",
    "tf-nightly-cpu",
    "tf-nightly-gpu",
)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(extras: list[str], pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """Return the base dependencies plus those of `extras`, in order, without duplicates."""
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"unknown extra(s) {', '.join(unknown)}; known: {', '.join(optional)}")
    result: list[str] = []
    for requirement in [*project.get("dependencies", []), *(r for e in extras for r in optional[e])]:
        if requirement not in result:
            result.append(requirement)
    return result


def installed_tensorflows() -> dict[str, str]:
    """Map each installed TensorFlow distribution to its version."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = _canonical(dist.metadata["Name"] or "")
        if name in TENSORFLOW_DISTRIBUTIONS:
            found[name] = dist.version
    return found


def check(tensorflow: str | None) -> str:
    """Check the TensorFlow installation; return a one-line verdict or raise SystemExit."""
    found = installed_tensorflows()
    if tensorflow is None:
        if found:
            raise SystemExit(f"TensorFlow must not be installed here, found {found}")
        try:
            importlib.import_module("tensorflow")
        except ImportError:
            return "ok: no TensorFlow distribution installed and `import tensorflow` fails"
        raise SystemExit("`import tensorflow` succeeds although no distribution is installed")
    if len(found) != 1:
        raise SystemExit(f"expected exactly one TensorFlow distribution, found {found or 'none'}")
    (name, version), = found.items()
    if version != tensorflow:
        raise SystemExit(f"expected TensorFlow {tensorflow}, found {name}=={version}")
    module = importlib.import_module("tensorflow")
    if module.__version__ != tensorflow:
        raise SystemExit(f"`import tensorflow` gives {module.__version__}, expected {tensorflow}")
    return f"ok: exactly one TensorFlow ({name}=={version}) and it imports"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    req = commands.add_parser("requirements", help="print the pins of the base deps + extras")
    req.add_argument("extras", nargs="+", metavar="EXTRA")
    chk = commands.add_parser("check", help="check the TensorFlow installation")
    group = chk.add_mutually_exclusive_group(required=True)
    group.add_argument("--tensorflow", metavar="VERSION", help="exactly this TensorFlow")
    group.add_argument("--no-tensorflow", action="store_true", help="no TensorFlow at all")
    args = parser.parse_args(argv)
    if args.command == "requirements":
        print("\n".join(requirements(args.extras)))
    else:
        print(check(args.tensorflow))
    return 0


if __name__ == "__main__":
    sys.exit(main())
