"""Settings from GATEWAY_* variables: defaults, parsing, and one clear error per bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from serving.gateway.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
KEY = "k" * 24


def env(tmp_path, **values) -> dict[str, str]:
    return {"GATEWAY_MODEL_ROOT": str(tmp_path), **{f"GATEWAY_{k.upper()}": v for k, v in values.items()}}


def test_defaults_match_the_documented_ones(tmp_path):
    s = Settings.from_env(env(tmp_path))
    assert s.backend_address == "127.0.0.1:8500"
    assert s.bind == "127.0.0.1:8000"
    assert s.api_keys == ()
    assert s.worker_timeout_seconds > s.deadline_seconds * (s.retries + 1)


def test_every_variable_is_read(tmp_path):
    s = Settings.from_env(env(
        tmp_path, backend_address="tfserving:8500", deadline_seconds="2.5", retries="0",
        max_body_bytes="2048", max_instances="3", api_keys=f" {KEY} , {KEY}x ", bind="0.0.0.0:9000",
        workers="3", threads="5", log_level="WARNING", ready_timeout_seconds="0.5",
        version_ttl_seconds="0", models="digits,iris", max_image_pixels="100",
        graceful_timeout_seconds="10",
    ))
    assert (s.backend_address, s.deadline_seconds, s.retries) == ("tfserving:8500", 2.5, 0)
    assert (s.max_body_bytes, s.max_instances, s.bind) == (2048, 3, "0.0.0.0:9000")
    assert s.api_keys == (KEY, KEY + "x")
    assert (s.workers, s.threads, s.log_level) == (3, 5, "warning")
    assert (s.ready_timeout_seconds, s.version_ttl_seconds, s.models) == (0.5, 0.0, ("digits", "iris"))
    assert (s.max_image_pixels, s.graceful_timeout_seconds) == (100, 10.0)
    assert s.model_root == tmp_path


@pytest.mark.parametrize(
    "values, message",
    [
        ({"deadline_seconds": "soon"}, "GATEWAY_DEADLINE_SECONDS='soon': expected a number"),
        ({"deadline_seconds": "0"}, "GATEWAY_DEADLINE_SECONDS"),
        ({"deadline_seconds": "nan"}, "GATEWAY_DEADLINE_SECONDS"),
        ({"retries": "-1"}, "GATEWAY_RETRIES"),
        ({"retries": "1.5"}, "GATEWAY_RETRIES='1.5': expected an integer"),
        ({"max_body_bytes": "10"}, "GATEWAY_MAX_BODY_BYTES"),
        ({"max_instances": "0"}, "GATEWAY_MAX_INSTANCES"),
        ({"workers": "many"}, "GATEWAY_WORKERS"),
        ({"threads": "0"}, "GATEWAY_THREADS"),
        ({"backend_address": "localhost"}, "GATEWAY_BACKEND_ADDRESS='localhost': expected host:port"),
        ({"backend_address": "host:99999"}, "GATEWAY_BACKEND_ADDRESS"),
        ({"bind": ":8000"}, "GATEWAY_BIND"),
        ({"log_level": "loud"}, "GATEWAY_LOG_LEVEL='loud': expected one of debug"),
        ({"api_keys": "short"}, "GATEWAY_API_KEYS: key 1 must be at least 16"),
        ({"models": "ok,../etc"}, "GATEWAY_MODELS: '../etc' is not a valid model name"),
        ({"model_root": "/nonexistent/models"}, "GATEWAY_MODEL_ROOT='/nonexistent/models': no such directory"),
        ({"ready_timeout_seconds": "5", "deadline_seconds": "1"}, "must not exceed GATEWAY_DEADLINE_SECONDS"),
        ({"deadline": "3"}, "GATEWAY_DEADLINE is not a gateway setting (did you mean GATEWAY_DEADLINE_SECONDS?)"),
    ],
)
def test_a_bad_value_is_one_error_naming_the_variable(tmp_path, values, message):
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env(tmp_path, **values))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_variables_of_other_tools_are_left_alone(tmp_path):
    environ = {**env(tmp_path), "GATEWAY_PORT": "8000-8003", "GATEWAY_INTERFACE": "CGI/1.1"}
    assert Settings.from_env(environ).bind == "127.0.0.1:8000"


def test_accepted_address_forms(tmp_path):
    for address in ("10.0.0.1:8500", "[::1]:8500", "unix:/tmp/tfs.sock", "tfserving:1"):
        assert Settings.from_env(env(tmp_path, backend_address=address)).backend_address == address


def test_public_view_masks_api_keys(tmp_path):
    public = Settings.from_env(env(tmp_path, api_keys=KEY + "abcd")).public()
    assert public["api_keys"] == ["…abcd"]
    assert KEY not in str(public)


def run_settings_module(environ: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in __import__("os").environ.items() if not k.startswith("GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "serving.gateway.settings"],
        cwd=ROOT, env={**clean, **environ}, capture_output=True, text=True, timeout=60, check=False,
    )


def test_the_module_prints_settings_and_exits_zero(tmp_path):
    done = run_settings_module({"GATEWAY_MODEL_ROOT": str(tmp_path), "GATEWAY_WORKERS": "3"})
    assert done.returncode == 0, done.stderr
    assert '"workers": 3' in done.stdout


def test_the_module_exits_2_with_one_line(tmp_path):
    done = run_settings_module({"GATEWAY_MODEL_ROOT": str(tmp_path), "GATEWAY_THREADS": "lots"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gateway settings: GATEWAY_THREADS='lots': expected an integer of threads between 1 and 256"
    ]
