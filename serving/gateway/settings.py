"""The gateway's settings: one frozen dataclass read from `GATEWAY_*` environment variables.

Every value is checked when the process starts (`Settings.from_env`); a bad one raises
`SettingsError` with one line naming the variable, so a misconfigured gateway stops at
once instead of failing on its first request. An unknown `GATEWAY_*` variable is an
error too: a typo must not silently fall back to a default (GATEWAY_PORT, docker
compose's host port, and CGI's GATEWAY_INTERFACE are not settings and are left alone).

`python -m serving.gateway.settings` prints the effective settings (API keys masked) and
exits 2 with the one-line error when something is wrong.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

PREFIX = "GATEWAY_"
# GATEWAY_* names that are not ours: docker compose's host port, and CGI's standard variable.
NOT_SETTINGS = frozenset({"GATEWAY_PORT", "GATEWAY_INTERFACE"})
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
MIN_API_KEY_LENGTH = 16
MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class SettingsError(ValueError):
    """A `GATEWAY_*` variable holds a value the gateway cannot run with."""


@dataclass(frozen=True)
class Settings:
    """Everything the gateway and its gunicorn configuration read from the environment."""

    backend_address: str = "127.0.0.1:8500"
    model_root: Path = Path("models")
    deadline_seconds: float = 5.0
    retries: int = 2
    max_body_bytes: int = 8 * 1024 * 1024
    max_instances: int = 256
    api_keys: tuple[str, ...] = ()
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    threads: int = 4
    log_level: str = "info"
    ready_timeout_seconds: float = 0.8
    version_ttl_seconds: float = 1.0
    models: tuple[str, ...] = ()
    max_image_pixels: int = 4096 * 4096
    graceful_timeout_seconds: float = 30.0
    read_timeout_seconds: float = 15.0  # a request head, then its body, each within this

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check every `GATEWAY_*` variable of `environ` (default: os.environ)."""
        env = os.environ if environ is None else environ
        known = {_env_name(f.name) for f in fields(cls)}
        for name in sorted(k for k in env if k.startswith(PREFIX)):
            if name not in known and name not in NOT_SETTINGS:
                hint = difflib.get_close_matches(name, sorted(known), n=1)
                suggestion = f" (did you mean {hint[0]}?)" if hint else ""
                raise SettingsError(f"{name} is not a gateway setting{suggestion}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = _env_name(f.name)
            if var in env:
                values[f.name] = _PARSERS[f.name](var, env[var])
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Raise SettingsError if a value, or a combination of values, cannot work."""
        if not Path(self.model_root).is_dir():
            raise SettingsError(f"GATEWAY_MODEL_ROOT={str(self.model_root)!r}: no such directory")
        if self.ready_timeout_seconds > self.deadline_seconds:
            raise SettingsError(
                f"GATEWAY_READY_TIMEOUT_SECONDS={self.ready_timeout_seconds:g} must not exceed "
                f"GATEWAY_DEADLINE_SECONDS={self.deadline_seconds:g}"
            )

    def public(self) -> dict[str, Any]:
        """The settings as a JSON-friendly dict, with API keys masked."""
        out = asdict(self)
        out["model_root"] = str(self.model_root)
        out["api_keys"] = [f"…{k[-4:]}" for k in self.api_keys]
        out["models"] = list(self.models)
        return out

    @property
    def worker_timeout_seconds(self) -> float:
        """Gunicorn's worker timeout: longer than a request that waits out every retry."""
        return self.deadline_seconds * (self.retries + 1) + 30.0


def _env_name(field_name: str) -> str:
    return PREFIX + field_name.upper()


def _number(kind: type, low: float, high: float, unit: str) -> Callable[[str, str], Any]:
    def parse(var: str, raw: str) -> Any:
        text = raw.strip()
        try:
            value = kind(text)
        except ValueError:
            raise SettingsError(f"{var}={raw!r}: expected {_describe(kind, low, high, unit)}") from None
        if math.isnan(value) or not (low <= value <= high):
            raise SettingsError(f"{var}={raw!r}: expected {_describe(kind, low, high, unit)}")
        return value

    return parse


def _describe(kind: type, low: float, high: float, unit: str) -> str:
    what = "an integer" if kind is int else "a number"
    return f"{what} of {unit} between {low:g} and {high:g}"


def _address(var: str, raw: str) -> str:
    """host:port, [v6]:port, or unix:/path (gRPC and gunicorn both take these)."""
    text = raw.strip()
    if text.startswith("unix:") and len(text) > len("unix:"):
        return text
    host, sep, port = text.rpartition(":")
    valid_port = port.isdigit() and 1 <= int(port) <= 65535
    if sep and host and valid_port and host.startswith("[") == host.endswith("]") and " " not in host:
        return text
    raise SettingsError(f"{var}={raw!r}: expected host:port (port 1-65535) or unix:/path")


def _directory(var: str, raw: str) -> Path:
    path = Path(raw.strip())
    if not raw.strip():
        raise SettingsError(f"{var} is empty: expected the model repository folder")
    if not path.is_dir():
        raise SettingsError(f"{var}={raw!r}: no such directory")
    return path


def _api_keys(var: str, raw: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    for i, key in enumerate(keys):
        if len(key) < MIN_API_KEY_LENGTH or not key.isprintable() or " " in key:
            raise SettingsError(
                f"{var}: key {i + 1} must be at least {MIN_API_KEY_LENGTH} printable characters "
                "without spaces (make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
    return keys


def _log_level(var: str, raw: str) -> str:
    level = raw.strip().lower()
    if level not in LOG_LEVELS:
        raise SettingsError(f"{var}={raw!r}: expected one of {', '.join(LOG_LEVELS)}")
    return level


def _model_names(var: str, raw: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    for name in names:
        if not MODEL_NAME_RE.match(name):
            raise SettingsError(f"{var}: {name!r} is not a valid model name")
    return names


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "backend_address": _address,
    "model_root": _directory,
    "deadline_seconds": _number(float, 0.01, 600, "seconds"),
    "retries": _number(int, 0, 10, "retries"),
    "max_body_bytes": _number(int, 1024, 1 << 30, "bytes"),
    "max_instances": _number(int, 1, 100_000, "instances"),
    "api_keys": _api_keys,
    "bind": _address,
    "workers": _number(int, 1, 64, "processes"),
    "threads": _number(int, 1, 256, "threads"),
    "log_level": _log_level,
    "ready_timeout_seconds": _number(float, 0.01, 10, "seconds"),
    "version_ttl_seconds": _number(float, 0, 3600, "seconds"),
    "models": _model_names,
    "max_image_pixels": _number(int, 1, 1 << 28, "pixels"),
    "graceful_timeout_seconds": _number(float, 0, 3600, "seconds"),
    "read_timeout_seconds": _number(float, 0.1, 3600, "seconds"),
}


def main() -> int:
    """Print the effective settings as JSON; exit 2 with one line on stderr if one is bad."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"gateway settings: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(settings.public(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
