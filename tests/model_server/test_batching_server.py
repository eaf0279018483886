"""`--enable_batching` / `--batching_parameters_file` (TF Serving's flags) and a real model
server that batches concurrent Predict calls over gRPC on loopback."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from serving.model_server.batching import BatchingOptions
from serving.model_server.flags import ServerOptions, parse_args

ROOT = Path(__file__).resolve().parents[2]
BATCHING_CONFIG = ROOT / "serving" / "tfserving" / "batching.config"
CONFIG = ["--model_config_file", "models.config"]


def test_batching_is_off_by_default():
    assert parse_args(CONFIG).batching is None
    assert parse_args([*CONFIG, "--enable_batching=false"]).batching is None


def test_enable_batching_alone_uses_tf_servings_defaults():
    assert parse_args([*CONFIG, "--enable_batching"]).batching == BatchingOptions()
    assert parse_args([*CONFIG, "--enable_batching=true"]).batching == BatchingOptions()


def test_the_parameters_file_is_read():
    opts = parse_args([*CONFIG, "--enable_batching", f"--batching_parameters_file={BATCHING_CONFIG}"])
    assert (opts.batching.max_batch_size, opts.batching.batch_timeout_micros) == (256, 2000)
    assert (opts.batching.max_enqueued_batches, opts.batching.num_batch_threads) == (100, 4)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--batching_parameters_file", str(BATCHING_CONFIG)], "batching is not enabled"),
        (["--enable_batching", "--batching_parameters_file", "/nonexistent.config"], "cannot read"),
        (["--enable_batching=maybe"], "expected true or false"),
    ],
)
def test_bad_batching_flags_stop_with_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        parse_args([*CONFIG, *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_bad_parameters_file_names_the_file(tmp_path, capsys):
    bad = tmp_path / "batching.config"
    bad.write_text("max_batch_size { value: 0 }\n")
    with pytest.raises(SystemExit):
        parse_args([*CONFIG, "--enable_batching", "--batching_parameters_file", str(bad)])
    assert f"{bad}: max_batch_size must be positive" in capsys.readouterr().err


@pytest.mark.slow
def test_concurrent_predicts_are_batched_and_answered_right(model_repo):
    from contract import normalize
    from serving.gateway.grpc_client import TFServingClient
    from serving.model_server.server import ModelServer

    digits = model_repo.results["digits"]
    options = ServerOptions(
        port=0,
        model_config_file=model_repo.config_path,
        file_system_poll_wait_seconds=0,
        batching=BatchingOptions(max_batch_size=64, batch_timeout_micros=0, num_batch_threads=1),
    )
    server = ModelServer(options).start()
    try:
        x = normalize(digits.test_inputs[:24], digits.metadata.normalization)
        chunks = [x[i : i + 3] for i in range(0, 24, 3)]
        answers: list = [None] * len(chunks)
        with TFServingClient(f"127.0.0.1:{server.port}") as client:

            def call(i):
                answers[i] = client.predict("digits", {"pixels": chunks[i]}, digits.version)

            threads = [threading.Thread(target=call, args=(i,)) for i in range(len(chunks))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        assert server.scheduler.tasks_run == len(chunks)  # every call went through batching
        assert 1 <= server.scheduler.batches_run <= len(chunks)
    finally:
        server.stop(grace=1)
    assert all(version == digits.version for version, _ in answers)
    got = np.concatenate([outputs["probabilities"] for _, outputs in answers])
    np.testing.assert_allclose(got, digits.test_probabilities[:24], rtol=1e-5, atol=1e-6)
