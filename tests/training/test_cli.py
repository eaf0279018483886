"""The command line refuses bad input with one line on stderr and exit status 2, before
writing anything under models/ or runs/ (these run the real `python -m training`)."""

import numpy as np
import pytest

from tests.training.conftest import ROOT, iris_rows, run_cli, snapshot, write_csv


@pytest.fixture
def repo(tmp_path):
    """models/ and runs/ that already hold something, to prove they stay unchanged."""
    models, runs = tmp_path / "models", tmp_path / "runs"
    (models / "iris" / "1").mkdir(parents=True)
    (models / "iris" / "1" / "saved_model.pb").write_bytes(b"\x00")
    (models / "models.config").write_text(
        f'model_config_list {{ config {{ name: "iris" base_path: "{models / "iris"}"'
        ' model_platform: "tensorflow" } }\n'
    )
    (runs / "iris" / "1").mkdir(parents=True)
    (runs / "iris" / "1" / "report.json").write_text("{}")
    return models, runs


def data_files(tmp_path):
    """The data files the bad-input table refers to, by name."""
    header, rows = iris_rows()
    files = {
        "good.csv": write_csv(tmp_path / "good.csv", header, rows),
        "nolabel.csv": write_csv(tmp_path / "nolabel.csv", header[:-1], [r[:-1] for r in rows]),
        "text.csv": write_csv(tmp_path / "text.csv", header,
                              [*rows[:5], ["wide", 3.0, 1.0, 0.2, "setosa"], *rows[5:]]),
        "nan.csv": write_csv(tmp_path / "nan.csv", header,
                             [*rows[:9], [5.0, "", 1.0, 0.2, "setosa"], *rows[9:]]),
        "oneclass.csv": write_csv(tmp_path / "oneclass.csv", header, rows[:50]),
        "tiny.csv": write_csv(tmp_path / "tiny.csv", header, rows[:50] + rows[50:56]),
    }
    (tmp_path / "broken.yaml").write_text("epochs: [3\n")
    (tmp_path / "extra.yaml").write_text("dataset: iris\nlayers: [3]\n")
    np.savez(tmp_path / "noy.npz", x=np.zeros((3, 2)))
    return files


CSV = ["--set", "dataset=csv", "--set", "label_column=species", "--set"]

BAD_INPUT = [
    # (arguments, what the one line must say)
    (["--set", "dataset=mnist"], "expected one of digits, iris, wine, breast_cancer, csv"),
    ([*CSV, "data_path={tmp}/missing.csv"], "does not exist"),
    ([*CSV[:-3], "--set", "data_path={tmp}/nolabel.csv"], "no label column 'label'"),
    ([*CSV, "data_path={tmp}/text.csv"], "line 7: column 'sepal_length' is not a number"),
    ([*CSV, "data_path={tmp}/nan.csv"], "line 11: column 'sepal_width' is not a number: ''"),
    ([*CSV, "data_path={tmp}/oneclass.csv"], "fewer than two classes (only 'setosa')"),
    ([*CSV, "data_path={tmp}/tiny.csv"], "class 'versicolor' has 6 examples"),
    (["--set", "dataset=npz", "--set", "data_path={tmp}/noy.npz"], "has no array 'y'"),
    (["--set", "epoch=3"], "unknown config key 'epoch' in --set; valid keys: activation,"),
    (["--config", "{tmp}/extra.yaml"], "unknown config key 'layers' in config file"),
    (["--set", "epochs=many"], "bad --set epochs=many: expected an integer >= 1"),
    (["--set", "epochs"], "expected key=value"),
    (["--set", "dropout=2"], "bad --set dropout=2: expected a number in [0, 1)"),
    (["--config", "{tmp}/broken.yaml"], "is not valid YAML"),
    (["--config", "{tmp}/absent.yaml"], "cannot read config file"),
    (["--config", "breast_cancer", "--set", "loss=categorical_crossentropy"],
     "categorical_crossentropy needs three or more classes"),
    (["--config", "iris", "--set", "monitor=val_auc"], "only logged for two classes"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
]


@pytest.mark.parametrize("args, message", BAD_INPUT, ids=[m[:40] for _, m in BAD_INPUT])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, repo, args, message):
    data_files(tmp_path)
    models, runs = repo
    before = snapshot(models, runs)
    argv = [a.format(tmp=tmp_path) for a in args]
    result = run_cli(*argv, "--set", f"models_dir={models}", "--set", f"runs_dir={runs}")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert result.stdout == ""
    assert snapshot(models, runs) == before


def test_a_broken_models_config_is_bad_input_too(tmp_path, repo):
    models, runs = repo
    (models / "models.config").write_text("model_config_list { oops")
    before = snapshot(models, runs)
    result = run_cli("--config", "iris", "--set", f"models_dir={models}",
                     "--set", f"runs_dir={runs}")
    assert result.returncode == 2
    assert "not a valid TF Serving model config" in result.stderr
    assert snapshot(models, runs) == before


def test_nothing_is_created_when_the_folders_do_not_exist_yet(tmp_path):
    result = run_cli("--set", "epochs=0", "--set", f"models_dir={tmp_path}/m",
                     "--set", f"runs_dir={tmp_path}/r")
    assert result.returncode == 2
    assert list(tmp_path.iterdir()) == []


def test_help_lists_every_config_key():
    result = run_cli("--help")
    assert result.returncode == 0
    for key in ("epochs", "seed", "name", "models_dir", "runs_dir", "hidden_units", "strategy"):
        assert f"  {key} " in result.stdout


def test_the_readmes_bad_input_example_is_what_the_job_prints(tmp_path):
    readme = (ROOT / "README.md").read_text()
    example = readme.split("$ .venv/bin/python -m training --set epoch=3\n")[1].splitlines()[0]
    shown = example.removesuffix("...")
    result = run_cli("--set", "epoch=3", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith(shown)
