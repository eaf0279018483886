"""RSS and PSS from /proc/<pid>/smaps_rollup, children, and the peak sampler."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.memory import Memory, PeakSampler, children, read_memory, summarize

ROLLUP = """00400000-7ffd1000 ---p 00000000 00:00 0                          [rollup]
Rss:              204800 kB
Pss:              102400 kB
Pss_Anon:          51200 kB
Shared_Clean:      10000 kB
"""


def test_read_memory_parses_rss_and_pss_in_mib(tmp_path):
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "smaps_rollup").write_text(ROLLUP)
    assert read_memory(42, proc=tmp_path) == Memory(rss_mb=200.0, pss_mb=100.0)


def test_read_memory_of_a_file_without_the_fields_is_an_error(tmp_path):
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "smaps_rollup").write_text("Swap: 0 kB\n")
    with pytest.raises(OSError, match="no Rss/Pss"):
        read_memory(7, proc=tmp_path)


def test_read_memory_of_this_process():
    mem = read_memory(os.getpid())
    assert 1 < mem.pss_mb <= mem.rss_mb


def test_children_finds_a_spawned_process_and_the_sampler_keeps_peaks():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert child.pid in children(os.getpid())
        with PeakSampler({"kids": lambda: [child.pid], "me": lambda: [os.getpid()]}, 0.05) as sampler:
            grow = bytearray(64 * 1024 * 1024)  # touch 64 MiB while sampled
            grow[::4096] = b"x" * len(grow[::4096])
        peaks = sampler.peaks()
        del grow
    finally:
        child.stdin.close()
        child.wait(10)
    assert list(peaks["kids"]) == [child.pid]
    assert peaks["me"][os.getpid()].rss_mb >= 64


def test_summarize_takes_max_and_total():
    s = summarize({1: Memory(100, 50), 2: Memory(80, 70)})
    assert s == {"processes": 2, "max_rss_mb": 100, "max_pss_mb": 70,
                 "total_rss_mb": 180, "total_pss_mb": 120}
    assert summarize({}) == {}
