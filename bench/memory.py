"""Memory of the servers' processes: RSS and PSS from /proc/<pid>/smaps_rollup.

RSS counts every resident page a process maps, shared ones included (so summing RSS
over gunicorn workers overcounts what they share with the master); PSS splits each
shared page among the processes that map it, so PSS sums to the real total.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

PROC = Path("/proc")


@dataclass(frozen=True)
class Memory:
    """Resident (RSS) and proportional (PSS) set size of one process, in MiB."""

    rss_mb: float
    pss_mb: float


def read_memory(pid: int, proc: Path = PROC) -> Memory:
    """RSS and PSS of `pid`; OSError if the process is gone or unreadable."""
    fields: dict[str, int] = {}
    with open(proc / str(pid) / "smaps_rollup", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                fields[key] = int(rest.split()[0])  # kB
    if "Rss" not in fields or "Pss" not in fields:
        raise OSError(f"/proc/{pid}/smaps_rollup has no Rss/Pss lines")
    return Memory(rss_mb=fields["Rss"] / 1024.0, pss_mb=fields["Pss"] / 1024.0)


def children(pid: int, proc: Path = PROC) -> list[int]:
    """The direct children of `pid` (e.g. gunicorn's workers), sorted."""
    found: list[int] = []
    for task in (proc / str(pid) / "task").iterdir():
        try:
            text = (task / "children").read_text()
        except OSError:
            continue
        found.extend(int(x) for x in text.split())
    return sorted(set(found))


class PeakSampler:
    """Samples a set of processes in a background thread and keeps each one's peak."""

    def __init__(self, pids_of: dict[str, Callable[[], list[int]]], interval_seconds: float = 0.5):
        self._pids_of = pids_of
        self._interval = interval_seconds
        self._peaks: dict[str, dict[int, Memory]] = {group: {} for group in pids_of}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        """Take one sample of every process of every group now."""
        for group, pids_of in self._pids_of.items():
            for pid in pids_of():
                try:
                    mem = read_memory(pid)
                except OSError:
                    continue
                old = self._peaks[group].get(pid)
                if old is None:
                    self._peaks[group][pid] = mem
                else:
                    self._peaks[group][pid] = Memory(
                        max(old.rss_mb, mem.rss_mb), max(old.pss_mb, mem.pss_mb)
                    )

    def __enter__(self) -> Self:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def peaks(self) -> dict[str, dict[int, Memory]]:
        """group → pid → peak Memory seen so far."""
        return {g: dict(p) for g, p in self._peaks.items()}


def summarize(per_pid: dict[int, Memory]) -> dict[str, float]:
    """Max and total RSS/PSS over the processes of a group, in MiB."""
    if not per_pid:
        return {}
    mems = list(per_pid.values())
    return {
        "processes": len(mems),
        "max_rss_mb": max(m.rss_mb for m in mems),
        "max_pss_mb": max(m.pss_mb for m in mems),
        "total_rss_mb": sum(m.rss_mb for m in mems),
        "total_pss_mb": sum(m.pss_mb for m in mems),
    }
