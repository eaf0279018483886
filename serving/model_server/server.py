"""Wiring: flags → config → manager → gRPC server; SIGTERM/SIGINT stop it gracefully.

Like TF Serving, the server loads the configured models before it opens its port, so a
client that can connect finds them AVAILABLE (or reported with their load error).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from protogen.tfserving import model_service_pb2_grpc, prediction_service_pb2_grpc
from serving.model_server import config as model_config
from serving.model_server.batching import BatchingServable, BatchScheduler
from serving.model_server.flags import ServerOptions, parse_args
from serving.model_server.manager import Loader, Manager
from serving.model_server.service import ModelService, PredictionService

log = logging.getLogger("serving.model_server")

# TF Serving accepts messages up to INT32_MAX bytes by default.
MAX_MESSAGE_BYTES = 2**31 - 1


def default_loader(
    enable_warmup: bool = True,
    scheduler: BatchScheduler | None = None,
    intra_op_parallelism: int = 0,
    inter_op_parallelism: int = 0,
) -> Loader:
    """Load a SavedModel version and, if asked, replay its warm-up requests; with a
    scheduler, its Predict runs are batched (after the warm-up, which runs unbatched)."""

    def load(name: str, version: int, path: Path):
        # TensorFlow is imported on the first load, so that bad flags or a bad config
        # are reported at once.
        from serving.model_server.servable import SessionOptions, load_servable
        from serving.model_server.warmup import run_warmup

        servable = load_servable(
            name, version, path, SessionOptions(intra_op_parallelism, inter_op_parallelism)
        )
        if enable_warmup:
            run_warmup(servable)
        return BatchingServable(servable, scheduler) if scheduler is not None else servable

    return load


class ModelServer:
    """The local model server: `start()` it, read `.port`, `stop()` it."""

    def __init__(self, options: ServerOptions, loader: Loader | None = None):
        self.options = options
        self.scheduler = BatchScheduler(options.batching) if options.batching is not None else None
        self.manager = Manager(
            loader
            or default_loader(
                options.enable_model_warmup,
                self.scheduler,
                options.tensorflow_intra_op_parallelism,
                options.tensorflow_inter_op_parallelism,
            ),
            poll_interval=options.file_system_poll_wait_seconds,
            max_num_load_retries=options.max_num_load_retries,
            load_retry_interval=options.load_retry_interval_micros / 1e6,
        )
        self.port: int | None = None
        self._server: grpc.Server | None = None
        self._stop = threading.Event()
        self._config_thread: threading.Thread | None = None
        self._config_text: str | None = None

    def start(self) -> ModelServer:
        """Read the config, load the models, then listen. Raises ConfigError, OSError."""
        self.manager.set_models(self._read_config())
        self.manager.poll_once()
        self.manager.start()
        if self.options.model_config_file and self.options.model_config_file_poll_wait_seconds > 0:
            self._config_thread = threading.Thread(
                target=self._watch_config, name="model-config-reloader", daemon=True
            )
            self._config_thread.start()
        server = grpc.server(
            ThreadPoolExecutor(max_workers=self.options.max_threads, thread_name_prefix="grpc"),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                # A port already taken must be an error, not a silently shared port.
                ("grpc.so_reuseport", 0),
                *self.options.grpc_channel_arguments,
            ],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(self.manager), server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(self.manager), server)
        address = f"{self.options.grpc_bind_address}:{self.options.port}"
        try:
            port = server.add_insecure_port(address)
        except RuntimeError:
            port = 0
        if not port:
            self.manager.stop()
            raise OSError(f"cannot listen on {address} (port in use?)")
        server.start()
        self._server, self.port = server, port
        log.info("Running gRPC ModelServer at %s:%d ...", self.options.grpc_bind_address, port)
        return self

    def stop(self, grace: float = 5.0) -> None:
        """Finish in-flight calls (up to `grace` seconds), then unload every model."""
        self._stop.set()
        if self._server is not None:
            self._server.stop(grace).wait()
        if self.scheduler is not None:
            self.scheduler.close()
        if self._config_thread is not None:
            self._config_thread.join(5.0)
        self.manager.stop()
        log.info("Model server stopped")

    def _read_config(self) -> list[model_config.ModelConfig]:
        if self.options.model_config_file is None:
            return model_config.single_model(self.options.model_name, self.options.model_base_path)
        path = self.options.model_config_file
        self._config_text = model_config.read_config_text(path)
        return model_config.parse_config(self._config_text, str(path))

    def _watch_config(self) -> None:
        path = self.options.model_config_file
        rejected: str | None = None  # a text that did not parse: not re-parsed, not re-logged
        unreadable = ""
        while not self._stop.wait(self.options.model_config_file_poll_wait_seconds):
            try:
                text = model_config.read_config_text(path)
            except model_config.ConfigError as exc:
                if str(exc) != unreadable:
                    log.error("%s; keeping the current config", exc)
                    unreadable = str(exc)
                continue
            unreadable = ""
            if text in (self._config_text, rejected):
                continue
            try:
                models = model_config.parse_config(text, str(path))
            except model_config.ConfigError as exc:
                log.error("%s; keeping the current config", exc)
                rejected = text
                continue
            self._config_text = text
            log.info("Model config %s changed: now serving %s", path, [m.name for m in models])
            self.manager.set_models(models)


def main(argv: list[str] | None = None) -> int:
    """`python -m serving.model_server`: run until SIGTERM or SIGINT."""
    options = parse_args(argv)
    logging.basicConfig(
        level=options.log_level,
        format="%(asctime)s %(levelname).1s %(name)s: %(message)s",
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = ModelServer(options).start()
    except (model_config.ConfigError, OSError) as exc:
        print(f"model_server: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, model_config.ConfigError) else 1
    stop.wait()
    log.info("Signal received: stopping gracefully")
    server.stop()
    return 0
