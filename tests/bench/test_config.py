"""BENCH_* settings: defaults, parsing, and one clear error per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import BenchConfig, ConfigError


def test_defaults_cover_the_issue_matrix():
    cfg = BenchConfig.from_env({})
    assert cfg.servers == ("a", "b", "c", "d")
    assert cfg.models == ("digits", "wide")
    assert cfg.concurrency == (1, 32) and cfg.instances == (1, 32)
    assert cfg.model_server_args == ()  # no batching: it measured slower on CPUs (README)
    assert len(cfg.cells()) == 8
    assert cfg.cells()[0] == ("digits", 1, 1)


def test_values_are_parsed():
    cfg = BenchConfig.from_env({
        "BENCH_DURATION_SECONDS": "3.5",
        "BENCH_REPEATS": "3",
        "BENCH_SERVERS": "c, a",
        "BENCH_MODELS": "wide",
        "BENCH_CONCURRENCY": "4,8",
        "BENCH_RETRAIN": "yes",
        "BENCH_OUT_DIR": "/tmp/x",
        "BENCH_MODEL_SERVER_ARGS": "--enable_batching=true --grpc_max_threads 8",
    })
    assert cfg.duration_seconds == 3.5 and cfg.repeats == 3
    assert cfg.servers == ("a", "c")  # canonical order
    assert cfg.models == ("wide",)
    assert cfg.concurrency == (4, 8)
    assert cfg.retrain is True
    assert cfg.out_dir == Path("/tmp/x")
    assert cfg.model_server_args == ("--enable_batching=true", "--grpc_max_threads", "8")


@pytest.mark.parametrize(
    "env, names",
    [
        ({"BENCH_DURATION_SECONDS": "fast"}, "BENCH_DURATION_SECONDS"),
        ({"BENCH_DURATION_SECONDS": "0"}, "BENCH_DURATION_SECONDS"),
        ({"BENCH_REPEATS": "1.5"}, "BENCH_REPEATS"),
        ({"BENCH_SERVERS": "a,x"}, "BENCH_SERVERS"),
        ({"BENCH_SERVERS": ""}, "BENCH_SERVERS"),
        ({"BENCH_MODELS": "mnist"}, "BENCH_MODELS"),
        ({"BENCH_CONCURRENCY": "1,,x"}, "BENCH_CONCURRENCY"),
        ({"BENCH_INSTANCES": "0"}, "BENCH_INSTANCES"),
        ({"BENCH_RETRAIN": "maybe"}, "BENCH_RETRAIN"),
        ({"BENCH_DURATON_SECONDS": "5"}, "BENCH_DURATON_SECONDS"),
        ({"BENCH_MODEL_SERVER_ARGS": "'unclosed"}, "BENCH_MODEL_SERVER_ARGS"),
    ],
)
def test_bad_values_name_the_variable(env, names):
    with pytest.raises(ConfigError, match=names):
        BenchConfig.from_env(env)
