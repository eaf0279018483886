"""The configuration: defaults, YAML files, --set overrides, and every refusal."""

import pytest

from training.config import (
    CONFIG_DIR,
    DEFAULT_CONFIG,
    TrainingConfig,
    build_config,
    load_config,
    parse_override,
)
from training.errors import ConfigError


def test_default_config_is_digits():
    cfg = load_config()
    assert DEFAULT_CONFIG == CONFIG_DIR / "digits.yaml"
    assert (cfg.dataset, cfg.model_name) == ("digits", "digits")


@pytest.mark.parametrize("name", ["digits", "iris", "wine", "breast_cancer"])
def test_every_builtin_config_loads_by_name_and_by_path(name):
    by_name = load_config(name)
    assert by_name == load_config(CONFIG_DIR / f"{name}.yaml")
    assert by_name.dataset == name and by_name.model_name == name


def test_overrides_are_typed_from_yaml_syntax():
    cfg = load_config("iris", [
        "epochs=30", "seed=1", "hidden_units=[64, 32]", "dropout=0.5", "name=flowers",
        "optimizer=sgd", "momentum=0.9", "learning_rate=1e-2", "models_dir=/tmp/m",
    ])
    assert cfg.epochs == 30 and cfg.seed == 1
    assert cfg.hidden_units == (64, 32)
    assert cfg.dropout == 0.5 and cfg.momentum == 0.9 and cfg.learning_rate == 0.01
    assert cfg.model_name == "flowers" and cfg.models_dir == "/tmp/m"


def test_a_later_override_wins_and_a_single_width_is_a_list():
    cfg = load_config("iris", ["epochs=3", "epochs=4", "hidden_units=16"])
    assert cfg.epochs == 4 and cfg.hidden_units == (16,)


def test_no_hidden_layers_is_allowed():
    assert load_config("iris", ["hidden_units=[]"]).hidden_units == ()


def test_file_data_sets_are_named_after_the_file(tmp_path):
    cfg = build_config({"dataset": "csv", "data_path": "/data/My Flowers.csv"})
    assert cfg.model_name == "My_Flowers"


def test_to_dict_is_plain_json_with_the_resolved_name():
    data = TrainingConfig().to_dict()
    assert data["name"] == "digits" and isinstance(data["hidden_units"], list)


def test_a_yaml_file_with_only_some_keys_gets_defaults(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("dataset: wine\nepochs: 7\n")
    cfg = load_config(path)
    assert (cfg.dataset, cfg.epochs, cfg.batch_size) == ("wine", 7, TrainingConfig().batch_size)


@pytest.mark.parametrize(
    "override, message",
    [
        ("epochs=abc", "bad --set epochs=abc: expected an integer >= 1"),
        ("epochs=0", "expected an integer >= 1"),
        ("epochs=2.5", "expected an integer"),
        ("epochs=true", "expected an integer"),
        ("dropout=1", "dropout=1: expected a number in [0, 1)"),
        ("learning_rate=0", "expected a number in (0"),
        ("dataset=mnist", "expected one of digits, iris, wine, breast_cancer, csv, npz, images"),
        ("optimizer=rmsprop", "expected one of adam, sgd"),
        ("loss=hinge", "expected one of auto"),
        ("hidden_units=[64, -1]", "expected a list of positive integers"),
        ("hidden_units=[64", "expected a list of positive integers"),
        ("name=../evil", "expected letters, digits"),
        ("monitor=val_f1", "expected one of val_loss"),
        ("strategy=tpu", "expected one of auto, mirrored, multi_worker"),
        ("test_fraction=0.7", "expected a number in (0, 0.5)"),
    ],
)
def test_bad_override_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=None) as info:
        load_config("digits", [override])
    assert message in str(info.value)


def test_unknown_override_key_lists_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        load_config("digits", ["epoch=3"])
    text = str(info.value)
    assert "unknown config key 'epoch'" in text
    assert "valid keys: " in text and "epochs" in text and "hidden_units" in text


def test_unknown_key_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("dataset: iris\nlayers: [3]\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'layers' in config file .*bad\.yaml"):
        load_config(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("epochs", "expected key=value"),
        ("=3", "expected key=value"),
    ],
)
def test_malformed_override(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_override(text)


@pytest.mark.parametrize(
    "content, message",
    [
        ("dataset: [iris\n", "not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
    ],
)
def test_broken_config_files(tmp_path, content, message):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "values, message",
    [
        ({"validation_fraction": 0.3, "test_fraction": 0.4}, "at least 40%"),
        ({"dataset": "csv"}, "needs data_path"),
        ({"dataset": "iris", "data_path": "x.csv"}, "built in"),
        ({"optimizer": "adam", "momentum": 0.9}, "momentum applies to optimizer sgd"),
    ],
)
def test_cross_key_rules(values, message):
    with pytest.raises(ConfigError, match=message):
        build_config(values)


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        build_config({"strategy": "multi_worker"})
