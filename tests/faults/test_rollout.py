"""Scenario 3: three new versions published in a row, by the real training job, under load.

Each version has its own label list (versions 2-4 are trained from an NPZ of the same
digits with an explicit `labels` array), so an answer decoded with another version's
labels would show. Under steady load: no request fails, the version a connection is
answered by only moves forward, and every answer carries the label its version gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.faults.load import LoadDriver, Reference, note, report, versions_move_forward
from tests.faults.processes import run_training, versions

pytestmark = [pytest.mark.faults, pytest.mark.slow]

LABELS = {
    2: ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    3: ("null", "eins", "zwei", "drei", "vier", "fuenf", "sechs", "sieben", "acht", "neun"),
    4: ("d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9"),
}


def digits_npz(path: Path, labels: tuple[str, ...]) -> Path:
    """scikit-learn's digits as an NPZ the training job reads: x (N, 8, 8), y, labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    np.savez(path, x=bunch.images.astype(np.float64), y=bunch.target.astype(np.int64),
             labels=np.array(labels))
    return path


def test_three_versions_published_under_load(repo, model_server, gateway_factory, cases, references, tmp_path):
    gateway = gateway_factory()
    refs = dict(references)
    # Paced (at most 20 requests/s per client): steady load that leaves the training job CPU.
    driver = LoadDriver(gateway.url, cases.request, concurrency=3, max_requests=200_000,
                        max_seconds=1800, interval=0.05, label="3 rollout of 3 versions")
    with driver:
        driver.wait_until(lambda o: sum(x.status == 200 for x in o) >= 20, 120, "answers from version 1")
        for version, labels in LABELS.items():
            data = digits_npz(tmp_path / f"digits-{version}.npz", labels)
            job = run_training(repo.models_dir, repo.runs_dir, "dataset=npz", f"data_path={data}", "name=digits")
            assert job.returncode == 0, job.stderr[-3000:]
            assert versions(repo.model_dir) == list(range(1, version + 1))
            refs[str(version)] = Reference.of_version(repo.model_dir / str(version), cases.inputs)
            assert refs[str(version)].labels == labels
            driver.wait_until(lambda o, v=str(version): any(x.version == v for x in o), 300,
                              f"answers from version {version}")
    figures = report(driver)
    outcomes = driver.outcomes()

    assert figures.failed == 0 and figures.errors == {}, figures.line()
    assert {o.version for o in outcomes} == {"1", "2", "3", "4"}
    assert versions_move_forward(outcomes) == []
    assert cases.all_problems(outcomes, refs) == []
    note(f"[3 rollout] answers per version: "
         f"{ {v: sum(o.version == v for o in outcomes) for v in ('1', '2', '3', '4')} }")
