"""The harness end to end on loopback: real model server, gateway under gunicorn, baseline
(c), wrk and the gRPC load driver, on the session's trained digits model (one short cell)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bench import grpc_load, payloads, servers
from bench.config import BenchConfig
from bench.run import run

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory, model_repo, digits):
    """A scratch folder whose models/ holds the session's digits (so nothing is trained)."""
    out = tmp_path_factory.mktemp("bench_out")
    models_dir = out / "models"
    shutil.copytree(digits.version_dir, models_dir / "digits" / str(digits.version))
    (models_dir / "models.config").write_text(
        'model_config_list {\n  config { name: "digits" base_path: "%s" model_platform: "tensorflow" }\n}\n'
        % (models_dir / "digits")
    )
    return out


def test_split_spreads_callers_over_processes():
    assert grpc_load.split(1, 2) == [1]
    assert grpc_load.split(32, 2) == [16, 16]
    assert grpc_load.split(5, 3) == [2, 2, 1]


@pytest.fixture(scope="module")
def model_server(bench_out):
    """The model server over the scratch repository, as bench.run starts it."""
    ms = servers.start_model_server(bench_out / "models" / "models.config", bench_out / "logs")
    yield ms
    ms.stop()


def test_grpc_load_drives_the_model_server(model_server, digits):
    versions = servers.wait_model_server(model_server, ("digits",))
    assert versions == {"digits": digits.version}
    batch = payloads.backend_batch(digits.test_inputs[:4], digits.metadata)
    spec = grpc_load.LoadSpec(f"127.0.0.1:{model_server.port}", "digits", digits.version, {"pixels": batch})
    m = grpc_load.run_load(spec, concurrency=3, warmup_seconds=0.2, duration_seconds=1.0, processes=2)
    assert m.requests > 0 and m.errors == 0
    assert 0 < m.p50_ms <= m.p99_ms <= m.max_ms


def test_grpc_load_fails_loudly_when_the_request_is_refused(model_server, digits):
    servers.wait_model_server(model_server, ("digits",))
    wrong = np.zeros((2, 8, 8, 1), np.float64)  # float64: the model server refuses it
    spec = grpc_load.LoadSpec(f"127.0.0.1:{model_server.port}", "digits", digits.version, {"pixels": wrong})
    with pytest.raises(RuntimeError, match="could not reach the model server: BackendInvalidArgument"):
        grpc_load.run_load(spec, concurrency=1, warmup_seconds=0, duration_seconds=0.5)


def test_run_measures_every_server_and_writes_the_outputs(bench_out):
    cfg = BenchConfig(
        duration_seconds=1, warmup_seconds=1, concurrency=(2,), instances=(4,), models=("digits",),
        servers=("a", "b", "c"), out_dir=bench_out, results_dir=bench_out / "results",
        grpc_processes=1,
    )
    results = run(cfg)
    cells = {c["server"]: c["median"] for c in results["cells"]}
    assert set(cells) == {"a", "b", "c"}
    for server, median in cells.items():
        assert median["requests"] > 0, server
        assert median["errors"] == 0, server
        assert median["instances_per_second"] == pytest.approx(4 * median["requests_per_second"])
    assert set(cells["a"]["cpu_ms_per_request"]) == {"gateway", "model_server"}
    assert set(cells["b"]["cpu_ms_per_request"]) == {"model_server"}
    assert all(v > 0 for c in cells.values() for v in c["cpu_ms_per_request"].values())
    assert results["memory"]["gateway_workers"]["idle"]["processes"] >= 1
    assert results["memory"]["model_server"]["loaded"]["max_rss_mb"] > 0
    assert {t["status"] for t in results["targets"]} <= {"PASS", "FAIL", "SKIP"}
    assert results["ratios"][0]["vs_c"] > 0
    from bench.report import write_outputs

    paths = write_outputs(results, cfg.results_dir)
    assert json.loads(paths[0].read_text())["cells"]
