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
    assert cfg["control_socket_disable"] == "True"  # no per-user socket shared between gateways


def test_the_metrics_folder_is_removed_when_gunicorn_exits(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = gunicorn("--check-config", GATEWAY_MODEL_ROOT=str(tmp_path), TMPDIR=str(scratch))
    assert done.returncode == 0, done.stderr
    assert list(scratch.iterdir()) == []


def load_conf(monkeypatch, tmp_path):
    """The config module itself, loaded as gunicorn loads it, to call its hooks."""
    import importlib.util

    metrics = tmp_path / "metrics"
    metrics.mkdir()
    monkeypatch.setenv("GATEWAY_MODEL_ROOT", str(tmp_path))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics))
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "serving" / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, metrics


def test_post_fork_resets_an_inherited_backend_channel(monkeypatch, tmp_path):
    from types import SimpleNamespace

    conf, _ = load_conf(monkeypatch, tmp_path)
    conf.post_fork(None, None)  # not preloaded: nothing to reset
    closed = []
    backend = SimpleNamespace(close=lambda: closed.append(True))
    app = SimpleNamespace(extensions={"gateway": SimpleNamespace(backend=backend)})
    monkeypatch.setitem(sys.modules, "serving.gateway.wsgi", SimpleNamespace(app=app))
    conf.post_fork(None, None)
    assert closed == [True]


def test_metrics_files_are_reset_at_start_and_dropped_with_a_dead_worker(monkeypatch, tmp_path):
    from types import SimpleNamespace

    conf, metrics = load_conf(monkeypatch, tmp_path)
    stale = metrics / "counter_999.db"
    stale.write_bytes(b"")
    conf.on_starting(None)
    assert not stale.exists()
    live = metrics / "gauge_livemostrecent_1234.db"
    live.write_bytes(b"")
    conf.child_exit(None, SimpleNamespace(pid=1234))
    assert not live.exists()
