"""Hypothesis fuzz of the predict endpoints against the real app (real model server, really
trained models): whatever a client sends, the answer is 2xx or a JSON 4xx, never a 5xx."""

from __future__ import annotations

import base64
import io
import logging

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

pytestmark = pytest.mark.slow

FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, 16.0, 1e39, -3.5e38, 1e300, 5e-324])
NUMBERS = st.integers(min_value=-(2**63), max_value=2**64 - 1) | FLOATS
SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=8)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=40,
)


ODD_VALUES = NUMBERS | st.sampled_from([True, None, "1", [1], {"a": 1}])
# Long arrays come from a seeded generator (one draw each): Hypothesis drawing every value
# of 64-value instances would spend the run generating, not testing. The odd values go
# in by `poisoned`.
SEEDS = st.integers(0, 2**32 - 1)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


VALID_DIGIT = SEEDS.map(lambda s: _rng(s).integers(0, 17, 64).tolist())
VALID_DIGIT_FLOATS = SEEDS.map(lambda s: _rng(s).uniform(0, 16, 64).round(3).tolist())
VALID_DIGIT_HXW = SEEDS.map(lambda s: _rng(s).uniform(0, 16, (8, 8)).tolist())
VALID_ROW = SEEDS.map(lambda s: _rng(s).uniform(0, 1000, 30).tolist())
VALID_ANY = VALID_DIGIT | VALID_DIGIT_FLOATS | VALID_DIGIT_HXW | VALID_ROW


def poisoned(valid: st.SearchStrategy[list]) -> st.SearchStrategy[list]:
    """A valid flat or H×W instance with one value replaced by something odd."""

    def put(args):
        inst, where, value = args
        row = inst[where % len(inst)] if isinstance(inst[0], list) else inst
        row[where % len(row)] = value
        return inst

    return st.tuples(valid, st.integers(0, 63), ODD_VALUES).map(put)


def resized(args) -> list:
    seed, length = args
    return _rng(seed).uniform(-1e6, 1e6, length).tolist()


DIGIT_FLAT = st.tuples(SEEDS, st.sampled_from([63, 65, 0, 1, 29, 31])).map(resized)
DIGIT_NESTED = st.tuples(SEEDS, st.integers(0, 7)).map(
    lambda a: [[0.0] * (7 if i == a[1] else 8) for i in range(8)]  # one ragged row
)
DIGIT_DEEP = SEEDS.map(lambda s: _rng(s).uniform(0, 16, (8, 8, 1, 1)).tolist())


@st.composite
def images(draw) -> dict:
    kind = draw(st.sampled_from(["png", "jpeg", "garbage", "text"]))
    if kind == "garbage":
        return {"b64": base64.b64encode(draw(st.binary(max_size=64))).decode()}
    if kind == "text":
        return {"b64": draw(st.text(max_size=20))}
    size = (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "1", "P"]))
    if kind == "jpeg" and mode not in ("L", "RGB"):
        mode = "RGB"
    buf = io.BytesIO()
    Image.new(mode, size, draw(st.integers(0, 255)) if mode in ("L", "P", "1") else (1, 2, 3)).save(buf, kind.upper())
    data = buf.getvalue()
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return {"b64": base64.b64encode(data).decode()}




@st.composite
def cancer_named(draw, names) -> dict:
    chosen = names if draw(st.integers(0, 3)) else draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    def value():
        return draw(NUMBERS | st.sampled_from([True, None, "x"])) if draw(st.integers(0, 20)) == 0 else draw(st.floats(0, 1000))

    inst = {n: value() for n in chosen}
    if draw(st.integers(0, 3)) == 0:
        inst.update(draw(st.dictionaries(st.text(max_size=5), NUMBERS, max_size=2)))
    return inst


def any_instance(feature_names: list[str]) -> st.SearchStrategy:
    return (
        VALID_ANY | poisoned(VALID_ANY) | images() | cancer_named(feature_names)
        | DIGIT_FLAT | DIGIT_NESTED | DIGIT_DEEP | JSON
    )


def random_bodies(feature_names: list[str]) -> st.SearchStrategy[bytes]:
    top_k = st.none() | st.integers(-2, 12) | st.sampled_from([True, 1.5, "3"])
    doc = st.fixed_dictionaries(
        {"instances": st.lists(any_instance(feature_names), max_size=4) | JSON}, optional={"top_k": top_k}
    )
    extra = st.dictionaries(st.sampled_from(["inputs", "signature_name", "x"]), JSON, max_size=1)
    structured = st.tuples(doc, extra).map(lambda t: orjson.dumps({**t[0], **t[1]}, option=orjson.OPT_NON_STR_KEYS))
    raw = st.binary(max_size=200) | JSON.map(orjson.dumps)
    nested = st.integers(1, 3000).map(lambda n: b'{"instances": ' + b"[" * n + b"1" + b"]" * n + b"}")
    literal = st.sampled_from([
        b'{"instances": [[123456789012345678901234567890]]}',
        b'{"instances": [[1e400]]}',
        b'{"instances": [[NaN]]}',
        b'{"instances": [[-Infinity]]}',
        rb'{"instances": [["\ud800"]]}',
    ])
    return structured | raw | nested | literal


@st.composite
def predict_requests(draw, feature_names: list[str]) -> tuple[str, bytes]:
    """A path and a body: a valid batch for the path's model, one with a single defect, or anything."""
    path = draw(PATHS)
    mode = draw(st.sampled_from(["valid", "valid", "defect", "random"]))
    if mode == "random":
        return path, draw(random_bodies(feature_names))
    if "breast_cancer" in path:
        good = VALID_ROW | cancer_named(feature_names).filter(lambda d: set(d) == set(feature_names))
    else:
        good = VALID_DIGIT | VALID_DIGIT_FLOATS | VALID_DIGIT_HXW | images().filter(lambda d: len(d["b64"]) > 100)
    instances = draw(st.lists(good, min_size=1, max_size=4))
    doc: dict = {"instances": instances}
    if draw(st.booleans()):
        doc["top_k"] = draw(st.integers(1, 2))
    if mode == "defect":
        defect = draw(st.sampled_from(["instance", "top_k", "field"]))
        if defect == "instance":
            instances[draw(st.integers(0, len(instances) - 1))] = draw(any_instance(feature_names))
        elif defect == "top_k":
            doc["top_k"] = draw(st.integers(-2, 12) | st.sampled_from([True, 1.5, "3", None]))
        else:
            doc[draw(st.text(max_size=6))] = draw(JSON)
    return path, orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)


def infer_bodies() -> st.SearchStrategy[bytes]:
    tensor = st.fixed_dictionaries(
        {
            "name": st.sampled_from(["pixels", "features", "x"]) | JSON,
            "shape": st.lists(st.integers(-1, 70), max_size=4) | JSON,
            "datatype": st.sampled_from(["FP32", "INT8", "UINT64", "FP16", "BYTES", "BOOL", "x"]),
            "data": st.lists(NUMBERS, max_size=70) | JSON,
        },
        optional={"parameters": st.dictionaries(st.sampled_from(["binary_data_size", "binary_data"]), JSON, max_size=1)},
    )
    doc = st.fixed_dictionaries(
        {"inputs": st.lists(tensor, max_size=2) | JSON},
        optional={"outputs": st.lists(st.fixed_dictionaries({"name": st.text(max_size=12)}), max_size=2) | JSON,
                  "parameters": st.dictionaries(st.text(max_size=20), JSON, max_size=2), "id": JSON},
    )
    return doc.map(lambda d: orjson.dumps(d, option=orjson.OPT_NON_STR_KEYS)) | st.binary(max_size=100)


PATHS = st.sampled_from([
    "/v1/models/digits:predict",
    "/v1/models/breast_cancer:predict",
    "/v1/models/digits/versions/1:predict",
    "/v1/models/digits/versions/999:predict",
    "/v1/models/unknown:predict",
])


def check(response) -> None:
    assert response.status_code < 500, (response.status_code, response.get_data()[:300])
    assert response.mimetype in ("application/json", "application/octet-stream")
    if response.status_code >= 400:
        body = orjson.loads(response.get_data())
        assert isinstance(body["error"], str) and body["error"]
        assert "Traceback" not in body["error"]


@pytest.fixture(autouse=True)
def quiet_access_log():
    """Hundreds of requests: keep the access log out of the captured output."""
    access = logging.getLogger("serving.gateway.access")
    level = access.level
    access.setLevel(logging.WARNING)
    yield
    access.setLevel(level)


@pytest.fixture(scope="module")
def feature_names(model_repo) -> list[str]:
    return list(model_repo.results["breast_cancer"].metadata.input.feature_names)


def test_fuzz_v1_predict(live_app, feature_names):
    client = live_app.test_client()
    statuses: list[int] = []

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(request=predict_requests(feature_names),
           content_type=st.sampled_from(["application/json"] * 8 + ["text/plain", None]))
    def run(request, content_type):
        path, body = request
        headers = {"Content-Type": content_type} if content_type else {}
        response = client.post(path, data=body, headers=headers)
        check(response)
        statuses.append(response.status_code)
        if response.status_code == 200:
            doc = orjson.loads(body)
            assert len(response.get_json()["predictions"]) == len(doc["instances"])

    run()
    # The generated bodies reached the model, and were refused for many reasons.
    assert statuses.count(200) >= 10 and {400, 404, 415} <= set(statuses)


def test_fuzz_v2_infer(live_app):
    client = live_app.test_client()
    statuses: list[int] = []

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(model=st.sampled_from(["digits", "breast_cancer"]), body=infer_bodies(),
           header=st.none() | st.integers(-5, 400).map(str))
    def run(model, body, header):
        headers = {"Inference-Header-Content-Length": header} if header is not None else {}
        response = client.post(f"/v2/models/{model}/infer", data=body, headers=headers)
        check(response)
        statuses.append(response.status_code)

    run()
    assert 400 in statuses
