"""Cross-request batching (serving/model_server/batching.py): TF Serving's parameters file,
merging, limits, padding, errors; then the real digits SavedModel behind it.

Concurrency is made deterministic without sleeping: the first batch blocks inside the
model function on an Event until the test has seen (by polling `pending()`) that the
other requests are queued behind it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from serving.model_server.batching import (
    BatchingConfigError,
    BatchingOptions,
    BatchingServable,
    BatchScheduler,
    batch_size,
    load_batching_parameters,
    parse_batching_parameters,
)
from serving.model_server.errors import ServingError

REPO_CONFIG = Path(__file__).resolve().parents[2] / "serving" / "tfserving" / "batching.config"
POLL_SECONDS = 30.0


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + POLL_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class Recorder:
    """A model function (y = 2x) that records its batches; `gate` holds the first one."""

    def __init__(self, gate_first: bool = False, fail: Exception | None = None):
        self.batches: list[np.ndarray] = []
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.gate_first = gate_first
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, inputs):
        with self._lock:
            first = not self.batches
            self.batches.append(np.array(inputs["x"]))
        if first and self.gate_first:
            self.entered.set()
            assert self.gate.wait(POLL_SECONDS)
        if self.fail is not None:
            raise self.fail
        return {"y": inputs["x"] * 2}


class Caller(threading.Thread):
    """Runs one request through the scheduler in a thread and keeps what came back."""

    def __init__(self, scheduler, rows, key="k", process=None):
        super().__init__(daemon=True)
        self.scheduler, self.rows, self.key, self.process = scheduler, rows, key, process
        self.result = self.error = None
        self.start()

    def run(self):
        try:
            self.result = self.scheduler.run(self.key, {"x": self.rows}, self.process)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            self.error = exc

    def outcome(self):
        self.join(POLL_SECONDS)
        assert not self.is_alive()
        return self.result, self.error


def rows(start: int, count: int) -> np.ndarray:
    return np.arange(start, start + count, dtype=np.float32).reshape(count, 1)


def blocked(scheduler, model, first_rows, waiting: list[np.ndarray], keys=None):
    """Start a first request that blocks in the model, then queue `waiting` behind it."""
    first = Caller(scheduler, first_rows, process=model)
    assert model.entered.wait(POLL_SECONDS)
    callers = [Caller(scheduler, r, key=(keys[i] if keys else "k"), process=model) for i, r in enumerate(waiting)]
    wait_until(lambda: scheduler.pending() == len(waiting), "the requests to queue")
    return first, callers


# -- the parameters file ------------------------------------------------------------------


def test_the_deployment_batching_config_parses():
    opts = load_batching_parameters(REPO_CONFIG)
    assert opts.max_batch_size == 256
    assert opts.batch_timeout_micros == 2000
    assert opts.max_enqueued_batches == 100
    assert opts.num_batch_threads == 4
    assert opts.allowed_batch_sizes == ()


def test_missing_fields_take_tf_servings_defaults():
    opts = parse_batching_parameters("batch_timeout_micros { value: 0 }\nallowed_batch_sizes: 8\n"
                                     "allowed_batch_sizes: 1000\n")
    assert (opts.max_batch_size, opts.batch_timeout_micros, opts.max_enqueued_batches) == (1000, 0, 10)
    assert opts.num_batch_threads >= 1
    assert opts.allowed_batch_sizes == (8, 1000)
    assert [opts.padded_size(n) for n in (1, 8, 9, 1000)] == [8, 8, 1000, 1000]


@pytest.mark.parametrize(
    "text, message",
    [
        ("max_batch_size: 3", "not a BatchingParameters"),
        ("max_batch_size { value: 0 }", "max_batch_size must be positive"),
        ("batch_timeout_micros { value: -1 }", "batch_timeout_micros must be >= 0"),
        ("num_batch_threads { value: 0 }", "num_batch_threads must be positive"),
        ("max_enqueued_batches { value: 0 }", "max_enqueued_batches must be positive"),
        ("max_batch_size { value: 8 } allowed_batch_sizes: 4 allowed_batch_sizes: 2 allowed_batch_sizes: 8",
         "increasing"),
        ("max_batch_size { value: 8 } allowed_batch_sizes: 4", "must equal max_batch_size"),
        ("pad_variable_length_inputs: true", "pad_variable_length_inputs is not supported"),
    ],
)
def test_bad_parameters_are_one_clear_error(text, message):
    with pytest.raises(BatchingConfigError, match=message):
        parse_batching_parameters(text, "batching.config")


def test_an_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(BatchingConfigError, match="cannot read"):
        load_batching_parameters(tmp_path / "nope.config")


# -- the scheduler ------------------------------------------------------------------------


def test_a_lone_request_runs_at_once_with_its_own_inputs():
    scheduler = BatchScheduler(BatchingOptions(batch_timeout_micros=0, num_batch_threads=1))
    seen = []
    x = rows(0, 3)

    def model(inputs):
        seen.append(inputs["x"])
        return {"y": inputs["x"] + 1}

    out = scheduler.run("k", {"x": x}, model)
    assert seen[0] is x  # no copy, no merge for a batch of one
    np.testing.assert_array_equal(out["y"], x + 1)
    assert (scheduler.batches_run, scheduler.tasks_run, scheduler.pending()) == (1, 1, 0)


def test_requests_queued_behind_a_busy_batch_thread_run_as_one_batch():
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=64, num_batch_threads=1))
    model = Recorder(gate_first=True)
    waiting = [rows(10 * i, i) for i in (1, 2, 3, 4)]
    first, callers = blocked(scheduler, model, rows(100, 1), waiting)
    model.gate.set()
    assert first.outcome()[1] is None
    for caller, r in zip(callers, waiting):
        result, error = caller.outcome()
        assert error is None
        np.testing.assert_array_equal(result["y"], r * 2)  # each request gets its own rows
    assert len(model.batches) == 2
    np.testing.assert_array_equal(model.batches[1], np.concatenate(waiting))  # oldest first
    assert (scheduler.batches_run, scheduler.tasks_run) == (2, 5)


def test_batches_never_exceed_max_batch_size():
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=4, num_batch_threads=1, max_enqueued_batches=10))
    model = Recorder(gate_first=True)
    waiting = [rows(10 * i, 3) for i in range(3)] + [rows(90, 1)]
    first, callers = blocked(scheduler, model, rows(100, 1), waiting)
    model.gate.set()
    for caller in [first, *callers]:
        assert caller.outcome()[1] is None
    sizes = [len(b) for b in model.batches]
    assert max(sizes) <= 4 and sum(sizes) == 11
    assert sizes[1:] == [3, 3, 4]  # 3+3 > 4; the last 3 and the 1 share a batch


def test_only_requests_of_the_same_key_are_merged():
    scheduler = BatchScheduler(BatchingOptions(num_batch_threads=1))
    model = Recorder(gate_first=True)
    waiting = [rows(0, 1), rows(1, 1), rows(2, 1)]
    first, callers = blocked(scheduler, model, rows(100, 1), waiting, keys=["a", "b", "a"])
    model.gate.set()
    for caller in [first, *callers]:
        assert caller.outcome()[1] is None
    assert sorted(len(b) for b in model.batches[1:]) == [1, 2]


def test_a_full_batch_runs_without_waiting_for_the_timeout():
    # A timeout of an hour: only a full batch can explain that the requests are answered.
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=3, batch_timeout_micros=3_600_000_000))
    model = Recorder()
    a = Caller(scheduler, rows(0, 1), process=model)
    wait_until(lambda: scheduler.pending() == 1, "the first request to wait for company")
    b = Caller(scheduler, rows(1, 2), process=model)
    for caller in (a, b):
        assert caller.outcome()[1] is None
    assert len(model.batches) == 1 and len(model.batches[0]) == 3


def test_allowed_batch_sizes_pad_with_the_first_instance_and_drop_the_padding():
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=8, allowed_batch_sizes=(4, 8), num_batch_threads=1))
    model = Recorder()
    out = scheduler.run("k", {"x": rows(5, 3)}, model)
    np.testing.assert_array_equal(model.batches[0], np.array([[5], [6], [7], [5]], np.float32))
    np.testing.assert_array_equal(out["y"], rows(5, 3) * 2)


def test_a_request_larger_than_max_batch_size_is_invalid():
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=4))
    with pytest.raises(ServingError) as info:
        scheduler.run("k", {"x": rows(0, 5)}, Recorder())
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Task size 5 is larger than maximum input batch size 4" in info.value.message


def test_a_full_queue_refuses_with_unavailable():
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=2, max_enqueued_batches=1, num_batch_threads=1))
    model = Recorder(gate_first=True)
    first, callers = blocked(scheduler, model, rows(0, 1), [rows(1, 1), rows(2, 1)])
    with pytest.raises(ServingError) as info:
        scheduler.run("k", {"x": rows(3, 1)}, model)
    assert info.value.code == grpc.StatusCode.UNAVAILABLE
    assert "queue" in info.value.message and "full" in info.value.message
    model.gate.set()
    for caller in [first, *callers]:
        assert caller.outcome()[1] is None


def test_a_failing_batch_fails_every_request_in_it():
    scheduler = BatchScheduler(BatchingOptions(num_batch_threads=1))
    model = Recorder(gate_first=True)
    first, callers = blocked(scheduler, model, rows(0, 1), [rows(1, 1), rows(2, 1)])
    model.fail = ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, "out of memory")
    model.gate.set()
    errors = [c.outcome()[1] for c in (first, *callers)]
    assert all(isinstance(e, ServingError) and e.code == grpc.StatusCode.RESOURCE_EXHAUSTED for e in errors)


def test_an_unexpected_exception_becomes_internal_without_its_text():
    scheduler = BatchScheduler(BatchingOptions())
    with pytest.raises(ServingError) as info:
        scheduler.run("k", {"x": rows(0, 1)}, Recorder(fail=KeyError("secret detail")))
    assert info.value.code == grpc.StatusCode.INTERNAL
    assert "secret" not in info.value.message


def test_outputs_without_one_row_per_instance_are_internal():
    scheduler = BatchScheduler(BatchingOptions(num_batch_threads=1, max_batch_size=8, allowed_batch_sizes=(8,)))
    with pytest.raises(ServingError) as info:
        scheduler.run("k", {"x": rows(0, 2)}, lambda inputs: {"y": np.zeros((3, 1))})
    assert info.value.code == grpc.StatusCode.INTERNAL


def test_inputs_must_agree_on_the_batch_dimension():
    assert batch_size({"a": np.zeros((3, 2)), "b": np.zeros((3,))}) == 3
    for bad in ({"a": np.zeros((3, 2)), "b": np.zeros((2, 2))}, {"a": np.float32(1)}, {}):
        with pytest.raises(ServingError) as info:
            batch_size(bad)
        assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_a_closed_scheduler_refuses_new_requests():
    scheduler = BatchScheduler(BatchingOptions())
    scheduler.close()
    with pytest.raises(ServingError) as info:
        scheduler.run("k", {"x": rows(0, 1)}, Recorder())
    assert info.value.code == grpc.StatusCode.UNAVAILABLE


# -- with the real SavedModel -------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_servable(model_repo):
    from serving.model_server.servable import load_servable

    result = model_repo.results["digits"]
    return load_servable("digits", result.version, result.version_dir), result


@pytest.mark.slow
def test_batched_runs_of_the_real_model_match_direct_runs(digits_servable):
    from contract import normalize

    servable, result = digits_servable
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=256, num_batch_threads=1))
    batching = BatchingServable(servable, scheduler)
    assert (batching.name, batching.version, batching.signature_defs) == (
        servable.name, servable.version, servable.signature_defs)
    x = normalize(result.test_inputs[:40], result.metadata.normalization)
    chunks = [x[i : i + n] for i, n in ((0, 1), (1, 7), (8, 32))]
    expected = [servable.run("serving_default", {"pixels": c}, ["probabilities"]) for c in chunks]
    outcomes: list = [None] * len(chunks)

    def call(i):
        outcomes[i] = batching.run("serving_default", {"pixels": chunks[i]}, ["probabilities"])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(chunks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(POLL_SECONDS)
    for got, want in zip(outcomes, expected):
        np.testing.assert_allclose(got["probabilities"], want["probabilities"], rtol=1e-5, atol=1e-6)
    assert scheduler.tasks_run == 3 and 1 <= scheduler.batches_run <= 3
    np.testing.assert_allclose(
        np.concatenate([o["probabilities"] for o in outcomes]), result.test_probabilities[:40], rtol=1e-5, atol=1e-6
    )
