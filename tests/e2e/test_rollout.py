"""A rollout under load: while clients keep sending requests to the gateway (gunicorn,
2 workers × 4 threads), the training job publishes version 2 of `digits`, trained on the
same images with renamed labels ("digit-0" ... "digit-9"). The model server loads it and
unloads version 1. No request fails, and every answer carries the labels of the version
it names: never a label of version 1 on a version 2 answer, or the reverse.
"""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import requests

from tests.conftest import train_into
from tests.e2e.support import start_stack

V1_LABELS = {str(i) for i in range(10)}
V2_LABELS = {f"digit-{i}" for i in range(10)}
CLIENTS = 4


class Load:
    """Client threads predicting a batch in a loop, recording every answer."""

    def __init__(self, url: str, instances: list):
        self.url = f"{url}/v1/models/digits:predict"
        self.body = {"instances": instances}
        self.answers: list[tuple[float, int, str | None, list[str]]] = []  # sent, status, version, labels
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _run(self) -> None:
        with requests.Session() as session:
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    response = session.post(self.url, json=self.body, timeout=60)
                    status = response.status_code
                    body = response.json()
                except (requests.RequestException, ValueError) as exc:
                    status, body = -1, {"error": repr(exc)}
                labels = [p["label"] for p in body.get("predictions", [])] or [body.get("error")]
                with self.lock:
                    self.answers.append((sent, status, body.get("model_version"), labels))

    def count(self, predicate) -> int:
        with self.lock:
            return sum(1 for a in self.answers if predicate(a))

    def wait_for(self, predicate, n: int, timeout: float, what: str) -> None:
        """Bounded wait until `n` answers satisfy `predicate`."""
        deadline = time.monotonic() + timeout
        while self.count(predicate) < n:
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)  # poll interval


def version_states(url: str) -> dict[str, str]:
    status = requests.get(f"{url}/v1/models/digits", timeout=30).json()
    return {s["version"]: s["state"] for s in status["model_version_status"]}


def test_rollout_under_load(model_repo, tmp_path):
    digits = model_repo.results["digits"]
    models, runs = tmp_path / "models", tmp_path / "runs"
    shutil.copytree(digits.version_dir, models / "digits" / "1")
    (models / "models.config").write_text(
        "model_config_list {\n"
        f'  config {{ name: "digits" base_path: "{models / "digits"}" model_platform: "tensorflow" }}\n'
        "}\n"
    )
    from sklearn.datasets import load_digits

    data = load_digits()
    npz = tmp_path / "digits_renamed.npz"
    np.savez(npz, x=data.images, y=data.target, labels=np.array(sorted(V2_LABELS)))

    stack = start_stack(models, tmp_path / "stack.log", GATEWAY_WORKERS="2", GATEWAY_THREADS="4")
    load = Load(stack.url, digits.test_inputs[:8].tolist())
    try:
        for thread in load.threads:
            thread.start()
        load.wait_for(lambda a: a[2] == "1", 20, 120, "answers from version 1")

        result = train_into(models, runs, "digits",
                            ["name=digits", "dataset=npz", f"data_path={npz}", "epochs=2", "seed=1"])
        assert result.version == 2 and set(result.metadata.labels) == V2_LABELS

        load.wait_for(lambda a: a[2] == "2", 20, 180, "answers from version 2")
        deadline = time.monotonic() + 180
        while version_states(stack.url).get("1", "END") != "END":
            assert time.monotonic() < deadline, "version 1 was never unloaded"
            time.sleep(0.2)  # poll interval
        unloaded_at = time.monotonic()
        load.wait_for(lambda a: a[0] > unloaded_at, 20, 120, "answers after version 1 was unloaded")
    finally:
        load.stop.set()
        for thread in load.threads:
            thread.join(timeout=120)
        stack.stop()

    answers = load.answers
    failed = [a for a in answers if a[1] != 200]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed: {failed[:5]}"
    for sent, status, version, labels in answers:
        assert len(labels) == 8
        expected = V1_LABELS if version == "1" else V2_LABELS
        assert version in ("1", "2") and set(labels) <= expected, (version, labels)
    assert all(a[2] == "2" for a in answers if a[0] > unloaded_at)
    assert {a[2] for a in answers} == {"1", "2"}
