"""models.config parsing: TF Serving's text format, policies, labels, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.model_server.config import (
    ConfigError,
    VersionPolicy,
    load_config,
    parse_config,
    single_model,
)


def test_parses_the_file_the_training_job_writes(tmp_path):
    text = f"""
    model_config_list {{
      config {{ name: "digits" base_path: "{tmp_path}/digits" model_platform: "tensorflow" }}
      config {{ name: "iris" base_path: "{tmp_path}/iris" model_platform: "tensorflow" }}
    }}"""
    models = parse_config(text)
    assert [m.name for m in models] == ["digits", "iris"]
    assert models[0].base_path == tmp_path / "digits"
    assert models[0].policy == VersionPolicy("latest", 1)
    assert models[0].labels == {}


def test_policies_and_labels():
    text = """
    model_config_list {
      config {
        name: "a" base_path: "/m/a"
        model_version_policy { specific { versions: 1 versions: 3 } }
        version_labels { key: "stable" value: 1 }
        version_labels { key: "canary" value: 3 }
      }
      config { name: "b" base_path: "/m/b" model_version_policy { all {} } }
      config { name: "c" base_path: "/m/c" model_version_policy { latest { num_versions: 2 } } }
      config { name: "d" base_path: "/m/d" model_version_policy { latest {} } }
    }"""
    a, b, c, d = parse_config(text)
    assert a.policy == VersionPolicy("specific", versions=frozenset({1, 3}))
    assert a.labels == {"stable": 1, "canary": 3}
    assert b.policy.kind == "all"
    assert c.policy == VersionPolicy("latest", 2)
    assert d.policy == VersionPolicy("latest", 1)


@pytest.mark.parametrize(
    "policy, on_disk, expected",
    [
        (VersionPolicy("latest", 1), [1, 5, 3], {5}),
        (VersionPolicy("latest", 2), [1, 5, 3], {3, 5}),
        (VersionPolicy("latest", 1), [], set()),
        (VersionPolicy("all"), [2, 1], {1, 2}),
        (VersionPolicy("specific", versions=frozenset({1, 4})), [1, 2, 3], {1}),
    ],
)
def test_policy_selection(policy, on_disk, expected):
    assert policy.select(on_disk) == expected


def test_relative_base_path_is_resolved_against_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (model,) = parse_config('model_config_list { config { name: "m" base_path: "models/m" } }')
    assert model.base_path == tmp_path / "models" / "m"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('model_config_list { config { name: "m" base_path: "/m" } config { name: "m" base_path: "/n" } }', "multiple times"),
        ('model_config_list { config { base_path: "/m" } }', "has no name"),
        ('model_config_list { config { name: "m" } }', "model m has no base_path"),
        ('model_config_list { config { name: "m" base_path: "/m" model_platform: "pytorch" } }', "model_platform 'pytorch'"),
        ('model_config_list { config { name: "m" base_path: "gs://bucket/m" } }', "only local folders"),
        ('model_config_list { config { name: "m" base_path: "/m" colour: "red" } }', "colour"),
        ('model_config_list { config { name: "m" base_path: "/m" model_version_policy { specific {} } } }', "lists no versions"),
        ('model_config_list { config { name: "m" base_path: "/m"', "model config"),
        ("", "expected model_config_list"),
    ],
    ids=["duplicate", "no-name", "no-base-path", "platform", "remote-path", "unknown-field", "empty-specific", "truncated", "empty"],
)
def test_bad_configs_are_refused_with_the_reason(text, fragment):
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert fragment in str(info.value)


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read model config .*missing.config"):
        load_config(tmp_path / "missing.config")
    bad = tmp_path / "bad.config"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


def test_the_official_text_format_reads_the_same(tmp_path):
    """Our text is TF Serving's: the official message parses it into the same models."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2 as official

    text = """model_config_list { config { name: "m" base_path: "/m" model_platform: "tensorflow"
      model_version_policy { latest { num_versions: 2 } } version_labels { key: "stable" value: 4 } } }"""
    theirs = text_format.Parse(text, official.ModelServerConfig()).model_config_list.config[0]
    (ours,) = parse_config(text)
    assert (ours.name, str(ours.base_path)) == (theirs.name, theirs.base_path)
    assert ours.policy.num_versions == theirs.model_version_policy.latest.num_versions
    assert ours.labels == dict(theirs.version_labels)


def test_single_model():
    (model,) = single_model("digits", "/srv/models/digits")
    assert model.name == "digits" and model.base_path == Path("/srv/models/digits")
    assert model.policy == VersionPolicy("latest", 1)
