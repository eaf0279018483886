"""Cross-request batching, as TF Serving's `--enable_batching` does it.

Concurrent Predict calls on the same servable and signature (with the same input layout
and outputs) are merged into one run of the model, up to `max_batch_size` instances, and
the outputs are split back by rows. The parameters are TF Serving's BatchingParameters,
read from the same text file (`--batching_parameters_file`, e.g.
serving/tfserving/batching.config), with TF Serving's meaning:

- a batch is run as soon as it is full, or once its oldest request has waited
  `batch_timeout_micros` and a batch thread is free; at most `num_batch_threads` batches
  run at once (TF Serving's guide for CPUs: timeout 0 may be best; batches then form
  from whatever queued while every batch thread was busy);
- a request larger than `max_batch_size` is refused (INVALID_ARGUMENT), as TF Serving
  does without large-batch splitting; so is one whose queue already holds
  `max_enqueued_batches` batches' worth of instances (UNAVAILABLE);
- with `allowed_batch_sizes`, a batch is padded up to the next allowed size with
  repeats of its first instance, and the padding's outputs are dropped.

There is no thread pool of its own: the gRPC threads of the waiting requests run the
batches. A request whose queue is ready while fewer than `num_batch_threads` batches
run takes the oldest queued requests (its own among them, usually) and runs them; the
others wait for their rows. At low load a request thus runs itself at once, with no
hand-off between threads; under load the queue fills while the batch threads are busy.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from google.protobuf import text_format

from protogen.tfserving import session_bundle_config_pb2
from serving.model_server.errors import ServingError, internal, invalid_argument

Outputs = dict[str, np.ndarray]
ProcessBatch = Callable[[Mapping[str, np.ndarray]], Outputs]

_QUEUED, _RUNNING, _DONE = range(3)


class BatchingConfigError(ValueError):
    """The batching parameters file cannot be read or holds impossible values."""


@dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's BatchingParameters, with its defaults."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = os.cpu_count() or 1
    allowed_batch_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise BatchingConfigError(f"max_batch_size must be positive, got {self.max_batch_size}")
        if self.batch_timeout_micros < 0:
            raise BatchingConfigError("batch_timeout_micros must be >= 0")
        if self.max_enqueued_batches < 1:
            raise BatchingConfigError("max_enqueued_batches must be positive")
        if self.num_batch_threads < 1:
            raise BatchingConfigError("num_batch_threads must be positive")
        sizes = self.allowed_batch_sizes
        if sizes:
            if any(b <= a for a, b in itertools.pairwise(sizes)) or sizes[0] < 1:
                raise BatchingConfigError("allowed_batch_sizes must be positive and increasing")
            if sizes[-1] != self.max_batch_size:
                raise BatchingConfigError(
                    f"the last allowed_batch_sizes entry ({sizes[-1]}) must equal "
                    f"max_batch_size ({self.max_batch_size})"
                )

    def padded_size(self, size: int) -> int:
        """The batch size a batch of `size` instances runs at (the next allowed size)."""
        for allowed in self.allowed_batch_sizes:
            if allowed >= size:
                return allowed
        return size


def parse_batching_parameters(text: str, source: str = "<text>") -> BatchingOptions:
    """BatchingOptions from BatchingParameters in protobuf text format."""
    params = session_bundle_config_pb2.BatchingParameters()
    try:
        text_format.Parse(text, params)
    except text_format.ParseError as exc:
        raise BatchingConfigError(f"{source}: not a BatchingParameters text proto: {exc}") from None
    if params.pad_variable_length_inputs:
        raise BatchingConfigError(f"{source}: pad_variable_length_inputs is not supported")
    defaults = BatchingOptions()
    kwargs = {}
    for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"):
        kwargs[name] = int(getattr(params, name).value) if params.HasField(name) else getattr(defaults, name)
    kwargs["allowed_batch_sizes"] = tuple(int(s) for s in params.allowed_batch_sizes)
    try:
        return BatchingOptions(**kwargs)
    except BatchingConfigError as exc:
        raise BatchingConfigError(f"{source}: {exc}") from None


def load_batching_parameters(path: str | Path) -> BatchingOptions:
    """BatchingOptions from a `--batching_parameters_file`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchingConfigError(f"cannot read batching parameters file {path}: {exc}") from None
    return parse_batching_parameters(text, str(path))


class _Task:
    __slots__ = ("enqueued_at", "error", "inputs", "outputs", "size", "state", "wakeup")

    def __init__(self, inputs: Mapping[str, np.ndarray], size: int, lock: threading.Lock):
        self.inputs = inputs
        self.size = size
        self.enqueued_at = time.monotonic()
        self.state = _QUEUED
        self.outputs: Outputs | None = None
        self.error: BaseException | None = None
        self.wakeup = threading.Condition(lock)


class _Queue:
    """The waiting requests of one batching key, oldest first."""

    __slots__ = ("process", "size", "tasks")

    def __init__(self, process: ProcessBatch):
        self.tasks: deque[_Task] = deque()
        self.size = 0
        self.process = process


class BatchScheduler:
    """Merges concurrent runs that share a key; one scheduler serves every model.

    `run(key, inputs, process)` blocks until the request's rows are computed; `process`
    runs the model on a merged batch (the same for every request of a key).
    """

    def __init__(self, options: BatchingOptions):
        self.options = options
        self._lock = threading.Lock()
        self._queues: dict[Hashable, _Queue] = {}
        self._running = 0
        self._closed = False
        self.batches_run = 0  # for tests and logs: how many model runs served how many tasks
        self.tasks_run = 0

    def run(self, key: Hashable, inputs: Mapping[str, np.ndarray], process: ProcessBatch) -> Outputs:
        """Run `inputs` (all with the same first dimension) in a batch with others of `key`."""
        size = batch_size(inputs)
        limit = self.options.max_batch_size
        if size > limit:
            raise invalid_argument(f"Task size {size} is larger than maximum input batch size {limit}")
        task = _Task(inputs, size, self._lock)
        with self._lock:
            if self._closed:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "the model server is stopping")
            queue = self._queues.get(key)
            queued = queue.size if queue is not None else 0
            if -(-(queued + size) // limit) > self.options.max_enqueued_batches:
                raise ServingError(
                    grpc.StatusCode.UNAVAILABLE,
                    "The batch scheduling queue to which this task was submitted is full",
                )
            if queue is None:
                queue = self._queues[key] = _Queue(process)
            queue.tasks.append(task)
            queue.size += size
            if queue.tasks[0] is not task:
                queue.tasks[0].wakeup.notify()  # the queue may have become full
            self._wait(task, key, queue)
        if task.error is not None:
            raise task.error
        return task.outputs

    def pending(self) -> int:
        """How many requests wait in a queue (not yet in a running batch)."""
        with self._lock:
            return sum(len(q.tasks) for q in self._queues.values())

    def close(self) -> None:
        """Refuse new requests (UNAVAILABLE); queued and running ones still finish."""
        with self._lock:
            self._closed = True

    # -- scheduling (called with the lock held) ------------------------------------------

    def _ready_at(self, queue: _Queue) -> float:
        if queue.size >= self.options.max_batch_size:
            return 0.0
        return queue.tasks[0].enqueued_at + self.options.batch_timeout_micros / 1e6

    def _wait(self, task: _Task, key: Hashable, queue: _Queue) -> None:
        while task.state != _DONE:
            timeout = None
            if task.state == _QUEUED and self._running < self.options.num_batch_threads:
                ready_at = self._ready_at(queue)
                now = time.monotonic()
                if now >= ready_at:
                    self._run_batch(key, queue)
                    continue
                if queue.tasks[0] is task:
                    timeout = ready_at - now
            task.wakeup.wait(timeout)

    def _take(self, key: Hashable, queue: _Queue) -> list[_Task]:
        batch, total = [], 0
        while queue.tasks and total + queue.tasks[0].size <= self.options.max_batch_size:
            t = queue.tasks.popleft()
            t.state = _RUNNING
            total += t.size
            batch.append(t)
        queue.size -= total
        if queue.tasks:
            queue.tasks[0].wakeup.notify()  # the new head times its own wait
        elif self._queues.get(key) is queue:
            del self._queues[key]
        return batch

    def _run_batch(self, key: Hashable, queue: _Queue) -> None:
        batch = self._take(key, queue)
        self._running += 1
        self._lock.release()
        try:
            self._execute(batch, queue.process)
        finally:
            self._lock.acquire()
            self._running -= 1
            self.batches_run += 1
            self.tasks_run += len(batch)
            for t in batch:
                t.state = _DONE
                t.wakeup.notify()
            for waiting in self._queues.values():  # a batch thread is free again
                waiting.tasks[0].wakeup.notify()

    def _execute(self, batch: list[_Task], process: ProcessBatch) -> None:
        """Run one merged batch and hand each task its rows (or the batch's error)."""
        try:
            if len(batch) == 1 and not self.options.allowed_batch_sizes:
                batch[0].outputs = process(batch[0].inputs)
                return
            total = sum(t.size for t in batch)
            padded = self.options.padded_size(total)
            merged = {}
            for name in batch[0].inputs:
                parts = [np.asarray(t.inputs[name]) for t in batch]
                if padded > total:
                    parts.append(np.repeat(parts[0][:1], padded - total, axis=0))
                merged[name] = np.concatenate(parts, axis=0)
            outputs = process(merged)
            for name, value in outputs.items():
                if np.ndim(value) == 0 or len(value) != padded:
                    raise internal(
                        f"batched output '{name}' has {np.shape(value)[:1]} rows, expected {padded}"
                    )
            start = 0
            for t in batch:
                t.outputs = {name: value[start : start + t.size] for name, value in outputs.items()}
                start += t.size
        except ServingError as exc:
            for t in batch:
                t.error = exc
        except Exception as exc:  # noqa: BLE001 - every waiting request must get an answer
            err = internal(f"batch failed: {type(exc).__name__}")
            err.__cause__ = exc
            for t in batch:
                t.error = err


def batch_size(inputs: Mapping[str, np.ndarray]) -> int:
    """The common first dimension of the inputs (INVALID_ARGUMENT if they differ)."""
    sizes = {name: int(np.shape(value)[0]) if np.ndim(value) else -1 for name, value in inputs.items()}
    distinct = set(sizes.values())
    if not sizes or len(distinct) != 1 or -1 in distinct:
        raise invalid_argument(
            "Batching session Run() input tensors must have equal 0th-dimension size; got "
            + ", ".join(f"{k}: {v}" for k, v in sorted(sizes.items()))
        )
    return distinct.pop()


class BatchingServable:
    """A servable whose runs go through a BatchScheduler; everything else is the servable's.

    Requests are merged only with others of the same version and signature, asking for
    the same outputs, with the same input names, dtypes and per-instance shapes.
    """

    def __init__(self, servable, scheduler: BatchScheduler):
        self._servable = servable
        self._scheduler = scheduler

    def __getattr__(self, name: str):
        return getattr(self._servable, name)

    def __repr__(self) -> str:
        return f"Batching({self._servable!r})"

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray], output_keys: list[str]) -> Outputs:
        """Servable.run, batched with concurrent compatible runs."""
        layout = tuple(
            (name, np.asarray(value).dtype.str, np.shape(value)[1:]) for name, value in sorted(inputs.items())
        )
        keys = list(output_keys)
        key = (self, signature_name, tuple(keys), layout)
        servable = self._servable
        return self._scheduler.run(key, inputs, lambda batch: servable.run(signature_name, batch, keys))
