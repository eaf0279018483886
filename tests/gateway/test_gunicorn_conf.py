"""serving/gunicorn.conf.py: settings checked before any worker starts, values derived from them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "serving/gunicorn.conf.py"]


def gunicorn(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PROMETHEUS_"))}
    return subprocess.run(
        [*GUNICORN, *args, "serving.gateway.wsgi:app"],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120, check=False,
    )


def config(tmp_path, **env: str) -> dict[str, str]:
    done = gunicorn("--print-config", GATEWAY_MODEL_ROOT=str(tmp_path), **env)
    assert done.returncode == 0, done.stderr
    return dict(re.findall(r"^(\w+)\s+= (.*)$", done.stdout, re.MULTILINE))


def test_a_bad_setting_stops_gunicorn_with_one_line_and_status_2(tmp_path):
    done = gunicorn("--check-config", GATEWAY_MODEL_ROOT=str(tmp_path), GATEWAY_WORKERS="0")
    assert done.returncode == 2
    assert done.stderr.strip() == "gateway settings: GATEWAY_WORKERS='0': expected an integer of processes between 1 and 64"


def test_values_come_from_the_gateway_settings(tmp_path):
    cfg = config(tmp_path, GATEWAY_BIND="127.0.0.1:9123", GATEWAY_WORKERS="3", GATEWAY_THREADS="6",
                 GATEWAY_DEADLINE_SECONDS="4", GATEWAY_RETRIES="1", GATEWAY_LOG_LEVEL="warning")
    assert cfg["bind"] == "['127.0.0.1:9123']"
    assert (cfg["workers"], cfg["threads"]) == ("3", "6")
    assert cfg["worker_class"] == "serving.gateway.gunicorn_worker.GatewayWorker"  # gthread's subclass
    assert int(cfg["timeout"]) > 4 * (1 + 1)  # never kills a worker waiting out its deadline
    assert int(cfg["graceful_timeout"]) == 30
    assert cfg["loglevel"] == "warning"
    assert (cfg["limit_request_line"], cfg["limit_request_fields"]) == ("4094", "64")
    assert cfg["accesslog"] == "None"


def test_the_metrics_folder_is_removed_when_gunicorn_exits(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = gunicorn("--check-config", GATEWAY_MODEL_ROOT=str(tmp_path), TMPDIR=str(scratch))
    assert done.returncode == 0, done.stderr
    assert list(scratch.iterdir()) == []
