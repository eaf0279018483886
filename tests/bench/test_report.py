"""Medians, ratios, the issue's targets, and the written outputs."""

from __future__ import annotations

import json

import pytest

from bench import report
from tests.bench.support import cell

IDLE_OK = {"gateway_workers": {"idle": {"processes": 2, "max_rss_mb": 80.0, "max_pss_mb": 50.0,
                                        "total_rss_mb": 160.0, "total_pss_mb": 100.0}}}


def full_matrix(a_rps: float = 1000.0, a_p99: float = 5.0, a_p50_1: float = 1.2) -> list[dict]:
    """Every cell of one model for a, b, c, d with the gateway's numbers adjustable."""
    cells = []
    for conc in (1, 32):
        for inst in (1, 32):
            cells += [
                cell("a", "digits", conc, inst, a_rps, a_p50_1 if conc == 1 else 10, a_p99),
                cell("b", "digits", conc, inst, 2000, 0.9 if conc == 1 else 5, 3),
                cell("c", "digits", conc, inst, 800, 1.0, 6.0),
                cell("d", "digits", conc, inst, 10, 100, 500),
            ]
    return cells


def statuses(targets) -> list[str]:
    return [t.status for t in targets]


def test_median_of_runs_takes_each_metrics_median_and_sums_errors():
    runs = [cell("a", "m", 1, 4, rps, p50, p99, errors=1)["runs"][0]
            for rps, p50, p99 in ((100, 1, 9), (300, 3, 7), (200, 2, 8))]
    med = report.median_of_runs(runs, instances=4)
    assert med["requests_per_second"] == 200 and med["instances_per_second"] == 800
    assert med["p50_ms"] == 2 and med["p99_ms"] == 8
    assert med["errors"] == 3 and med["runs"] == 3


def test_all_targets_pass():
    targets = report.evaluate_targets(full_matrix(), IDLE_OK)
    assert statuses(targets) == ["PASS"] * 5
    assert "0.300 ms" in targets[3].detail  # 1.2 - 0.9


def test_each_target_can_fail():
    slow = report.evaluate_targets(full_matrix(a_rps=700, a_p99=7.0, a_p50_1=1.5),
                                   {"gateway_workers": {"idle": {**IDLE_OK["gateway_workers"]["idle"],
                                                                 "max_rss_mb": 130.0}}})
    assert statuses(slow) == ["FAIL", "FAIL", "PASS", "FAIL", "FAIL"]
    assert "worst 0.88x" in slow[0].detail
    assert "0/2 cells pass" in slow[1].detail
    assert slow[4].line().startswith("FAIL  gateway worker idle RSS <= 120 MB")
    tutorial = report.evaluate_targets(full_matrix(a_rps=400), IDLE_OK)
    assert statuses(tutorial)[2] == "FAIL"  # 400 / 10 = 40x < 50x


def test_unmeasured_targets_are_skipped():
    only_a = [c for c in full_matrix() if c["server"] == "a"]
    assert statuses(report.evaluate_targets(only_a, {})) == ["SKIP"] * 4


def test_a_baseline_that_completed_nothing_does_not_crash():
    cells = full_matrix()
    for c in cells:
        if c["server"] == "d":
            c["median"]["instances_per_second"] = 0.0
    targets = report.evaluate_targets(cells, IDLE_OK)
    assert targets[2].status == "PASS"
    assert all("vs_d" not in r for r in report.ratios(cells))


def test_ratios_and_overhead_per_cell():
    rows = report.ratios(full_matrix())
    first = rows[0]
    assert (first["model"], first["concurrency"], first["instances"]) == ("digits", 1, 1)
    assert first["vs_b"] == pytest.approx(0.5)
    assert first["vs_c"] == pytest.approx(1.25)
    assert first["vs_d"] == pytest.approx(100)
    assert first["overhead_p50_ms"] == pytest.approx(0.3)


def results_doc() -> dict:
    cells = full_matrix()
    targets = report.evaluate_targets(cells, IDLE_OK)
    return {
        "machine": {"nproc": 2, "cpu_model": "Test CPU", "memory_gb": 8.0, "python": "3.11",
                    "load_before": "0.10, 0.20, 0.30", "load_after": "1.00, 0.50, 0.40"},
        "config": {"duration_seconds": 8, "warmup_seconds": 2, "repeats": 3, "grpc_processes": 2,
                   "servers": ["a", "b", "c", "d"]},
        "finished_at": "2026-01-01T00:00:00+00:00",
        "cells": cells,
        "memory": IDLE_OK,
        "ratios": report.ratios(cells),
        "targets": [{"line": t.line(), "status": t.status} for t in targets],
    }


def test_markdown_has_the_machine_a_row_per_cell_and_the_targets():
    text = report.markdown(results_doc())
    assert "2 CPUs (Test CPU)" in text and "0.10, 0.20, 0.30 before" in text
    rows = [line for line in text.splitlines() if line.startswith("| digits |")]
    assert len(rows) == 16
    assert "| digits | 1 | 1 | (a) | 1,000 | 1,000 |" in text
    assert "1.25x | 100x |" in text
    assert "PASS  gateway >= 1x in-process (c)" in text
    assert "| gateway workers | idle | 2 | 80.0 |" in text


def test_write_outputs_writes_json_markdown_and_a_png(tmp_path):
    paths = report.write_outputs(results_doc(), tmp_path)
    assert [p.name for p in paths] == ["results.json", "results.md", "results.png"]
    assert json.loads(paths[0].read_text())["machine"]["nproc"] == 2
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_headline_has_a_row_per_cell_with_every_server_and_the_targets():
    text = report.headline(results_doc())
    assert "2 CPUs (Test CPU)" in text and "bench/results.md" in text
    rows = [line for line in text.splitlines() if line.startswith("| digits |")]
    assert len(rows) == 4
    assert rows[0].startswith("| digits | 1 | 1 | 1,000 | 2,000 | 800 | 10 | 1.25x | 100x |")
    assert "PASS  gateway >= 1x in-process (c)" in text


def test_update_readme_replaces_only_the_marked_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_START}\nold table\n{report.README_END}\nafter\n")
    assert report.update_readme(readme, results_doc())
    text = readme.read_text()
    assert text.startswith("intro\n" + report.README_START + "\n") and text.endswith(report.README_END + "\nafter\n")
    assert "old table" not in text and "| digits | 32 | 32 |" in text
    assert report.update_readme(readme, results_doc()) and readme.read_text() == text  # idempotent
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    assert not report.update_readme(plain, results_doc()) and plain.read_text() == "no markers\n"
