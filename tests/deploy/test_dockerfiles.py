"""The two Dockerfiles: hadolint-clean, a build context without the virtualenv, models
or generated code, the build steps' own scripts working, and each image installing its
component's extra only (the gateway with no TensorFlow at all)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.deploy import support

HADOLINT = support.VENV_BIN / "hadolint"
SCRIPT_CALL = re.compile(r"python (?P<script>(?:scripts|/tmp)/\w+\.py)(?P<args>[^&>]*)")


@pytest.mark.parametrize("name", sorted(support.DOCKERFILES))
def test_hadolint_passes(name):
    path = support.DOCKERFILES[name]
    proc = subprocess.run(
        [str(HADOLINT), str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(support.DOCKERFILES))
def test_every_ignored_hadolint_rule_is_justified(name):
    lines = support.DOCKERFILES[name].read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore" in line:
            before = lines[i - 1].strip() if i else ""
            assert before.startswith("#") and "hadolint" not in before, f"{name}:{i + 1} unexplained"


def test_gateway_image_runs_gunicorn_in_exec_form_with_a_curl_free_healthcheck(dockerfiles):
    gateway = dockerfiles["gateway"]
    assert gateway.exec_form("CMD") == [
        "gunicorn", "-c", "serving/gunicorn.conf.py", "serving.gateway.wsgi:app",
    ]
    assert gateway.final.last("ENTRYPOINT") is None
    check = gateway.healthcheck()
    assert check[:2] == ["python", "-c"] and "urllib" in check[2] and "curl" not in check[2]
    assert len(gateway.stages) == 2, "builder + runtime"
    runtime_runs = " ".join(gateway.final.all("RUN"))
    assert "pip install" not in runtime_runs, "the runtime stage installs nothing itself"
    assert "check --no-tensorflow" in runtime_runs


def test_training_image_is_the_job_itself(dockerfiles):
    train = dockerfiles["train"]
    entrypoint = train.exec_form("ENTRYPOINT")
    assert entrypoint[:3] == ["python", "-m", "training"]
    assert train.final.last("CMD") is None, "arguments come from compose / docker run"
    runs = " ".join(train.final.all("RUN"))
    assert "requirements training" in runs and "-c constraints.txt" in runs and "pip check" in runs


def run_build_step(call: re.Match, tmp_path, python_dir) -> subprocess.CompletedProcess:
    """A build step's script call, run here: /src (the builder's checkout) and /tmp are
    mapped to a temporary folder, the scripts are this checkout's."""
    script = call["script"].replace("/tmp/image_deps.py", "scripts/image_deps.py")
    args = call["args"].replace("/src", str(tmp_path))
    env = {"PATH": f"{python_dir}:/usr/bin:/bin"}
    return subprocess.run(
        ["bash", "-c", f"python {script}{args}"],
        cwd=support.ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.fixture(scope="module")
def python_without_tensorflow(tmp_path_factory):
    """The system Python (no TensorFlow, as in the gateway image), as `python`."""
    system = shutil.which("python3", path="/usr/bin:/bin")
    if system is None:
        pytest.skip("no system python3")
    folder = tmp_path_factory.mktemp("python-without-tensorflow")
    (folder / "python").symlink_to(system)
    return folder


@pytest.mark.parametrize(
    "name", ["gateway", pytest.param("train", marks=pytest.mark.slow)]  # imports TensorFlow
)
def test_build_steps_scripts_run(name, tmp_path, python_without_tensorflow):
    """Every `python scripts/...` of the RUN instructions works with its very arguments:
    in the project's virtualenv (which has TensorFlow, as the training image does), or,
    for the gateway's no-TensorFlow assertion, in a Python without it."""
    calls = [
        call
        for stage in support.parse_dockerfile(support.DOCKERFILES[name]).stages
        for run in stage.all("RUN")
        for call in SCRIPT_CALL.finditer(run)
    ]
    assert calls
    for call in calls:
        no_tf = "--no-tensorflow" in call["args"]
        python_dir = python_without_tensorflow if no_tf else support.VENV_BIN
        proc = run_build_step(call, tmp_path, python_dir)
        assert proc.returncode == 0, f"{call.group(0)}\n{proc.stdout}{proc.stderr}"
        if no_tf:  # and the same assertion does fail where TensorFlow is installed
            failing = run_build_step(call, tmp_path, support.VENV_BIN)
            assert failing.returncode == 1 and "must not be installed" in failing.stderr
        if "gen_protos.py" in call["script"]:
            assert (tmp_path / "protogen" / "tfserving" / "predict_pb2.py").is_file()


def image_deps(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(support.ROOT / "scripts/image_deps.py"), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_gateway_requirements_have_no_tensorflow():
    lines = image_deps("requirements", "gateway").stdout.split()
    project = support.pyproject()["project"]
    assert lines == project["dependencies"] + project["optional-dependencies"]["gateway"]
    assert not [r for r in lines if r.lower().startswith(("tensorflow", "tf-", "keras"))]


def test_training_requirements_pin_tensorflow_and_its_serving_api():
    lines = image_deps("requirements", "training").stdout.split()
    assert f"tensorflow=={support.pinned_version('tensorflow')}" in lines
    assert f"tensorflow-serving-api=={support.pinned_version('tensorflow-serving-api')}" in lines
    assert not [r for r in lines if r.startswith(("gunicorn", "flask", "grpcio-tools"))]


def test_unknown_extra_is_refused():
    proc = image_deps("requirements", "gatway")
    assert proc.returncode == 1 and "unknown extra(s) gatway" in proc.stderr


def test_tensorflow_check_rejects_a_wrong_version():
    proc = image_deps("check", "--tensorflow", "1.15.0")
    assert proc.returncode == 1 and "expected TensorFlow 1.15.0" in proc.stderr


def build_context(root, patterns_file) -> set[str]:
    """The files docker-compose sends as build context: docker-py's own .dockerignore
    matching (docker-compose 1.x builds through it), run by the system Python."""
    code = (
        "import sys, json; from docker.utils.build import exclude_paths; "
        "patterns = [l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith('#')]; "
        "print(json.dumps(sorted(exclude_paths(sys.argv[1], patterns))))"
    )
    proc = subprocess.run(
        ["/usr/bin/python3", "-c", code, str(root), str(patterns_file)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if proc.returncode != 0 and "No module named 'docker'" in proc.stderr:
        pytest.skip("docker-py (python3-docker, installed with docker-compose) is missing")
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout))


def test_dockerignore_keeps_heavy_and_generated_files_out(tmp_path, compose_binary):
    for rel in (
        ".venv/bin/python", ".git/HEAD", "models/models.config", "models/digits/1/saved_model.pb",
        "runs/digits/1/report.json", "protogen/tfserving/predict_pb2.py",
        "serving/gateway/__pycache__/app.cpython-311.pyc", ".pytest_cache/v/x",
        "serving/gateway/app.py", "pyproject.toml",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    context = build_context(tmp_path, support.ROOT / ".dockerignore")
    files = {p for p in context if (tmp_path / p).is_file()}
    assert files == {"serving/gateway/app.py", "pyproject.toml"}


def test_every_copied_source_is_in_the_build_context(dockerfiles, compose_binary):
    context = build_context(support.ROOT, support.ROOT / ".dockerignore")
    for name, dockerfile in dockerfiles.items():
        for stage in dockerfile.stages:
            for args in stage.all("COPY"):
                if args.startswith("--from="):
                    continue
                *sources, _ = args.split()
                for source in sources:
                    assert source.rstrip("/") in context, f"{name}: COPY {source} is excluded or missing"
