"""Publishing into the model repository: atomic, numbered, never overwriting, pruned,
registered in models.config, safe under concurrent publishers."""

import multiprocessing
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from training.errors import ConfigError
from training.repository import (
    prune,
    publish,
    read_models_config,
    register_model,
    staging_dir,
    versions,
)


def stage(scratch, name: str, marker: str) -> tuple[Path, Path]:
    """Staged model and run folders holding one file each, tagged with `marker`."""
    model = staging_dir(scratch.models_dir / name)
    (model / "saved_model.pb").write_text(marker)
    run = staging_dir(scratch.runs_dir / name)
    (run / "report.json").write_text(marker)
    return model, run


def entries(models_dir: Path) -> dict[str, str]:
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse((models_dir / "models.config").read_text(), config)
    return {c.name: c.base_path for c in config.model_config_list.config}


def test_versions_count_up_and_finalize_sees_the_number(scratch):
    seen = []

    def finalize(version):
        seen.append(version)
        (model / "assets.extra").mkdir()
        (model / "assets.extra" / "v").write_text(str(version))

    for expected in (1, 2):
        model, run = stage(scratch, "m", f"v{expected}")
        published = publish(scratch.models_dir, scratch.runs_dir, "m", model, run, 5, finalize)
        assert published.version == expected
        assert published.version_dir == scratch.models_dir / "m" / str(expected)
        assert (published.version_dir / "saved_model.pb").read_text() == f"v{expected}"
        assert (published.version_dir / "assets.extra" / "v").read_text() == str(expected)
        assert (published.run_dir / "report.json").read_text() == f"v{expected}"
        assert not model.exists() and not run.exists()
    assert seen == [1, 2]
    assert versions(scratch.models_dir / "m") == [1, 2]


def test_an_existing_version_is_never_overwritten(scratch):
    existing = scratch.models_dir / "m" / "7"
    existing.mkdir(parents=True)
    (existing / "saved_model.pb").write_text("old")
    (scratch.runs_dir / "m" / "9").mkdir(parents=True)  # a report outlives its pruned model
    model, run = stage(scratch, "m", "new")
    published = publish(scratch.models_dir, scratch.runs_dir, "m", model, run, 5)
    assert published.version == 10
    assert (existing / "saved_model.pb").read_text() == "old"


def test_staging_folders_are_invisible_to_version_scans(scratch):
    stage(scratch, "m", "x")
    assert versions(scratch.models_dir / "m") == []
    assert all(p.name.startswith(".staging-") for p in (scratch.models_dir / "m").iterdir())


def test_only_the_newest_versions_are_kept(scratch):
    for _ in range(4):
        model, run = stage(scratch, "m", "x")
        publish(scratch.models_dir, scratch.runs_dir, "m", model, run, keep_versions=2)
    assert versions(scratch.models_dir / "m") == [3, 4]
    assert sorted(p.name for p in (scratch.models_dir / "m").iterdir()) == ["3", "4"]
    assert versions(scratch.runs_dir / "m") == [1, 2, 3, 4]  # reports are kept
    assert prune(scratch.models_dir / "m", 1) == [3]


def test_models_config_keeps_other_models_and_their_settings(scratch):
    scratch.models_dir.mkdir()
    (scratch.models_dir / "models.config").write_text(
        'model_config_list { config { name: "other" base_path: "/srv/other" '
        'model_platform: "tensorflow" model_version_policy { latest { num_versions: 2 } } } '
        'config { name: "m" base_path: "/old/place" model_platform: "tensorflow" '
        'version_labels { key: "stable" value: 1 } } }\n'
    )
    register_model(scratch.models_dir, "m")
    register_model(scratch.models_dir, "new")
    config = read_models_config(scratch.models_dir)
    by_name = {c.name: c for c in config.model_config_list.config}
    assert list(by_name) == ["other", "m", "new"]
    assert by_name["other"].model_version_policy.latest.num_versions == 2
    assert by_name["m"].base_path == str((scratch.models_dir / "m").resolve())
    assert by_name["m"].version_labels["stable"] == 1
    assert by_name["new"].model_platform == "tensorflow"
    assert not [p for p in scratch.models_dir.iterdir() if p.name.endswith(".tmp")]


def test_a_broken_models_config_is_refused(scratch):
    scratch.models_dir.mkdir()
    (scratch.models_dir / "models.config").write_text("model_config_list { config { nme: 1 }")
    with pytest.raises(ConfigError, match="not a valid TF Serving model config"):
        read_models_config(scratch.models_dir)


def _publish_in_process(models_dir: str, runs_dir: str, marker: str, queue) -> None:
    from tests.training.conftest import Scratch

    scratch = Scratch(Path(models_dir), Path(runs_dir))
    model, run = stage(scratch, "m", marker)
    published = publish(scratch.models_dir, scratch.runs_dir, "m", model, run, 10)
    queue.put((marker, published.version))


def test_concurrent_publishers_get_distinct_versions(scratch):
    context = multiprocessing.get_context("spawn")  # this process may hold TensorFlow threads
    queue = context.Queue()
    workers = [
        context.Process(target=_publish_in_process,
                        args=(str(scratch.models_dir), str(scratch.runs_dir), f"p{i}", queue))
        for i in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    results = dict(queue.get(timeout=10) for _ in workers)
    assert sorted(results.values()) == [1, 2, 3, 4]
    for marker, version in results.items():
        folder = scratch.models_dir / "m" / str(version)
        assert (folder / "saved_model.pb").read_text() == marker
        assert (scratch.runs_dir / "m" / str(version) / "report.json").read_text() == marker
    assert entries(scratch.models_dir) == {"m": str((scratch.models_dir / "m").resolve())}
