"""Helpers for the deployment tests: read Dockerfiles and compose files, and turn a
container's command line into the same command line on this machine.

No Docker engine runs here, so a container's command is run locally with its
container paths mapped to local ones (/app → the repository, /models → a temporary
model repository, ...): the program, module, flags and arguments stay exactly those
of the image and the compose file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
COMPOSE_FILES = {"gpu": ROOT / "docker-compose.yml", "cpu": ROOT / "docker-compose.cpu.yml"}
DOCKERFILES = {"gateway": ROOT / "serving" / "Dockerfile", "train": ROOT / "training" / "Dockerfile"}

# TF Serving's command-line flags and their types, as defined in
# tensorflow_serving/model_servers/main.cc (the complete list the serving_config guide
# points to under "Miscellaneous Flags"). TF Serving cannot run here: a flag in
# docker-compose.yml must at least be one of these, with a value of the right type.
TFSERVING_FLAGS = {
    "port": int,
    "grpc_socket_path": str,
    "rest_api_port": int,
    "rest_api_num_threads": int,
    "rest_api_timeout_in_ms": int,
    "rest_api_enable_cors_support": bool,
    "enable_batching": bool,
    "allow_version_labels_for_unavailable_models": bool,
    "batching_parameters_file": str,
    "enable_per_model_batching_parameters": bool,
    "model_config_file": str,
    "model_config_file_poll_wait_seconds": int,
    "model_name": str,
    "model_base_path": str,
    "num_load_threads": int,
    "num_unload_threads": int,
    "max_num_load_retries": int,
    "load_retry_interval_micros": int,
    "file_system_poll_wait_seconds": int,
    "flush_filesystem_caches": bool,
    "tensorflow_session_parallelism": int,
    "tensorflow_session_config_file": str,
    "tensorflow_intra_op_parallelism": int,
    "tensorflow_inter_op_parallelism": int,
    "use_alts_credentials": bool,
    "ssl_config_file": str,
    "platform_config_file": str,
    "per_process_gpu_memory_fraction": float,
    "saved_model_tags": str,
    "grpc_channel_arguments": str,
    "grpc_max_threads": int,
    "enable_model_warmup": bool,
    "num_request_iterations_for_warmup": int,
    "version": bool,
    "monitoring_config_file": str,
    "remove_unused_fields_from_bundle_metagraph": bool,
    "prefer_tflite_model": bool,
    "num_tflite_pools": int,
    "num_tflite_interpreters_per_pool": int,
    "enable_signature_method_name_check": bool,
    "xla_cpu_compilation_enabled": bool,
    "enable_profiler": bool,
    "thread_pool_factory_config_file": str,
}


# ----------------------------------------------------------------------------- pyproject


def pyproject() -> dict:
    """The parsed pyproject.toml."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pinned_version(distribution: str) -> str:
    """The `==` pin of `distribution` in any extra of pyproject.toml."""
    extras = pyproject()["project"]["optional-dependencies"]
    for requirement in (r for reqs in extras.values() for r in reqs):
        name, sep, version = requirement.partition("==")
        if sep and name.strip().lower() == distribution:
            return version.strip()
    raise AssertionError(f"{distribution} is not pinned with == in pyproject.toml")


# ----------------------------------------------------------------------------- Dockerfiles


@dataclass
class Stage:
    """One build stage of a Dockerfile: its base image and its instructions."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        """The arguments of every `keyword` instruction of this stage."""
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None


@dataclass
class Dockerfile:
    """A parsed Dockerfile: global ARGs and its stages (the last one is the image)."""

    path: Path
    args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def resolved_base(self, stage: Stage, build_args: dict[str, str] | None = None) -> str:
        """The stage's base image with global ARGs (and build args) substituted."""
        values = {**self.args, **(build_args or {})}
        return re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], stage.base)

    def env(self) -> dict[str, str]:
        """The final image's ENV, in key=value form (later ones win, $VAR left as is)."""
        out: dict[str, str] = {}
        for args in self.final.all("ENV"):
            for token in shlex.split(args):
                key, sep, value = token.partition("=")
                assert sep, f"{self.path}: use ENV key=value, got {args!r}"
                out[key] = value
        return out

    def exec_form(self, keyword: str) -> list[str]:
        """The final image's CMD/ENTRYPOINT, which must be in exec (JSON) form."""
        args = self.final.last(keyword)
        assert args is not None, f"{self.path} has no {keyword}"
        value = json.loads(args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value)
        return value

    def healthcheck(self) -> list[str] | None:
        """The final image's HEALTHCHECK command (exec form), or None."""
        args = self.final.last("HEALTHCHECK")
        if args is None:
            return None
        _, _, command = args.partition("CMD ")
        return json.loads(command)


def logical_lines(text: str) -> list[str]:
    """Dockerfile lines with continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return lines


def parse_dockerfile(path: Path) -> Dockerfile:
    """Parse the instructions this project's Dockerfiles use."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(path.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            assert keyword == "ARG", f"{path}: only ARG may come before FROM"
            key, _, default = rest.partition("=")
            args[key] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return Dockerfile(path=path, args=args, stages=stages)


# ----------------------------------------------------------------------------- compose


def load_compose(variant: str) -> dict:
    """The compose file as written (PyYAML)."""
    return yaml.safe_load(COMPOSE_FILES[variant].read_text())


def interpolate(value: str, environ: dict[str, str] | None = None) -> str:
    """Compose's ${VAR}, ${VAR:-default} and $$ substitution (empty environment by default)."""
    env = environ or {}

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(3)
        return env.get(name) or (default if default is not None else "")

    return re.sub(r"\$\$|\$\{(\w+)(:-([^}]*))?\}", replace, value)


def compose_binary() -> str | None:
    """Debian's docker-compose, if installed."""
    return shutil.which("docker-compose")


def compose_config(variant: str) -> dict:
    """`docker-compose -f FILE config`, run with no HOST_*/GATEWAY_* variables set."""
    binary = compose_binary()
    assert binary, "docker-compose is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOST_", "GATEWAY_", "MODEL_"))}
    proc = subprocess.run(
        [binary, "-f", str(COMPOSE_FILES[variant]), "config"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, f"docker-compose config rejected {variant}:\n{proc.stderr}"
    return yaml.safe_load(proc.stdout)


def volumes(service: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of each volume, short or long syntax."""
    out = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            mode = parts[2] if len(parts) > 2 else "rw"
            out.append((parts[0], parts[1], "ro" in mode.split(",")))
        else:
            out.append((volume["source"], volume["target"], bool(volume.get("read_only"))))
    return out


def gpu_devices(service: dict) -> list[dict]:
    """The GPU device reservations of a service."""
    devices = (
        service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    )
    return [d for d in devices if "gpu" in d.get("capabilities", [])]


def flags(command: list[str]) -> dict[str, str]:
    """--name=value flags of a command line (TF Serving's style) as a dict."""
    out = {}
    for arg in command:
        assert arg.startswith("--") and "=" in arg, f"expected --flag=value, got {arg!r}"
        name, _, value = arg[2:].partition("=")
        out[name] = value
    return out


# ----------------------------------------------------------------------------- local runs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def map_path(value: str, mapping: dict[str, Path]) -> str:
    """Replace a container path prefix (/app, /models, ...) by its local counterpart,
    also after `key=` (`--set models_dir=/models`)."""
    key, sep, rest = value.partition("=")
    if sep and rest.startswith("/"):
        return key + sep + map_path(rest, mapping)
    for container, local in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
        if value == container or value.startswith(container + "/"):
            return str(local) + value[len(container):]
        if value.startswith(container + ":"):  # PATH-style lists
            return str(local) + value[len(container):]
    return value


def local_env(image_env: dict[str, str], service_env: dict[str, str], mapping: dict[str, Path]) -> dict:
    """This process's environment plus the image's ENV and the service's environment,
    container paths mapped; PATH gets the project's virtualenv first (the image's
    /opt/venv or system Python)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    for key, value in {**image_env, **service_env}.items():
        if key == "PATH":
            continue
        env[key] = ":".join(map_path(part, mapping) for part in str(value).split(":"))
    env["PATH"] = f"{VENV_BIN}:{os.environ.get('PATH', '')}"
    return env


def local_argv(argv: list[str], env: dict[str, str], mapping: dict[str, Path]) -> list[str]:
    """A container's argv for this machine: the program found on the local PATH
    (python → the project's virtualenv), container paths mapped."""
    program = shutil.which(argv[0], path=env["PATH"])
    assert program, f"{argv[0]} is not installed here"
    return [program, *(map_path(a, mapping) for a in argv[1:])]


# ----------------------------------------------------------------------------- what an image needs

# Project packages: a module of these must have been copied into the image.
LOCAL_PACKAGES = {"contract", "protogen", "serving", "training", "scripts", "tests"}
# What `python -m venv` or the base image brings besides the project's requirements.
ENVIRONMENT_DISTRIBUTIONS = {"pip", "setuptools", "wheel"}
# Imported by a dependency inside try/except ImportError: used if present, not needed.
OPTIONAL_IMPORTS = {
    "grpc_tools": "grpc/__init__.py aliases it as grpc.tools when installed",
    "brotli": "urllib3 decodes brotli responses when installed",
    "_brotli": "brotli's extension module",
    "socks": "requests/urllib3 support SOCKS proxies when PySocks is installed",
}


def imported_modules(importtime_report: str) -> set[str]:
    """The modules a run imported, from Python's PYTHONPROFILEIMPORTTIME=1 report on stderr.

    The report covers `import` statements (and failed attempts), not
    importlib.import_module calls: gunicorn's import of the app module itself is missing,
    the imports that module makes are there."""
    names = set()
    for line in importtime_report.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                names.add(name)
    return names


def requirement_closure(extras: list[str]) -> set[str]:
    """Canonical names of the distributions that installing the base dependencies plus
    `extras` brings (what the image installs), from the installed packages' metadata."""
    import importlib.metadata
    import importlib.util

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    spec = importlib.util.spec_from_file_location("image_deps", ROOT / "scripts" / "image_deps.py")
    image_deps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(image_deps)
    todo = [Requirement(r) for r in image_deps.requirements(extras)]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for raw in importlib.metadata.distribution(name).requires or []:
            dependency = Requirement(raw)
            wanted = [""] + sorted(requirement.extras)
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in wanted):
                todo.append(dependency)
    return seen


def foreign_imports(modules: set[str], extras: list[str], copied: list[str]) -> list[str]:
    """The modules an image would lack: project modules outside its COPY paths
    (`contract/`, `serving/gateway/`, `serving/__init__.py`), and third-party modules of
    no distribution its extras install."""
    import importlib.metadata
    import importlib.util
    import sys

    from packaging.utils import canonicalize_name

    prefixes = []
    for path in copied:
        path = path.rstrip("/")
        if path.endswith("/__init__.py"):
            prefixes.append((path.removesuffix("/__init__.py").replace("/", "."), False))
        elif not path.endswith(".py"):
            prefixes.append((path.replace("/", "."), True))
    allowed = requirement_closure(extras) | ENVIRONMENT_DISTRIBUTIONS
    owners = importlib.metadata.packages_distributions()
    missing = []
    for name in sorted(modules):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in sys.builtin_module_names:
            continue
        if top.startswith(("__", "_sysconfigdata_")):  # interpreter internals
            continue
        if top in OPTIONAL_IMPORTS or importlib.util.find_spec(top) is None:
            continue  # optional, or an attempt that failed here too (the report lists those)
        if top in LOCAL_PACKAGES:
            if not any(name == p or (deep and name.startswith(p + ".")) for p, deep in prefixes):
                missing.append(f"{name} (not copied into the image)")
            continue
        distributions = {canonicalize_name(d) for d in owners.get(top, [])}
        if not distributions & allowed:
            missing.append(f"{name} (from {sorted(distributions) or 'no distribution'})")
    return missing


def copied_paths(dockerfile: Dockerfile) -> list[str]:
    """The destination paths (relative to WORKDIR) of the final stage's COPY instructions."""
    paths = []
    for args in dockerfile.final.all("COPY"):
        words = [w for w in args.split() if not w.startswith("--")]
        *sources, destination = words
        if destination.endswith("/") and len(sources) > 1 or sources[0].endswith(".py"):
            paths.extend(s if "/" in s else destination + s for s in sources)
        else:
            paths.append(destination)
    return [p for p in paths if not p.startswith("/")]
