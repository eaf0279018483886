"""Command-line flags: TF Serving's names and defaults, both --flag=value and --flag value,
and one clear line with exit status 2 for a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.model_server.flags import parse_args


def test_defaults_are_tf_servings():
    options = parse_args(["--model_config_file=models/models.config"])
    assert options.port == 8500
    assert options.model_config_file == Path("models/models.config")
    assert options.file_system_poll_wait_seconds == 1
    assert options.model_config_file_poll_wait_seconds == 0
    assert options.max_num_load_retries == 5
    assert options.load_retry_interval_micros == 60_000_000
    assert options.enable_model_warmup is True
    assert options.max_threads >= 4
    assert (options.tensorflow_intra_op_parallelism, options.tensorflow_inter_op_parallelism) == (0, 0)


def test_both_flag_forms_and_every_flag():
    options = parse_args(
        [
            "--port", "9000", "--model_name=digits", "--model_base_path", "/m/digits",
            "--file_system_poll_wait_seconds=0.5", "--max_num_load_retries=0",
            "--load_retry_interval_micros=1000", "--enable_model_warmup=false",
            "--grpc_max_threads=3", "--grpc_bind_address=0.0.0.0",
            "--grpc_channel_arguments=grpc.max_concurrent_streams=10,grpc.primary_user_agent=x",
            "--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism", "2",
        ]
    )
    assert (options.tensorflow_intra_op_parallelism, options.tensorflow_inter_op_parallelism) == (1, 2)
    assert options.port == 9000
    assert (options.model_name, options.model_base_path) == ("digits", Path("/m/digits"))
    assert options.file_system_poll_wait_seconds == 0.5
    assert options.max_num_load_retries == 0
    assert options.enable_model_warmup is False
    assert options.max_threads == 3
    assert options.grpc_bind_address == "0.0.0.0"
    assert options.grpc_channel_arguments == (
        ("grpc.max_concurrent_streams", 10),
        ("grpc.primary_user_agent", "x"),
    )


@pytest.mark.parametrize(
    "argv, fragment",
    [
        ([], "give --model_config_file, or --model_name with --model_base_path"),
        (["--model_config_file=a", "--model_base_path=b"], "exclusive"),
        (["--model_base_path=b", "--port=70000"], "--port must be in 0..65535"),
        (["--model_base_path=b", "--port=abc"], "invalid int value"),
        (["--model_base_path=b", "--file_system_poll_wait_seconds=-1"], "must be >= 0"),
        (["--model_base_path=b", "--enable_model_warmup=maybe"], "expected true or false"),
        (["--model_base_path=b", "--grpc_channel_arguments=novalue"], "expected key=value"),
        (["--model_base_path=b", "--rest_api_port=8501"], "unrecognized arguments"),
        (["--model_base_path=b", "--model_name="], "--model_name must not be empty"),
        (["--model_base_path=b", "--tensorflow_intra_op_parallelism=-1"], "must be >= 0"),
        (["--model_base_path=b", "--tensorflow_inter_op_parallelism=-2"], "must be >= 0"),
    ],
)
def test_bad_flags_exit_2_with_one_line(capsys, argv, fragment):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err
