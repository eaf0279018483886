"""The version lifecycle, driven poll by poll over real SavedModels in a tmp repository:
new versions, broken versions, deleted versions, policies, labels, load retries."""

from __future__ import annotations

import shutil

import pytest

from serving.model_server.config import ModelConfig, VersionPolicy
from serving.model_server.errors import ServingError
from serving.model_server.manager import AVAILABLE, END, Manager
from serving.model_server.server import default_loader
from tests.model_server.support import copy_model, wait_for


@pytest.fixture
def source(model_repo):
    """The trained digits SavedModel, to publish under any version number."""
    return model_repo.results["digits"].version_dir


@pytest.fixture
def base(tmp_path):
    return tmp_path / "digits"


def make_manager(loader=None, **kwargs) -> Manager:
    kwargs.setdefault("max_num_load_retries", 0)
    kwargs.setdefault("load_retry_interval", 0.0)
    return Manager(loader or default_loader(), **kwargs)


def states(manager: Manager, name: str = "digits") -> dict[int, str]:
    names = {10: "START", 20: "LOADING", 30: "AVAILABLE", 40: "UNLOADING", 50: "END"}
    return {s.version: names[s.state] for s in manager.statuses(name)}


def served_version(manager: Manager, name: str = "digits", **kwargs) -> int:
    return manager.get_servable(name, **kwargs).version


def break_savedmodel(version_dir):
    (version_dir / "saved_model.pb").write_bytes(b"this is not a SavedModel")


def test_newest_version_is_loaded_and_replaces_the_old_one(source, base):
    copy_model(source, base, 1)
    manager = make_manager()
    manager.set_models([ModelConfig("digits", base)])
    manager.poll_once()
    assert states(manager) == {1: "AVAILABLE"}
    old = manager.get_servable("digits")

    copy_model(source, base, 2)
    manager.poll_once()
    assert states(manager) == {1: "END", 2: "AVAILABLE"}
    assert served_version(manager) == 2
    # A request that still holds version 1 can finish on it.
    assert old.version == 1 and old.signature_defs
    with pytest.raises(ServingError) as info:
        manager.get_servable("digits", version=1)
    assert info.value.code.name == "NOT_FOUND"
    manager.stop()
    assert states(manager) == {1: "END", 2: "END"}


def test_a_broken_new_version_leaves_the_old_one_serving(source, base):
    copy_model(source, base, 1)
    manager = make_manager()
    manager.set_models([ModelConfig("digits", base)])
    manager.poll_once()

    break_savedmodel(copy_model(source, base, 2))
    manager.poll_once()
    assert states(manager) == {1: "AVAILABLE", 2: "END"}
    broken = next(s for s in manager.statuses("digits") if s.version == 2)
    assert broken.error_code == 15  # DATA_LOSS
    assert broken.error_message == f"Can't parse the SavedModel in {base / '2'}"
    assert served_version(manager) == 1

    # A later good version takes over, and then the old one goes.
    copy_model(source, base, 3)
    manager.poll_once()
    assert states(manager) == {1: "END", 2: "END", 3: "AVAILABLE"}
    manager.stop()


def test_a_version_that_fails_its_warmup_never_becomes_available(source, base, model_repo):
    target = copy_model(source, base, 1)
    other = model_repo.results["breast_cancer"].version_dir / "assets.extra" / "tf_serving_warmup_requests"
    shutil.copy(other, target / "assets.extra" / "tf_serving_warmup_requests")
    manager = make_manager()
    manager.set_models([ModelConfig("digits", base)])
    manager.poll_once()
    (status,) = manager.statuses("digits")
    assert status.state == END
    assert "warmup request 1 failed" in status.error_message


def test_incomplete_and_non_integer_folders_are_never_loaded(source, base):
    copy_model(source, base, 1)
    half = base / "7"
    half.mkdir()
    (half / "saved_model.pb").write_bytes((source / "saved_model.pb").read_bytes())  # no variables/
    shutil.copytree(source, base / "8.tmp")
    shutil.copytree(source, base / "latest")
    manager = make_manager()
    manager.set_models([ModelConfig("digits", base)])
    manager.poll_once()
    assert states(manager) == {1: "AVAILABLE"}


def test_a_version_deleted_from_disk_is_unloaded(source, base):
    copy_model(source, base, 1)
    copy_model(source, base, 2)
    manager = make_manager()
    manager.set_models([ModelConfig("digits", base, VersionPolicy("all"))])
    manager.poll_once()
    assert states(manager) == {1: "AVAILABLE", 2: "AVAILABLE"}

    shutil.rmtree(base / "2")
    manager.poll_once()
    assert states(manager) == {1: "AVAILABLE", 2: "END"}
    assert served_version(manager) == 1

    shutil.rmtree(base / "1")
    manager.poll_once()
    assert states(manager) == {1: "END", 2: "END"}
    with pytest.raises(ServingError) as info:
        manager.get_servable("digits")
    assert info.value.code.name == "NOT_FOUND"


def test_a_missing_base_path_keeps_what_is_loaded(source, base, tmp_path):
    copy_model(source, base, 1)
    manager = make_manager()
    manager.set_models([ModelConfig("digits", base)])
    manager.poll_once()
    base.rename(tmp_path / "moved")
    manager.poll_once()
    assert states(manager) == {1: "AVAILABLE"}


@pytest.mark.parametrize(
    "policy, expected",
    [
        (VersionPolicy("latest", 1), {3: "AVAILABLE"}),
        (VersionPolicy("latest", 2), {2: "AVAILABLE", 3: "AVAILABLE"}),
        (VersionPolicy("all"), {1: "AVAILABLE", 2: "AVAILABLE", 3: "AVAILABLE"}),
        (VersionPolicy("specific", versions=frozenset({1, 3, 9})), {1: "AVAILABLE", 3: "AVAILABLE"}),
    ],
    ids=["latest", "latest-2", "all", "specific"],
)
def test_version_policies(source, base, policy, expected):
    for version in (1, 2, 3):
        copy_model(source, base, version)
    manager = make_manager()
    manager.set_models([ModelConfig("digits", base, policy)])
    manager.poll_once()
    assert states(manager) == expected
    assert served_version(manager) == max(expected)
    manager.stop()


def test_version_labels(source, base):
    for version in (1, 2):
        copy_model(source, base, version)
    manager = make_manager()
    labels = {"stable": 1, "canary": 2, "gone": 5}
    manager.set_models([ModelConfig("digits", base, VersionPolicy("all"), labels)])
    manager.poll_once()
    assert served_version(manager, label="stable") == 1
    assert served_version(manager, label="canary") == 2
    with pytest.raises(ServingError) as info:
        manager.get_servable("digits", label="beta")
    assert info.value.code.name == "INVALID_ARGUMENT"
    assert "Unrecognized servable version label: beta" in info.value.message
    with pytest.raises(ServingError) as info:
        manager.get_servable("digits", label="gone")
    assert info.value.code.name == "NOT_FOUND"


def test_a_failed_load_is_retried_then_reported(source, base):
    """Fault injection: a loader that fails a given number of times before really loading."""
    copy_model(source, base, 1)
    real = default_loader()
    failures = {"left": 1}

    def flaky(name, version, path):
        if failures["left"]:
            failures["left"] -= 1
            raise OSError("injected: disk hiccup")
        return real(name, version, path)

    manager = make_manager(flaky, max_num_load_retries=1)
    manager.set_models([ModelConfig("digits", base)])
    manager.poll_once()
    assert states(manager) == {1: "LOADING"}  # failed once, a retry is due
    manager.poll_once()
    assert states(manager) == {1: "AVAILABLE"}

    failures["left"] = 5
    copy_model(source, base, 2)
    manager.poll_once()
    manager.poll_once()
    assert states(manager) == {1: "AVAILABLE", 2: "END"}
    failed = next(s for s in manager.statuses("digits") if s.version == 2)
    assert failed.error_message == "injected: disk hiccup"


def test_one_broken_model_does_not_stop_the_others(source, tmp_path):
    copy_model(source, tmp_path / "good", 1)
    break_savedmodel(copy_model(source, tmp_path / "bad", 1))
    manager = make_manager()
    manager.set_models([ModelConfig("bad", tmp_path / "bad"), ModelConfig("good", tmp_path / "good")])
    manager.poll_once()
    assert states(manager, "bad") == {1: "END"}
    assert states(manager, "good") == {1: "AVAILABLE"}
    assert served_version(manager, "good") == 1


def test_models_added_and_removed_by_config(source, tmp_path):
    copy_model(source, tmp_path / "a", 1)
    copy_model(source, tmp_path / "b", 1)
    manager = make_manager()
    manager.set_models([ModelConfig("a", tmp_path / "a")])
    manager.poll_once()
    manager.set_models([ModelConfig("b", tmp_path / "b")])
    manager.poll_once()
    assert states(manager, "a") == {1: "END"}
    assert states(manager, "b") == {1: "AVAILABLE"}
    assert manager.model_names() == ["b"]
    with pytest.raises(ServingError):
        manager.get_servable("a")


def test_the_polling_thread_picks_up_new_versions(source, base):
    copy_model(source, base, 1)
    manager = make_manager(poll_interval=0.05)
    manager.set_models([ModelConfig("digits", base)])
    manager.start()
    try:
        wait_for(lambda: states(manager) == {1: "AVAILABLE"}, 60, "version 1")
        copy_model(source, base, 2)
        wait_for(lambda: states(manager) == {1: "END", 2: "AVAILABLE"}, 60, "version 2 to replace 1")
    finally:
        manager.stop()
    assert manager.statuses("digits")[-1].state == END
    assert AVAILABLE not in {s.state for s in manager.statuses("digits")}
