"""Where the floor is: the CPU each piece of a request costs on its own.

`python -m bench.floor` measures, one piece at a time and in the same way (CPU time of
the process doing the work, per request, after a warm-up):

- the HTTP floor: gunicorn + a minimal Flask app answering a fixed body, with the
  gateway's worker class (serving/gateway/gunicorn_worker.py) and with gunicorn's sync
  worker (the in-process baseline's), driven by wrk at concurrency 1;
- the gateway's own application work: the real app (parsing, validation,
  normalization, decoding, metrics, access log) through Flask's test client with a
  backend that answers at once, minus the same for the minimal app;
- one gRPC round trip through Python on both ends (our TFServingClient against a
  server whose Predict returns a fixed answer): client CPU and server CPU;
- one call of the SavedModel's `serving_default` signature (what the model server and
  the in-process baseline both pay per model run).

Adding them up gives the least CPU a request can cost on each path; the difference
between the paths is what the gateway's extra hop costs. Writes bench/floor.md.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from bench import servers
from bench.config import ROOT
from bench.wrk import run_wrk

OUT = ROOT / "bench" / "floor.md"
MINIMAL_APP = textwrap.dedent(
    """
    from flask import Flask, Response, request
    app = Flask(__name__)
    @app.post("/v1/models/<name>:predict")
    def predict(name):
        request.get_data()
        return Response(b'{"predictions": [{"label": "0", "probability": 0.5}]}', mimetype="application/json")
    """
)
ECHO_SERVER = textwrap.dedent(
    """
    import sys
    from concurrent.futures import ThreadPoolExecutor
    import grpc, numpy as np
    from protogen.tfserving import predict_pb2, prediction_service_pb2_grpc
    from serving.gateway import tensors
    RESP = predict_pb2.PredictResponse()
    RESP.model_spec.name = "digits"; RESP.model_spec.version.value = 1
    tensors.fill_tensor_proto(RESP.outputs["probabilities"], np.full((1, 10), 0.1, np.float32))
    class Echo(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            return RESP
    server = grpc.server(ThreadPoolExecutor(max_workers=8))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Echo(), server)
    server.add_insecure_port("127.0.0.1:" + sys.argv[1]); server.start()
    print("ready", flush=True); server.wait_for_termination()
    """
)
TF_CALL = textwrap.dedent(
    """
    import sys, time, numpy as np, tensorflow as tf
    from contract import load_metadata
    from pathlib import Path
    from serving.model_server.servable import load_servable
    d = Path(sys.argv[1]); meta = load_metadata(d)
    f = tf.saved_model.load(str(d)).signatures["serving_default"]
    servable = load_servable("digits", 1, d)  # the model server's default thread pools
    for n in (1, 32):
        x = np.zeros((n, *[int(s) for s in meta.input.shape]), np.float32)
        calls = {
            "eager": lambda: f(**{meta.input.name: tf.convert_to_tensor(x)})["probabilities"].numpy(),
            "session": lambda: servable.run("serving_default", {meta.input.name: x}, ["probabilities"]),
        }
        for kind, call in calls.items():
            for _ in range(200): call()
            t = time.process_time()
            for _ in range(int(sys.argv[2])): call()
            print(kind, n, (time.process_time() - t) / int(sys.argv[2]) * 1000)
    """
)


def _cpu_per_call(fn, n: int, warmup: int = 200) -> float:
    for _ in range(warmup):
        fn()
    t = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t) / n * 1000


def http_floor(worker_args: list[str], body: Path, scratch: Path, models_dir: Path, seconds: float) -> float:
    """Server CPU ms per request of the minimal Flask app, wrk at concurrency 1: under
    gunicorn with `worker_args`, or under granian (a Rust HTTP server) if they are ["granian"]."""
    (scratch / "floor_minimal_app.py").write_text(MINIMAL_APP)
    port = servers.free_port()
    # The gateway's worker reads GATEWAY_* settings, which need an existing model root.
    env = {"PYTHONPATH": f"{scratch}{os.pathsep}{ROOT}", "GATEWAY_MODEL_ROOT": str(models_dir)}
    if worker_args == ["granian"]:
        cmd = [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", "--blocking-threads", "4",
               "--log-level", "warning", "floor_minimal_app:app"]
    else:
        cmd = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1", *worker_args,
               "--log-level", "warning", "floor_minimal_app:app"]
    srv = servers.launch("floor_http", cmd, port, env, scratch / "logs")
    try:
        servers.wait_http(srv, "/v1/models/digits:predict", body.read_bytes(), timeout=120)
        url = f"http://127.0.0.1:{port}/v1/models/digits:predict"
        run_wrk(url, body, concurrency=1, duration_seconds=1)
        pids = [srv.pid, *srv.workers()]
        before = servers.cpu_seconds(pids)
        m = run_wrk(url, body, concurrency=1, duration_seconds=seconds)
        return (servers.cpu_seconds(pids) - before) / m.requests * 1000
    finally:
        srv.stop()


def gateway_app(models_dir: Path, body: bytes, n: int) -> tuple[float, float]:
    """CPU ms per request of the real gateway app and of the minimal app (test client)."""
    import importlib.util

    import numpy as np

    from serving.gateway import create_app
    from serving.gateway.backend import VersionStatus
    from serving.gateway.settings import Settings

    class InstantBackend:  # answers at once: only the gateway's own work is measured
        def status(self, model):
            return [VersionStatus(1, "AVAILABLE")]

        def metadata(self, *args, **kwargs):
            raise NotImplementedError

        def predict(self, model, inputs, version=None, signature="serving_default"):
            rows = next(iter(inputs.values())).shape[0]
            return version, {"probabilities": np.full((rows, 10), 0.1, np.float32)}

        def close(self):
            pass

    # The access log is written (to nowhere): its cost is part of the gateway's work.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        app = create_app(Settings(model_root=models_dir, log_level="info"), InstantBackend())
        client = app.test_client()
        post = lambda c: c.post("/v1/models/digits:predict", data=body, content_type="application/json")
        assert post(client).status_code == 200
        full = _cpu_per_call(lambda: post(client), n)
    spec = importlib.util.spec_from_loader("floor_minimal_app", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(MINIMAL_APP, module.__dict__)  # noqa: S102 - our own constant source
    minimal_client = module.app.test_client()
    minimal = _cpu_per_call(lambda: post(minimal_client), n)
    return full, minimal


def grpc_round_trip(scratch: Path, n: int) -> tuple[float, float]:
    """Client and server CPU ms of one Predict through TFServingClient and a Python server."""
    import numpy as np

    from serving.gateway.grpc_client import TFServingClient

    (scratch / "floor_echo.py").write_text(ECHO_SERVER)
    port = servers.free_port()
    proc = subprocess.Popen([sys.executable, str(scratch / "floor_echo.py"), str(port)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()
        x = np.zeros((1, 8, 8, 1), np.float32)
        with TFServingClient(f"127.0.0.1:{port}") as client:
            call = lambda: client.predict("digits", {"pixels": x}, 1)
            for _ in range(200):
                call()
            before = servers.cpu_seconds([proc.pid])
            client_ms = _cpu_per_call(call, n, warmup=0)
            server_ms = (servers.cpu_seconds([proc.pid]) - before) / n * 1000
        return client_ms, server_ms
    finally:
        proc.terminate()
        proc.wait(10)


def tf_call(version_dir: Path, scratch: Path, n: int) -> dict[tuple[str, int], float]:
    """CPU ms of one `serving_default` run with 1 and with 32 instances: called eagerly
    (the in-process baseline) and as a Session callable (the model server, as TF Serving)."""
    (scratch / "floor_tf.py").write_text(TF_CALL)
    out = subprocess.run([sys.executable, str(scratch / "floor_tf.py"), str(version_dir), str(n)], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
                         capture_output=True, text=True, check=True).stdout
    return {(k, int(n)): float(ms) for k, n, ms in (line.split() for line in out.splitlines() if line.strip())}


def main() -> int:
    """Measure every piece, print and write bench/floor.md."""
    from bench import models
    from bench.run import load_average, machine

    scratch = ROOT / "bench" / "out" / "floor"
    scratch.mkdir(parents=True, exist_ok=True)
    models_dir = models.prepare(("digits",), ROOT / "bench" / "out", log=lambda m: print(m, file=sys.stderr))
    version_dir = models.newest_version(models_dir, "digits")
    body = ROOT / "bench" / "out" / "bodies" / "digits_1.json"
    if not body.exists():
        from bench import payloads
        from contract import load_metadata

        body.parent.mkdir(parents=True, exist_ok=True)
        body.write_bytes(payloads.predict_body(payloads.raw_instances(load_metadata(version_dir), 1, seed=1)))
    info = machine()
    gw_worker = http_floor(["-k", "serving.gateway.gunicorn_worker.GatewayWorker", "--threads", "4"], body, scratch, models_dir, 5)
    sync_worker = http_floor(["-k", "sync"], body, scratch, models_dir, 5)
    granian = http_floor(["granian"], body, scratch, models_dir, 5)
    app_full, app_minimal = gateway_app(models_dir, body.read_bytes(), 2000)
    client_ms, server_ms = grpc_round_trip(scratch, 3000)
    tf_ms = tf_call(version_dir, scratch, 2000)
    ours = app_full - app_minimal
    rows = [
        ("gunicorn (gateway's worker, 4 threads) + minimal Flask app", gw_worker, "a", ""),
        ("gunicorn (sync worker) + minimal Flask app", sync_worker, "", "c"),
        ("granian (Rust HTTP, WSGI, 4 threads) + minimal Flask app: not used, for comparison", granian, "", ""),
        ("gateway application work (parse, validate, normalize, decode, metrics, access log)", ours, "a", ""),
        ("gRPC client: TFServingClient.predict (Python)", client_ms, "a", ""),
        ("gRPC server: a Python Predict that returns at once", server_ms, "a", ""),
        ("`serving_default` as a Session callable (model server), 1 instance", tf_ms["session", 1], "a (once per batch)", ""),
        ("`serving_default` as a Session callable, 32 instances", tf_ms["session", 32], "", ""),
        ("`serving_default` called eagerly (in-process baseline), 1 instance", tf_ms["eager", 1], "", "c"),
        ("`serving_default` called eagerly, 32 instances", tf_ms["eager", 32], "", ""),
    ]
    a_total = gw_worker + ours + client_ms + server_ms + tf_ms["session", 1]
    c_total = sync_worker + tf_ms["eager", 1]
    lines = [
        "# The floor: CPU per request, piece by piece (`python -m bench.floor`)",
        "",
        (
            f"Machine: {info['nproc']} CPUs ({info['cpu_model']}), load average {load_average()} at the "
            "end. Each figure is CPU time of the process doing the work, per request, one digits instance."
        ),
        "",
        "| piece | CPU ms | on path |",
        "| --- | ---: | --- |",
    ]
    lines += [f"| {name} | {ms:.3f} | {', '.join(p for p in (a, c) if p)} |" for name, ms, a, c in rows]
    lines += [
        "",
        (
            f"Least CPU per request, one instance, no batching: gateway path (a) {a_total:.2f} ms "
            "(HTTP floor + application + gRPC both ends + model call; the model server's own "
            f"request handling comes on top) against the in-process baseline (c) {c_total:.2f} ms "
            f"(HTTP floor + model call). The hop alone (gRPC client + server) is "
            f"{client_ms + server_ms:.2f} ms; batching divides only the model call."
        ),
        "",
    ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
