"""Each container's command line, run on this machine: the images' ENTRYPOINT/CMD and
HEALTHCHECK and the compose commands, with container paths mapped to local ones (see
tests/deploy/support.py). A renamed module, flag or setting breaks these tests rather
than the deployment."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from tests.deploy import support


@pytest.fixture
def compose() -> dict:
    """docker-compose.yml: the commands are the same in the CPU file (test_compose.py
    checks the two differ only in their GPU parts), so they run once."""
    return support.load_compose("gpu")


def run(argv, env, cwd, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def service_env(compose: dict, service: str, **overrides: str) -> dict[str, str]:
    """The service's environment as compose passes it (defaults of ${...} applied)."""
    env = {k: support.interpolate(str(v)) for k, v in compose["services"][service].get("environment", {}).items()}
    env.update(overrides)
    return env


# ----------------------------------------------------------------------------- training job


@pytest.fixture
def train_command(dockerfiles, compose, container_paths):
    """The train service's full command (the image's ENTRYPOINT + compose's command),
    mapped for this machine: (argv, env, cwd)."""
    image = dockerfiles["train"]
    env = support.local_env(image.env(), service_env(compose, "train"), container_paths)
    argv = image.exec_form("ENTRYPOINT") + compose["services"]["train"]["command"]
    workdir = support.map_path(image.final.last("WORKDIR"), container_paths)
    return support.local_argv(argv, env, container_paths), env, workdir


def test_training_entrypoint_answers_help(dockerfiles, container_paths):
    image = dockerfiles["train"]
    env = support.local_env(image.env(), {}, container_paths)
    argv = support.local_argv(image.exec_form("ENTRYPOINT") + ["--help"], env, container_paths)
    proc = run(argv, env, support.ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "--config" in proc.stdout and "--set" in proc.stdout


def test_compose_train_command_answers_help(train_command):
    argv, env, cwd = train_command
    proc = run(argv + ["--help"], env, cwd)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_compose_train_command_publishes_where_tf_serving_looks(
    train_command, container_paths, dockerfiles
):
    """`docker compose run --rm train --set epochs=1`, for real: the version lands in the
    mounted repository, and models.config (read with TF Serving's own message) points
    at it by the path TF Serving's container sees."""
    argv, env, cwd = train_command
    env = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = run(argv + ["--set", "epochs=1"], env, cwd, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # ...and it needed nothing the training image lacks.
    modules = support.imported_modules(proc.stderr)
    assert "training" in modules
    copied = support.copied_paths(dockerfiles["train"])
    assert support.foreign_imports(modules, ["training"], copied) == []
    models = container_paths["/models"]
    config = text_format.Parse(
        (models / "models.config").read_text(), model_server_config_pb2.ModelServerConfig()
    )
    (entry,) = [c for c in config.model_config_list.config if c.name == "digits"]
    assert entry.base_path == str(models / "digits")  # i.e. /models/digits in the containers
    assert entry.model_platform == "tensorflow"
    (version,) = [p for p in (models / "digits").iterdir() if p.name.isdigit()]
    assert (version / "saved_model.pb").is_file()
    assert (version / "assets.extra" / "serving_metadata.json").is_file()
    assert (version / "assets.extra" / "tf_serving_warmup_requests").is_file()
    assert (container_paths["/runs"] / "digits" / version.name / "report.json").is_file()


# ----------------------------------------------------------------------------- gateway


@pytest.fixture
def gateway_command(dockerfiles, compose, container_paths):
    """The gateway's CMD with the image's ENV and the compose environment: (argv, env, cwd)."""
    image = dockerfiles["gateway"]
    env = support.local_env(image.env(), service_env(compose, "gateway"), container_paths)
    argv = support.local_argv(image.exec_form("CMD"), env, container_paths)
    workdir = support.map_path(image.final.last("WORKDIR"), container_paths)
    return argv, env, workdir


def test_gateway_command_passes_gunicorns_config_check(gateway_command):
    argv, env, cwd = gateway_command
    proc = run(argv + ["--check-config"], env, cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gateway_imports_only_what_its_image_has(gateway_command, dockerfiles):
    """Loading the config and the app (what --check-config does) imports nothing outside
    the gateway extra's distributions and the code the Dockerfile copies."""
    argv, env, cwd = gateway_command
    proc = run(argv + ["--check-config"], {**env, "PYTHONPROFILEIMPORTTIME": "1"}, cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    modules = support.imported_modules(proc.stderr)
    assert "serving.gateway.routes.v1" in modules  # the app was built
    copied = support.copied_paths(dockerfiles["gateway"])
    assert support.foreign_imports(modules, ["gateway"], copied) == []


def test_compose_environment_is_valid_gateway_settings(gateway_command, compose):
    _, env, cwd = gateway_command
    proc = run([env["PATH"].split(":")[0] + "/python", "-m", "serving.gateway.settings"], env, cwd)
    assert proc.returncode == 0, proc.stderr
    settings = json.loads(proc.stdout)
    assert settings["backend_address"] == "tfserving:8500"
    assert settings["bind"] == "0.0.0.0:8000"
    assert settings["max_instances"] == int(service_env(compose, "gateway")["GATEWAY_MAX_INSTANCES"])


def seconds(duration: str) -> float:
    """A compose duration (35s, 1m30s) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_stop_grace_period_outlasts_gunicorns_graceful_timeout(gateway_command, compose):
    argv, env, cwd = gateway_command
    proc = run(argv + ["--print-config"], env, cwd)
    assert proc.returncode == 0, proc.stderr
    graceful = float(re.search(r"^graceful_timeout\s*=\s*(\S+)$", proc.stdout, re.MULTILINE).group(1))
    grace = seconds(compose["services"]["gateway"]["stop_grace_period"])
    assert graceful < grace <= graceful + 15


def poll(check, attempts: int = 120, pause: float = 0.5) -> bool:
    """Bounded wait for a condition (no timing assertion: only its eventual truth)."""
    for _ in range(attempts):
        if check():
            return True
        time.sleep(pause)
    return False


@pytest.mark.slow
@pytest.mark.e2e
def test_gateway_healthcheck_follows_the_live_process(gateway_command, dockerfiles):
    """The image's CMD under gunicorn for real, probed by the image's HEALTHCHECK command:
    healthy while it runs, unhealthy once it has stopped. Only the bind address differs
    from the container (a free loopback port)."""
    argv, env, cwd = gateway_command
    env = {**env, "GATEWAY_BIND": f"127.0.0.1:{support.free_port()}"}
    check = support.local_argv(dockerfiles["gateway"].healthcheck(), env, {})
    server = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        healthy = poll(lambda: server.poll() is None and run(check, env, cwd, 30).returncode == 0)
        assert healthy, f"never healthy; gunicorn exited with {server.poll()}"
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0].decode(errors="replace")
    assert server.returncode == 0, output[-3000:]
    assert run(check, env, cwd, 30).returncode != 0


# ----------------------------------------------------------------------------- tfserving


class TFServingStatus(BaseHTTPRequestHandler):
    """Answers GET /v1/models/<name> as TF Serving's REST API does (GetModelStatus in
    JSON). A stand-in: TF Serving cannot run here, and the healthcheck only reads this
    one documented response."""

    states: ClassVar[dict[str, str]] = {}

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        state = self.states.get(name)
        if state is None:
            status, body = 404, {"error": f"Servable not found for request: Latest({name})"}
        else:
            status, body = 200, {"model_version_status": [
                {"version": "3", "state": state, "status": {"error_code": "OK", "error_message": ""}}
            ]}
        payload = json.dumps(body, indent=1).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def tfserving_rest():
    server = ThreadingHTTPServer(("127.0.0.1", 0), TFServingStatus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def tfserving_healthcheck(compose: dict, port: int) -> list[str]:
    """The tfserving healthcheck as the container runs it ($$ → $), aimed at `port`."""
    test = [support.interpolate(part) for part in compose["services"]["tfserving"]["healthcheck"]["test"]]
    assert test[0] == "CMD"
    return [part.replace("/dev/tcp/127.0.0.1/8501", f"/dev/tcp/127.0.0.1/{port}") for part in test[1:]]


@pytest.mark.parametrize(
    "states, healthy",
    [
        ({"digits": "AVAILABLE"}, True),
        ({"digits": "LOADING"}, False),
        ({"digits": "END"}, False),
        ({"iris": "AVAILABLE"}, False),  # another model is not ours
    ],
)
def test_tfserving_healthcheck_waits_for_the_model_to_be_available(compose, tfserving_rest, states, healthy):
    TFServingStatus.states = states
    env = {"PATH": "/usr/bin:/bin", **service_env(compose, "tfserving")}
    proc = run(tfserving_healthcheck(compose, tfserving_rest.server_address[1]), env, support.ROOT, 30)
    assert (proc.returncode == 0) is healthy, proc.stderr


def test_tfserving_healthcheck_fails_when_nothing_listens(compose):
    env = {"PATH": "/usr/bin:/bin", **service_env(compose, "tfserving")}
    proc = run(tfserving_healthcheck(compose, support.free_port()), env, support.ROOT, 30)
    assert proc.returncode != 0
