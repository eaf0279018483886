"""A bounded load driver, and the reference answers its predictions are checked against.

`LoadDriver` runs `concurrency` client threads, each with its own HTTP/1.1 keep-alive
connection (http.client: a real client on a real socket), sending requests (back to back,
or at most one per `interval` seconds each) until they have sent `max_requests` in total
or `max_seconds` have passed, or `stop()` is called. Every
answer is recorded (`Outcome`), connection errors included, and `Figures` sums them up
for the test output (also kept in `SUMMARY`, printed at the end of the session).

`Reference` holds what each model version must answer for each test input: the label
and probabilities of the training job's own evaluation (TrainingResult), or of the
version's SavedModel on disk, normalized with the contract; `Cases.problems` compares a
recorded answer with it.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

# Every driver run's figures and every scenario's notes, for the session's terminal summary.
SUMMARY: list[str] = []


def note(line: str) -> None:
    """Print `line` (in the test's output) and keep it for the session's summary."""
    print(line)
    SUMMARY.append(line)


@dataclass(frozen=True)
class Request:
    """One HTTP request of the load; `indices` says which test inputs it carries."""

    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    indices: tuple[int, ...] = ()


@dataclass
class Outcome:
    """What happened to one request."""

    client: int
    seq: int
    connection: int  # which connection of this client (a new one after every error)
    request: Request
    started: float  # time.monotonic()
    seconds: float
    status: int | None = None
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # the exception class, when there was no answer

    @property
    def version(self) -> str | None:
        """The model version of a prediction answer."""
        return self.body.get("model_version") if isinstance(self.body, dict) else None


@dataclass(frozen=True)
class Figures:
    """The sums of a run, as printed in the test output."""

    sent: int
    answered: int
    by_status: dict[int, int]
    errors: dict[str, int]
    seconds: float

    @classmethod
    def of(cls, outcomes: list[Outcome], seconds: float) -> Figures:
        """Sum up `outcomes`."""
        return cls(
            sent=len(outcomes),
            answered=sum(o.status is not None for o in outcomes),
            by_status=dict(sorted(Counter(o.status for o in outcomes if o.status is not None).items())),
            errors=dict(sorted(Counter(o.error for o in outcomes if o.error).items())),
            seconds=round(seconds, 1),
        )

    @property
    def failed(self) -> int:
        """Requests without a 2xx answer."""
        return self.sent - sum(n for s, n in self.by_status.items() if 200 <= s < 300)

    def line(self) -> str:
        """One line: sent, answered, per status, connection errors, duration."""
        statuses = ", ".join(f"{s}: {n}" for s, n in self.by_status.items()) or "none"
        errors = ", ".join(f"{e}: {n}" for e, n in self.errors.items()) or "none"
        return (f"sent {self.sent}, answered {self.answered} ({statuses}), failed {self.failed}, "
                f"no answer {self.sent - self.answered} ({errors}), in {self.seconds} s")


class LoadDriver:
    """Client threads sending `make_request(client, seq)` to `url`, bounded in requests and time."""

    def __init__(
        self,
        url: str,
        make_request: Callable[[int, int], Request],
        *,
        concurrency: int = 4,
        max_requests: int = 2000,
        max_seconds: float = 120.0,
        request_timeout: float = 60.0,
        interval: float = 0.0,
        label: str = "load",
    ):
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.make_request = make_request
        self.concurrency = concurrency
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.request_timeout = request_timeout
        self.interval = interval
        self.label = label
        self._outcomes: list[Outcome] = []
        self._reserved = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = 0.0
        self._stopped_at: float | None = None

    def start(self) -> Self:
        """Start the client threads."""
        self._started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._client, args=(i,), name=f"{self.label}-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> Figures:
        """Stop sending, wait for the requests in flight (each bounded by its timeout), and
        record and return the figures."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.request_timeout + 10)
        assert not any(t.is_alive() for t in self._threads), "a client thread did not finish"
        if self._stopped_at is None:
            self._stopped_at = time.monotonic()
            note(f"[{self.label}] {self.figures().line()}")
        return self.figures()

    def done(self) -> bool:
        """Whether every client thread has finished (budget spent or stopped)."""
        return all(not t.is_alive() for t in self._threads)

    def outcomes(self) -> list[Outcome]:
        """A copy of the outcomes so far, in completion order."""
        with self._lock:
            return list(self._outcomes)

    def since(self, moment: float) -> list[Outcome]:
        """Outcomes of requests started after `moment` (time.monotonic())."""
        return [o for o in self.outcomes() if o.started >= moment]

    def figures(self) -> Figures:
        """The sums so far."""
        end = self._stopped_at or time.monotonic()
        return Figures.of(self.outcomes(), end - self._started)

    def wait_until(self, predicate: Callable[[list[Outcome]], bool], timeout: float, what: str) -> None:
        """Wait (bounded) until `predicate(outcomes)` holds; fail if the budget runs out first."""
        deadline = time.monotonic() + timeout
        while not predicate(self.outcomes()):
            if time.monotonic() > deadline or self.done():
                raise AssertionError(
                    f"{self.label}: no {what} after {timeout:g} s ({self.figures().line()})"
                )
            time.sleep(0.05)  # poll interval of a bounded wait

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _take(self) -> int | None:
        with self._lock:
            if self._reserved >= self.max_requests:
                return None
            self._reserved += 1
            return self._reserved

    def _client(self, client: int) -> None:
        conn: http.client.HTTPConnection | None = None
        connection = 0
        seq = 0
        deadline = self._started + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline and self._take() is not None:
            request = self.make_request(client, seq)
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.request_timeout)
                connection += 1
            outcome = Outcome(client, seq, connection, request, time.monotonic(), 0.0)
            try:
                conn.request(request.method, request.path, request.body, request.headers)
                response = conn.getresponse()
                raw = response.read()
                outcome.status = response.status
                outcome.headers = {k.lower(): v for k, v in response.getheaders()}
                outcome.body = _decode(raw)
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                outcome.error = type(exc).__name__
                conn.close()
                conn = None
            outcome.seconds = time.monotonic() - outcome.started
            with self._lock:
                self._outcomes.append(outcome)
            seq += 1
            if outcome.error or self.interval:
                self._stop.wait(max(self.interval, 0.05 if outcome.error else 0))  # pacing
        if conn is not None:
            conn.close()


def _decode(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return raw[:200]


def report(driver: LoadDriver) -> Figures:
    """Stop `driver`; its figures (printed, and in the session summary)."""
    return driver.stop()


# -- reference answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """What one model version answers for each test input."""

    labels: tuple[str, ...]  # the version's label list, in output order
    probabilities: np.ndarray  # (inputs, classes)

    @property
    def expected(self) -> list[str]:
        """The expected label of each input (softmax: argmax, ties to the lowest index)."""
        return [self.labels[i] for i in np.argmax(self.probabilities, axis=1)]

    @classmethod
    def of_result(cls, result) -> Reference:
        """From a TrainingResult: the exported model's own answers on its test split."""
        return cls(tuple(result.metadata.labels), np.asarray(result.test_probabilities))

    @classmethod
    def of_version(cls, version_dir: Path, inputs: np.ndarray) -> Reference:
        """Run the SavedModel of `version_dir` on `inputs`, normalized with its metadata."""
        from contract import load_metadata, normalize
        from training.export import load_signature, predict_with

        meta = load_metadata(version_dir)
        x = normalize(inputs, meta.normalization)
        probabilities = predict_with(load_signature(version_dir), meta.input.name, x)
        return cls(tuple(meta.labels), np.asarray(probabilities))


class Cases:
    """Predict requests over the test inputs of an image model, and their checks."""

    # Two answers this close are a tie: either label is right.
    TIE = 1e-5
    # How far the gateway's probabilities may be from the reference (float32 runs).
    TOLERANCE = 1e-4

    def __init__(self, model: str, inputs: np.ndarray, batch: int = 4):
        self.model = model
        self.inputs = np.asarray(inputs)
        self.batch = batch

    def request(self, client: int, seq: int) -> Request:
        """A batch of `batch` test inputs, different for each client and step."""
        n = len(self.inputs)
        start = (client * 7919 + seq * self.batch) % n
        indices = tuple((start + k) % n for k in range(self.batch))
        body = json.dumps({"instances": self.inputs[list(indices)].tolist()}).encode()
        return Request(
            "POST", f"/v1/models/{self.model}:predict", body,
            {"Content-Type": "application/json"}, indices,
        )

    def problems(self, outcome: Outcome, references: dict[str, Reference]) -> list[str]:
        """What is wrong with a 200 answer, given each version's reference (empty: right)."""
        body, where = outcome.body, f"client {outcome.client} request {outcome.seq}"
        if not isinstance(body, dict) or body.get("model") != self.model:
            return [f"{where}: not a prediction of {self.model}: {body!r:.200}"]
        version = body.get("model_version")
        if outcome.headers.get("x-model-version") != version:
            return [f"{where}: X-Model-Version {outcome.headers.get('x-model-version')} != body {version}"]
        ref = references.get(version)
        if ref is None:
            return [f"{where}: answered by version {version}, expected one of {sorted(references)}"]
        predictions = body.get("predictions", [])
        if len(predictions) != len(outcome.request.indices):
            return [f"{where}: {len(predictions)} predictions for {len(outcome.request.indices)} instances"]
        found = []
        for index, prediction in zip(outcome.request.indices, predictions):
            label, probability = prediction.get("label"), prediction.get("probability")
            probs = ref.probabilities[index]
            expected = ref.expected[index]
            if label not in ref.labels:
                found.append(f"{where}: label {label!r} is not one of version {version}'s {ref.labels}")
                continue
            tie = abs(probs[ref.labels.index(label)] - probs[ref.labels.index(expected)]) < self.TIE
            if label != expected and not tie:
                found.append(f"{where}: input {index}: label {label!r}, version {version} says {expected!r}")
            elif abs(probability - probs[ref.labels.index(label)]) > self.TOLERANCE:
                found.append(f"{where}: input {index}: probability {probability}, expected "
                             f"{probs[ref.labels.index(label)]:.6f}")
        return found

    def all_problems(self, outcomes: Iterable[Outcome], references: dict[str, Reference]) -> list[str]:
        """Problems of every 200 answer among `outcomes`."""
        return [p for o in outcomes if o.status == 200 for p in self.problems(o, references)]


def versions_move_forward(outcomes: list[Outcome]) -> list[str]:
    """Where a connection saw a version older than one it had already been answered by."""
    problems = []
    newest: dict[tuple[int, int], int] = {}
    for o in sorted(outcomes, key=lambda o: (o.client, o.seq)):
        if o.status != 200 or o.version is None:
            continue
        key, version = (o.client, o.connection), int(o.version)
        if version < newest.get(key, 0):
            problems.append(f"client {o.client} connection {o.connection} request {o.seq}: "
                            f"version {version} after {newest[key]}")
        newest[key] = max(newest.get(key, 0), version)
    return problems
