"""A rollout under load: while a client predicts in a loop, the training job publishes
version 2. No call fails, the answered version goes 1 → 2 and never back, and a version
folder that is still being copied is never served."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from serving.gateway.grpc_client import TFServingClient
from tests.model_server.support import ROOT, copy_model, start_server, version_states, wait_for


class PredictLoop(threading.Thread):
    """Predicts as fast as it can, recording the version of every answer and every error."""

    def __init__(self, address: str, model: str):
        super().__init__(daemon=True)
        self.client = TFServingClient(address, deadline_seconds=30, retries=0)
        self.model = model
        self.versions: list[int] = []
        self.errors: list[Exception] = []
        self.stop = threading.Event()

    def run(self):
        info = self.client.metadata(self.model)
        (name, spec), = info.inputs.items()
        batch = {name: np.zeros([2 if d == -1 else d for d in spec.shape], np.float32)}
        while not self.stop.is_set():
            try:
                version, outputs = self.client.predict(self.model, batch)
                assert outputs["probabilities"].shape[0] == 2
                self.versions.append(version)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded and asserted on
                self.errors.append(exc)
            # Pace the loop (≤ 200 calls/s) so the training job gets the CPU it needs.
            self.stop.wait(0.005)
        self.client.close()

    def answered(self, version: int) -> bool:
        return bool(self.versions) and self.versions[-1] == version


@pytest.mark.slow
def test_publishing_a_new_version_under_load(model_repo, tmp_path):
    models = tmp_path / "models"
    base = models / "digits"
    copy_model(model_repo.results["digits"].version_dir, base, 1)
    server = start_server(model_name="digits", model_base_path=base, file_system_poll_wait_seconds=0.05)
    address = f"127.0.0.1:{server.port}"
    loop = PredictLoop(address, "digits")
    loop.start()
    try:
        wait_for(lambda: loop.answered(1), 60, "answers from version 1")

        # The real training job, as a separate process, publishes version 2.
        job = subprocess.run(
            [
                sys.executable, "-m", "training", "--config", "training/configs/digits.yaml",
                "--set", "epochs=2", "--set", f"models_dir={models}",
                "--set", f"runs_dir={tmp_path / 'runs'}",
            ],
            cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
        )
        assert job.returncode == 0, job.stderr[-3000:]
        assert (base / "2" / "saved_model.pb").is_file()
        wait_for(lambda: loop.answered(2), 120, "answers from version 2")
        wait_for(lambda: version_states(address, "digits") == {1: "END", 2: "AVAILABLE"}, 60, "version 1 unloaded")

        # A version folder copied by hand, not yet complete, is never served...
        half = base / "3"
        half.mkdir()
        shutil.copy(base / "2" / "saved_model.pb", half / "saved_model.pb")
        polls = server.manager.polls
        wait_for(lambda: server.manager.polls >= polls + 3, 60, "three scans of the half-written folder")
        assert 3 not in version_states(address, "digits")
        # ...until it is complete (its last piece moved in at once).
        shutil.copytree(base / "2" / "assets.extra", half / "assets.extra")
        shutil.copytree(base / "2" / "variables", tmp_path / "variables")
        os.rename(tmp_path / "variables", half / "variables")
        wait_for(lambda: loop.answered(3), 120, "answers from version 3")
    finally:
        loop.stop.set()
        loop.join(60)
        server.stop(grace=1)

    assert loop.errors == []
    assert loop.versions == sorted(loop.versions), "an answer came from an older version"
    assert {1, 2, 3} <= set(loop.versions)
