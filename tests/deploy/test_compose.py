"""docker-compose.yml (GPU) and docker-compose.cpu.yml: accepted by docker-compose, and
the deployment's rules hold in both (ports, mounts, GPUs, health, users, pinned images)."""

from __future__ import annotations

import copy
import re
import subprocess

import pytest
from google.protobuf import text_format

from protogen.tfserving.session_bundle_config_pb2 import BatchingParameters
from tests.deploy import support

SERVICES = {"tfserving", "gateway", "train"}


def test_docker_compose_accepts_the_file(resolved, variant):
    config = resolved[variant]
    assert set(config["services"]) == SERVICES


def test_cpu_file_is_the_gpu_file_without_its_gpu_parts(resolved):
    """The CPU variant is a complete file (an override cannot remove list items): it must
    not drift from the GPU one beyond the TF Serving image, the GPU reservations, the GPU
    memory flag and the training image's base."""
    gpu, cpu = copy.deepcopy(resolved["gpu"]), copy.deepcopy(resolved["cpu"])
    for service in gpu["services"].values():
        service.pop("deploy", None)
    gpu_tfs, cpu_tfs = gpu["services"]["tfserving"], cpu["services"]["tfserving"]
    assert gpu_tfs.pop("image") == cpu_tfs.pop("image") + "-gpu"
    gpu_tfs["command"] = [
        a for a in gpu_tfs["command"] if not a.startswith("--per_process_gpu_memory_fraction=")
    ]
    assert cpu["services"]["train"]["build"].pop("args") == {"TF_IMAGE": "tensorflow/tensorflow:2.21.0"}
    assert cpu["services"]["train"].pop("image") == gpu["services"]["train"].pop("image") + "-cpu"
    assert cpu == gpu


def test_only_the_gateway_publishes_a_port(compose):
    published = {name for name, s in compose["services"].items() if s.get("ports")}
    assert published == {"gateway"}
    assert [support.interpolate(p) for p in compose["services"]["gateway"]["ports"]] == ["8000:8000"]
    assert "network_mode" not in compose["services"]["tfserving"]


def test_model_repository_is_read_only_for_serving_and_writable_for_training(compose):
    services = compose["services"]
    for name in ("tfserving", "gateway"):
        mounts = support.volumes(services[name])
        assert ("./models", "/models", True) in mounts, name
        assert all(read_only for _, _, read_only in mounts), f"{name} mounts something writable"
    assert set(support.volumes(services["train"])) == {
        ("./models", "/models", False),
        ("./runs", "/runs", False),
    }


def test_gpu_reservations_only_in_the_gpu_file(compose, variant):
    for name, service in compose["services"].items():
        devices = support.gpu_devices(service)
        if variant == "gpu" and name in ("tfserving", "train"):
            assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}], name
        else:
            assert "deploy" not in service, f"{variant}: {name} reserves {service.get('deploy')}"


def test_every_service_is_health_checked_or_the_one_shot_job(compose, dockerfiles):
    for name, service in compose["services"].items():
        if name == "train":
            assert service["profiles"] == ["train"] and service["restart"] == "no"
            continue
        image_check = dockerfiles[name].healthcheck() if name in dockerfiles else None
        assert service.get("healthcheck") or image_check, f"{name} has no healthcheck"
        assert service["restart"] == "unless-stopped"


def test_gateway_waits_for_a_healthy_tfserving_and_talks_to_it(compose):
    gateway, tfserving = compose["services"]["gateway"], compose["services"]["tfserving"]
    assert gateway["depends_on"] == {"tfserving": {"condition": "service_healthy"}}
    assert gateway["environment"]["GATEWAY_BACKEND_ADDRESS"] == "tfserving:8500"
    assert support.flags(tfserving["command"])["port"] == "8500"
    assert gateway["environment"]["GATEWAY_MODEL_ROOT"] == "/models"
    assert gateway["build"] == {"context": ".", "dockerfile": "serving/Dockerfile"}
    assert compose["services"]["train"]["build"]["context"] == "."


def test_no_service_runs_as_root(compose, dockerfiles):
    for name, service in compose["services"].items():
        assert "user" in service, f"{name} does not set user:"
        uid, _, gid = support.interpolate(service["user"]).partition(":")
        assert uid not in ("", "0", "root") and gid not in ("", "0", "root"), f"{name}: {uid}:{gid}"
        assert "privileged" not in service
        assert service["cap_drop"] == ["ALL"]
    for name, dockerfile in dockerfiles.items():
        user = dockerfile.final.last("USER")
        assert user and user.split(":")[0] not in ("0", "root"), f"{name} image runs as {user}"


def test_images_are_pinned(compose, variant, dockerfiles):
    serving_api = support.pinned_version("tensorflow-serving-api")
    project = support.pyproject()["project"]["version"]
    services = compose["services"]
    suffix = "-gpu" if variant == "gpu" else ""
    assert services["tfserving"]["image"] == f"tensorflow/serving:{serving_api}{suffix}"
    assert services["gateway"]["image"] == f"modelserve/gateway:{project}"
    assert services["train"]["image"] == f"modelserve/train:{project}{'-cpu' if variant == 'cpu' else ''}"
    for name, service in services.items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), name
    # The training image's base carries the TensorFlow of pyproject.toml.
    train = dockerfiles["train"]
    build_args = services["train"]["build"].get("args", {})
    base = train.resolved_base(train.final, build_args)
    assert base == f"tensorflow/tensorflow:{support.pinned_version('tensorflow')}{suffix}"


def test_dockerfile_base_images_are_pinned(dockerfiles):
    for name, dockerfile in dockerfiles.items():
        for stage in dockerfile.stages:
            base = dockerfile.resolved_base(stage)
            _, _, tag = base.partition(":")
            assert tag and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: FROM {base}"


def test_tfserving_flags_are_tf_servings_own(compose):
    """TF Serving cannot run here: every flag must be in its documented flag list, with a
    value of the flag's type, and the files they name must be mounted."""
    tfserving = compose["services"]["tfserving"]
    assert tfserving["entrypoint"] == ["/usr/bin/tensorflow_model_server"]
    given = support.flags(tfserving["command"])
    unknown = set(given) - set(support.TFSERVING_FLAGS)
    assert not unknown, f"not TF Serving flags: {unknown}"
    for name, value in given.items():
        kind = support.TFSERVING_FLAGS[name]
        if kind is bool:
            assert value in ("true", "false"), name
        elif kind in (int, float):
            kind(value)
    assert given["model_config_file"] == "/models/models.config"
    assert int(given["model_config_file_poll_wait_seconds"]) > 0
    assert given["enable_batching"] == "true"
    assert given["rest_api_port"] == "8501"
    mounts = {target: source for source, target, _ in support.volumes(tfserving)}
    for flag, local in (
        ("batching_parameters_file", "serving/tfserving/batching.config"),
        ("monitoring_config_file", "serving/tfserving/monitoring.config"),
    ):
        folder, _, filename = given[flag].rpartition("/")
        assert mounts[folder].removeprefix("./") + "/" + filename == local
        assert (support.ROOT / local).is_file()


def test_gpu_memory_is_bounded_on_the_gpu(compose, variant):
    given = support.flags(compose["services"]["tfserving"]["command"])
    if variant == "gpu":
        assert 0 < float(given["per_process_gpu_memory_fraction"]) < 1
    else:
        assert "per_process_gpu_memory_fraction" not in given


def test_gateway_never_sends_more_than_one_batch(compose):
    """TF Serving rejects a request larger than max_batch_size."""
    batching = text_format.Parse(
        (support.ROOT / "serving/tfserving/batching.config").read_text(), BatchingParameters()
    )
    max_instances = int(compose["services"]["gateway"]["environment"]["GATEWAY_MAX_INSTANCES"])
    assert max_instances <= batching.max_batch_size.value


def test_tfserving_healthcheck_names_the_model_of_the_environment(compose):
    tfserving = compose["services"]["tfserving"]
    test = tfserving["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"]
    assert "$$MODEL_NAME" in test[3] and "/dev/tcp/127.0.0.1/8501" in test[3]
    assert support.interpolate(tfserving["environment"]["MODEL_NAME"]) == "digits"


@pytest.mark.parametrize("service", ["tfserving", "gateway", "train"])
def test_resolved_users_are_the_host_user_default(resolved, variant, service):
    assert resolved[variant]["services"][service]["user"] == "1000:1000"


@pytest.mark.parametrize(
    "target, variant_arg, expected",
    [
        ("up", "gpu", "docker-compose -f docker-compose.yml up -d --build"),
        ("up", "cpu", "docker-compose -f docker-compose.cpu.yml up -d --build"),
        ("down", "gpu", "docker-compose -f docker-compose.yml down"),
        ("logs", "cpu", "docker-compose -f docker-compose.cpu.yml logs -f"),
        (
            "train-container",
            "gpu",
            "docker-compose -f docker-compose.yml run --rm train --config training/configs/digits.yaml",
        ),
    ],
)
def test_make_targets_drive_the_compose_files(target, variant_arg, expected):
    """`make -n`: the commands the targets would run, as a non-root user (uid 1234)."""
    proc = subprocess.run(
        ["make", "-n", target, f"VARIANT={variant_arg}", "COMPOSE=docker-compose",
         "HOST_UID=1234", "HOST_GID=1234"],
        cwd=support.ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"HOST_UID=1234 HOST_GID=1234 {expected}" in proc.stdout
