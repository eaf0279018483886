"""Command-line flags, named and defaulted like `tensorflow_model_server`'s where they apply.

Both `--port=8500` (TF Serving's form) and `--port 8500` work. A bad flag stops the
process with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from serving.model_server.batching import (
    BatchingConfigError,
    BatchingOptions,
    load_batching_parameters,
)


@dataclass(frozen=True)
class ServerOptions:
    """Everything the server needs, validated."""

    port: int = 8500
    grpc_bind_address: str = "127.0.0.1"
    model_config_file: Path | None = None
    model_name: str = "default"
    model_base_path: Path | None = None
    file_system_poll_wait_seconds: float = 1.0
    model_config_file_poll_wait_seconds: float = 0.0
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    enable_model_warmup: bool = True
    grpc_max_threads: int = 0  # 0: 4 per CPU, TF Serving's default
    grpc_channel_arguments: tuple[tuple[str, int | str], ...] = ()
    log_level: str = "INFO"
    # --enable_batching (with --batching_parameters_file): None means no batching.
    batching: BatchingOptions | None = None
    # TensorFlow's thread pools for running models (0: TensorFlow's choice).
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0

    @property
    def max_threads(self) -> int:
        """The gRPC thread pool size."""
        return self.grpc_max_threads or 4 * (os.cpu_count() or 1)


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _channel_arguments(text: str) -> tuple[tuple[str, int | str], ...]:
    """TF Serving's --grpc_channel_arguments: "key=value,key=value" (ints stay ints)."""
    pairs: list[tuple[str, int | str]] = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected key=value, got {item!r}")
        try:
            pairs.append((key.strip(), int(value)))
        except ValueError:
            pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for --help in the README)."""
    p = _Parser(
        prog="python -m serving.model_server",
        description="A local stand-in for TensorFlow Serving's gRPC API over a model repository.",
    )
    p.add_argument("--port", type=int, default=8500, help="gRPC port (0: any free port)")
    p.add_argument(
        "--grpc_bind_address",
        default="127.0.0.1",
        help="interface to listen on (not a TF Serving flag; TF Serving listens on 0.0.0.0)",
    )
    p.add_argument("--model_config_file", type=Path, help="models.config (model_config_list)")
    p.add_argument("--model_name", default="default", help="with --model_base_path: one model")
    p.add_argument("--model_base_path", type=Path, help="folder of the model's version folders")
    p.add_argument(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="seconds between scans for new versions (0: scan once at start)",
    )
    p.add_argument(
        "--model_config_file_poll_wait_seconds",
        type=float,
        default=0.0,
        help="seconds between re-reads of --model_config_file (0: read once)",
    )
    p.add_argument("--max_num_load_retries", type=int, default=5)
    p.add_argument("--load_retry_interval_micros", type=int, default=60_000_000)
    p.add_argument("--enable_model_warmup", type=_bool, default=True)
    p.add_argument("--grpc_max_threads", type=int, default=0, help="0: 4 per CPU")
    p.add_argument(
        "--grpc_channel_arguments",
        type=_channel_arguments,
        default=(),
        help='extra gRPC server arguments, "key=value,key=value"',
    )
    p.add_argument("--log_level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument(
        "--enable_batching",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        help="merge concurrent requests into batches (serving/model_server/batching.py)",
    )
    p.add_argument(
        "--batching_parameters_file",
        type=Path,
        help="BatchingParameters in text format (e.g. serving/tfserving/batching.config)",
    )
    p.add_argument(
        "--tensorflow_intra_op_parallelism",
        type=int,
        default=0,
        help="threads within one TensorFlow op (0: TensorFlow's choice)",
    )
    p.add_argument(
        "--tensorflow_inter_op_parallelism",
        type=int,
        default=0,
        help="TensorFlow ops run at once (0: TensorFlow's choice)",
    )
    return p


def parse_args(argv: list[str] | None = None) -> ServerOptions:
    """Parse and check the flags; exits with status 2 and one line on stderr if they are bad."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.model_config_file is None and ns.model_base_path is None:
        parser.error("give --model_config_file, or --model_name with --model_base_path")
    if ns.model_config_file is not None and ns.model_base_path is not None:
        parser.error("--model_config_file and --model_base_path are exclusive")
    if not 0 <= ns.port <= 65535:
        parser.error(f"--port must be in 0..65535, got {ns.port}")
    if ns.file_system_poll_wait_seconds < 0:
        parser.error("--file_system_poll_wait_seconds must be >= 0")
    if ns.model_config_file_poll_wait_seconds < 0:
        parser.error("--model_config_file_poll_wait_seconds must be >= 0")
    if ns.max_num_load_retries < 0 or ns.load_retry_interval_micros < 0:
        parser.error("--max_num_load_retries and --load_retry_interval_micros must be >= 0")
    if ns.grpc_max_threads < 0:
        parser.error("--grpc_max_threads must be >= 0")
    if ns.tensorflow_intra_op_parallelism < 0 or ns.tensorflow_inter_op_parallelism < 0:
        parser.error("--tensorflow_intra_op_parallelism and --tensorflow_inter_op_parallelism must be >= 0")
    if not ns.model_name:
        parser.error("--model_name must not be empty")
    batching = None
    if ns.enable_batching:
        try:
            batching = (
                load_batching_parameters(ns.batching_parameters_file)
                if ns.batching_parameters_file is not None
                else BatchingOptions()
            )
        except BatchingConfigError as exc:
            parser.error(str(exc))
    elif ns.batching_parameters_file is not None:
        parser.error("Batching parameter file provided but batching is not enabled (--enable_batching)")
    return ServerOptions(
        port=ns.port,
        grpc_bind_address=ns.grpc_bind_address,
        model_config_file=ns.model_config_file,
        model_name=ns.model_name,
        model_base_path=ns.model_base_path,
        file_system_poll_wait_seconds=ns.file_system_poll_wait_seconds,
        model_config_file_poll_wait_seconds=ns.model_config_file_poll_wait_seconds,
        max_num_load_retries=ns.max_num_load_retries,
        load_retry_interval_micros=ns.load_retry_interval_micros,
        enable_model_warmup=ns.enable_model_warmup,
        grpc_max_threads=ns.grpc_max_threads,
        grpc_channel_arguments=ns.grpc_channel_arguments,
        log_level=ns.log_level,
        batching=batching,
        tensorflow_intra_op_parallelism=ns.tensorflow_intra_op_parallelism,
        tensorflow_inter_op_parallelism=ns.tensorflow_inter_op_parallelism,
    )
