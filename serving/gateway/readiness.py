"""Readiness: is the backend reachable, and does each served model have an AVAILABLE version?

The answer must come within `timeout_seconds` even when the backend hangs (a readiness
probe that hangs is worse than one that says no), so the status calls run on a small
thread pool and are waited for with that short deadline; a call still running after it
finishes on its own at the backend's deadline, in the background.

The models checked are `GATEWAY_MODELS`, or else every model folder of the repository
(a folder with at least one integer version folder).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.gateway.backend import VersionStatus
from serving.gateway.errors import GatewayError
from serving.gateway.settings import MODEL_NAME_RE
from serving.gateway.versions import newest_available


@dataclass(frozen=True)
class Readiness:
    """The outcome of a readiness check."""

    ready: bool
    reason: str = ""
    models: dict[str, dict[str, Any]] = field(default_factory=dict)


class ReadinessProbe:
    """Checks models' status with a short deadline of its own."""

    def __init__(
        self,
        status: Callable[[str], list[VersionStatus]],
        model_root: str | Path,
        models: tuple[str, ...] = (),
        timeout_seconds: float = 0.8,
    ):
        self._status = status
        self._root = Path(model_root)
        self._models = models
        self._timeout = timeout_seconds
        self._pool: cf.ThreadPoolExecutor | None = None
        self._pool_pid = -1
        self._lock = threading.Lock()

    def models(self) -> list[str]:
        """The models readiness requires."""
        if self._models:
            return list(self._models)
        try:
            entries = sorted(self._root.iterdir())
        except OSError:
            return []
        return [
            p.name
            for p in entries
            if p.is_dir()
            and MODEL_NAME_RE.match(p.name)
            and any(c.name.isdigit() and c.is_dir() for c in p.iterdir())
        ]

    def check(self, models: list[str] | None = None) -> Readiness:
        """Ready if every model (default: `models()`) has an AVAILABLE version, within the timeout."""
        names = self.models() if models is None else models
        if not names:
            return Readiness(False, f"no models found under {self._root}")
        pool = self._executor()
        futures = {name: pool.submit(self._status, name) for name in names}
        done, _ = cf.wait(futures.values(), timeout=self._timeout)
        report: dict[str, dict[str, Any]] = {}
        reasons: list[str] = []
        for name, future in futures.items():
            if future not in done:
                future.cancel()
                report[name] = {"ready": False}
                reasons.append(f"{name}: the backend did not answer within {self._timeout:g} s")
                continue
            try:
                statuses = future.result()
            except GatewayError as exc:
                report[name] = {"ready": False}
                reasons.append(f"{name}: {exc.message}")
                continue
            except Exception:  # noqa: BLE001 - a probe reports, it never raises
                report[name] = {"ready": False}
                reasons.append(f"{name}: the status call failed")
                continue
            newest = newest_available(statuses)
            report[name] = {
                "ready": newest is not None,
                "versions": {str(s.version): s.state for s in statuses},
            }
            if newest is None:
                reasons.append(f"{name}: no AVAILABLE version")
        return Readiness(not reasons, "; ".join(reasons), report)

    def _executor(self) -> cf.ThreadPoolExecutor:
        # Threads do not survive fork: a worker forked from a preloaded app needs its own pool.
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="readiness")
                self._pool_pid = os.getpid()
            return self._pool
