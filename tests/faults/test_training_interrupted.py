"""Scenario 5: the training job dies during its export, or runs out of disk.

Both tests share one stack (model server, gateway, load) over a repository on a small
tmpfs mounted for the module (`mount -t tmpfs`, as root; on a plain folder if mounting is
not permitted, where the full-disk test is skipped):
- SIGKILL while the SavedModel is being written (the job's hidden staging folder has
  files): no new version appears, the model server never reports one, the previous
  version serves throughout, and the next run publishes the next number;
- a full disk: the job exits 2 with one line on stderr, leaves nothing behind, the
  previous version serves throughout; once space is freed the next run publishes the
  next number.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.load import LoadDriver, Reference, note, report
from tests.faults.processes import (
    Gateway,
    ModelServer,
    Proc,
    StatusWatcher,
    run_training,
    training_job,
    versions,
)
from tests.faults.repository import MODEL, Repo, make_repo
from tests.model_server.support import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]

DISK_SIZE = "16m"
LEAVE_FREE = 64 * 1024  # bytes left on the "full" disk: far less than a SavedModel


@dataclass
class Stack:
    repo: Repo
    disk: Path | None
    why_no_disk: str
    model_server: ModelServer
    gateway: Gateway
    logs: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory, model_repo):
    root = tmp_path_factory.mktemp("training_interrupted")
    disk = root / "disk"
    disk.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(disk)],
                                 capture_output=True, text=True, check=False)
        why = "" if mounted.returncode == 0 else (mounted.stderr.strip() or f"mount exited {mounted.returncode}")
    except FileNotFoundError:
        why = "no mount command"
    try:
        repo = make_repo(disk, model_repo)
        server = ModelServer(repo.config_path, root).start()
        gateway = Gateway(repo.models_dir, server.address, root)
        try:
            server.wait_available(MODEL, 1)
            gateway.start()
            yield Stack(repo, disk if not why else None, why, server, gateway, root)
        finally:
            gateway.stop()
            server.stop()
    finally:
        if not why:
            subprocess.run(["umount", str(disk)], check=False)


def references_of(repo: Repo, inputs) -> dict[str, Reference]:
    """What every version now in the repository answers."""
    return {str(v): Reference.of_version(repo.model_dir / str(v), inputs) for v in versions(repo.model_dir)}


def hidden(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.startswith(".") and p.is_dir()} if folder.is_dir() else set()


def exporting(model_dir: Path) -> Path | None:
    """A staging folder of the job that already holds part of the SavedModel."""
    for path in model_dir.glob(".staging-*"):
        try:
            if any(path.iterdir()):
                return path
        except FileNotFoundError:
            continue
    return None


def test_training_killed_during_export(stack, cases):
    repo, server = stack.repo, stack.model_server
    before = versions(repo.model_dir)
    refs = references_of(repo, cases.inputs)
    driver = LoadDriver(stack.gateway.url, cases.request, concurrency=2, max_requests=200_000,
                        max_seconds=1800, interval=0.05, label="5 training killed during export")
    with driver, StatusWatcher(server.address, MODEL) as watcher:
        driver.wait_until(lambda o: sum(x.status == 200 for x in o) >= 10, 120, "answers before training")
        job = Proc(training_job(repo.models_dir, repo.runs_dir), dict(os.environ), stack.logs / "killed-job.log")
        staging = wait_for(lambda: exporting(repo.model_dir), 900, "the training job writing its export")
        job.signal(signal.SIGKILL)
        assert job.wait(60) == -signal.SIGKILL
        assert staging.is_dir(), "the job published before it was killed"
        assert versions(repo.model_dir) == before

        done = run_training(repo.models_dir, repo.runs_dir)
        assert done.returncode == 0, done.stderr[-3000:]
        new = before[-1] + 1
        assert versions(repo.model_dir) == [*before, new]
        server.wait_available(MODEL, new)
        refs[str(new)] = Reference.of_version(repo.model_dir / str(new), cases.inputs)
        driver.wait_until(lambda o: any(x.version == str(new) for x in o), 300, f"answers from version {new}")
    figures = report(driver)

    assert figures.failed == 0 and figures.errors == {}, figures.line()
    assert cases.all_problems(driver.outcomes(), refs) == []
    assert watcher.polls > 0 and watcher.versions() <= {*before, new}, watcher.seen
    # The killed job's staging folder stays (nothing removes another process's folder),
    # hidden from the model server, which only loads folders named by a number.
    assert staging.is_dir()


def test_training_on_a_full_disk(stack, cases):
    if stack.disk is None:
        pytest.skip(f"cannot mount a tmpfs for the full disk ({stack.why_no_disk}): needs root or CAP_SYS_ADMIN")
    repo, server = stack.repo, stack.model_server
    before = versions(repo.model_dir)
    leftovers = hidden(repo.model_dir), hidden(repo.runs_dir / MODEL)
    refs = references_of(repo, cases.inputs)
    filler = stack.disk / "filler"
    driver = LoadDriver(stack.gateway.url, cases.request, concurrency=2, max_requests=200_000,
                        max_seconds=1800, interval=0.05, label="5 training on a full disk")
    with driver, StatusWatcher(server.address, MODEL) as watcher:
        driver.wait_until(lambda o: sum(x.status == 200 for x in o) >= 10, 120, "answers before training")
        fill(filler, LEAVE_FREE)
        failed = run_training(repo.models_dir, repo.runs_dir)
        filler.unlink()
        errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
        note(f"[5 full disk] exit {failed.returncode}: {errors}")
        assert failed.returncode == 2, failed.stderr[-3000:]
        assert len(errors) == 1 and "no space left" in errors[0].lower(), failed.stderr[-3000:]
        assert failed.stderr.strip().splitlines()[-1] == errors[0] and "Traceback" not in failed.stderr
        assert versions(repo.model_dir) == before
        assert (hidden(repo.model_dir), hidden(repo.runs_dir / MODEL)) == leftovers, "the job left folders behind"
        served_after_failure = len(driver.outcomes())
        driver.wait_until(lambda o: sum(x.status == 200 for x in o[served_after_failure:]) >= 10, 120,
                          "answers after the failed run")

        done = run_training(repo.models_dir, repo.runs_dir)
        assert done.returncode == 0, done.stderr[-3000:]
        new = before[-1] + 1
        assert versions(repo.model_dir) == [*before, new]
        server.wait_available(MODEL, new)
        refs[str(new)] = Reference.of_version(repo.model_dir / str(new), cases.inputs)
        driver.wait_until(lambda o: any(x.version == str(new) for x in o), 300, f"answers from version {new}")
    figures = report(driver)

    assert figures.failed == 0 and figures.errors == {}, figures.line()
    assert cases.all_problems(driver.outcomes(), refs) == []
    assert watcher.polls > 0 and watcher.versions() <= {*before, new}, watcher.seen


def fill(path: Path, leave: int) -> None:
    """Write a file that leaves about `leave` bytes free on its file system."""
    stat = os.statvfs(path.parent)
    size = max(stat.f_bavail * stat.f_frsize - leave, 0)
    with open(path, "wb") as handle:
        handle.truncate(0)
        chunk = b"\0" * (1 << 20)
        while size > 0:
            size -= handle.write(chunk[: min(size, len(chunk))])
    free = shutil.disk_usage(path.parent).free
    assert free <= 2 * leave, f"{free} bytes still free"
