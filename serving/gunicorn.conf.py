# ruff: noqa: N999 - gunicorn looks for this file name
"""gunicorn settings for the gateway: `gunicorn -c serving/gunicorn.conf.py serving.gateway.wsgi:app`.

Everything comes from the GATEWAY_* settings (checked here, before any worker starts: a
bad value stops gunicorn with one line naming the variable and exit status 2).

- gthread workers: GATEWAY_WORKERS processes × GATEWAY_THREADS threads. A request spends
  most of its time waiting on the model server, which threads do well.
  The worker class is gthread's, reading request heads on its event loop (slow and idle
  clients hold no thread; GATEWAY_READ_TIMEOUT_SECONDS bounds a request's head and body)
  and refusing new connections as soon as it stops: serving/gateway/gunicorn_worker.py.
- The worker timeout is longer than the longest backend wait (deadline × (retries + 1)),
  so gunicorn never kills a worker that is merely waiting for its deadline; the graceful
  timeout lets in-flight requests finish on SIGTERM (docker's stop_grace_period is larger).
- Prometheus multiprocess mode: PROMETHEUS_MULTIPROC_DIR is set to a fresh folder before
  the workers import prometheus_client; a dead worker's live gauges are discarded.
- post_fork resets the backend's gRPC channel if the app was preloaded in the master
  (gRPC channels do not survive fork); without preload it is opened lazily per worker.
"""

import atexit
import math
import os
import shutil
import sys
import tempfile

# Before anything imports prometheus_client: it picks its storage at import time.
_OWN_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gateway-metrics-")
_METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]
_CREATOR_PID = os.getpid()


@atexit.register
def _remove_metrics_dir():
    """The master removes the folder it created, however it exits (workers inherit this hook)."""
    if _OWN_METRICS_DIR and os.getpid() == _CREATOR_PID:
        shutil.rmtree(_METRICS_DIR, ignore_errors=True)


from serving.gateway.settings import Settings, SettingsError

try:
    _settings = Settings.from_env()
except SettingsError as _exc:
    print(f"gateway settings: {_exc}", file=sys.stderr)
    sys.exit(2)

bind = [_settings.bind]
# Workers, threads and worker class, chosen by measurement (issue 6; README "Performance").
# 2 CPUs shared by the gateway, the local model server (batching on) and wrk; digits; medians of 3
# interleaved 5 s runs: req/s with 1 instance per request | instances/s with 32:
#                               concurrency 1       concurrency 32      p99 ms, conc. 32
#   2 workers x 4 threads    482 | 12,601        851 | 23,039         86 | 93
#   2 workers x 8 threads    453 | 11,339        883 | 22,039         78 | 90
#   3 workers x 4 threads    376 | 12,374        788 | 19,561         87 | 103
#   1 worker  x 8 threads    505 | 12,728        737 | 17,052         70 | 104
#   gthread, unhardened 2x4  553 | 12,186        801 | 21,460         76 | 98
#   sync, 4 workers          517 | 15,245        922 | 23,473        107 | 152
# Most differences are within the run-to-run spread (about +-15%): the CPUs are saturated
# however the work is split. One worker loses a quarter at concurrency 32 (one GIL); a
# third worker costs ~70 MB and measured slower. Hence one worker per CPU, 4 threads each.
workers = _settings.workers
threads = _settings.threads
# Worker class: per request, gunicorn + a minimal Flask app costs 0.39 ms CPU with this
# worker and 0.27 ms with sync workers (python -m bench.floor, bench/floor.md). Sync
# workers measured as fast or faster end to end but with the worst p99 (above), and they
# serve one connection per process: each waits for the whole model call, and a client
# that is slow to send holds a process (tests/faults). gevent workers need gRPC's gevent
# mode and monkey-patching. This gthread keeps requests in flight while they wait on the
# model server and parks idle and slow connections on its event loop; the hardening costs
# ~13% at concurrency 1 against plain gthread and nothing measurable under load.
worker_class = "serving.gateway.gunicorn_worker.GatewayWorker"  # gthread, hardened
timeout = math.ceil(_settings.worker_timeout_seconds)
graceful_timeout = math.ceil(_settings.graceful_timeout_seconds)
keepalive = 5
# Bounded request heads: the body is bounded by GATEWAY_MAX_BODY_BYTES in the app.
limit_request_line = 4094
limit_request_fields = 64
limit_request_field_size = 8190
loglevel = _settings.log_level
errorlog = "-"
accesslog = None  # the app writes one JSON access-log line per request
proc_name = "modelserve-gateway"
preload_app = False
# gunicorn 27's control socket defaults to one path per host user (~/.gunicorn/gunicorn.ctl):
# several gateways on a host (tests, `make serve` beside `make bench`) would share it, and a
# read-only container home cannot hold it. Nothing here uses it.
control_socket_disable = True


def on_starting(server):
    """Start from an empty metrics folder: values of an earlier run must not leak in."""
    os.makedirs(_METRICS_DIR, exist_ok=True)
    for name in os.listdir(_METRICS_DIR):
        if name.endswith(".db"):
            os.unlink(os.path.join(_METRICS_DIR, name))


def post_fork(server, worker):
    """Drop a gRPC channel inherited from the master (only exists with preload_app)."""
    wsgi = sys.modules.get("serving.gateway.wsgi")
    if wsgi is not None:
        wsgi.app.extensions["gateway"].backend.close()


def post_worker_init(worker):
    """Freeze the objects of the loaded app out of the garbage collector's sight.

    Parsing a large body allocates enough lists to trigger collections, and each
    older-generation one would walk every object Flask, numpy and gRPC created at import:
    32 instances of 28x28 cost a third less CPU per request with them frozen (issue 6).
    Objects created later are collected as usual.
    """
    import gc

    gc.freeze()


def child_exit(server, worker):
    """Discard the live gauges of a worker that exited."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, _METRICS_DIR)
