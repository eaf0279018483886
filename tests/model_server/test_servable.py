"""Servable: the SavedModel loaded into a Session, as TF Serving's SavedModelBundle is, and
run through Session callables. It must answer exactly what the exported signature does."""

from __future__ import annotations

import gc
import shutil

import grpc
import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits(model_repo):
    from serving.model_server.servable import SessionOptions, load_servable

    result = model_repo.results["digits"]
    servable = load_servable("digits", result.version, result.version_dir, SessionOptions(1, 1))
    return servable, result


def test_session_runs_match_the_exported_signature(digits):
    import tensorflow as tf

    from contract import normalize

    servable, result = digits
    x = normalize(result.test_inputs[:33], result.metadata.normalization)
    signature = tf.saved_model.load(str(result.version_dir)).signatures["serving_default"]
    want = signature(pixels=tf.constant(x))["probabilities"].numpy()
    for rows in (slice(0, 1), slice(1, 33)):
        got = servable.run("serving_default", {"pixels": x[rows]}, ["probabilities"])
        assert list(got) == ["probabilities"] and got["probabilities"].dtype == np.float32
        np.testing.assert_allclose(got["probabilities"], want[rows], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(want, result.test_probabilities[:33], rtol=1e-5, atol=1e-6)


def test_a_wrong_shape_or_dtype_is_invalid_argument(digits):
    from serving.model_server.errors import ServingError

    servable, _ = digits
    for x in (np.zeros((2, 8, 7, 1), np.float32), np.zeros((2, 8, 8, 1), np.float64)):
        with pytest.raises(ServingError) as info:
            servable.run("serving_default", {"pixels": x}, ["probabilities"])
        assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.message and "\n" not in info.value.message


def test_an_unknown_signature_or_output_is_internal(digits):
    from serving.model_server.errors import ServingError

    servable, _ = digits
    x = np.zeros((1, 8, 8, 1), np.float32)
    for signature, outputs in (("nope", ["probabilities"]), ("serving_default", ["nope"])):
        with pytest.raises(ServingError) as info:
            servable.run(signature, {"pixels": x}, outputs)
        assert info.value.code == grpc.StatusCode.INTERNAL


def test_a_dropped_servable_keeps_running_for_holders_and_closes_its_session(model_repo, tmp_path):
    from serving.model_server.servable import load_servable

    result = model_repo.results["digits"]
    copy = tmp_path / "1"
    shutil.copytree(result.version_dir, copy)
    servable = load_servable("digits", 1, copy)
    session = servable._session
    shutil.rmtree(copy)  # the version is deleted from disk: the loaded one still answers
    out = servable.run("serving_default", {"pixels": np.zeros((1, 8, 8, 1), np.float32)}, ["probabilities"])
    assert out["probabilities"].shape == (1, 10)
    del servable
    gc.collect()
    assert session._closed


def test_a_broken_savedmodel_is_a_load_error(tmp_path, model_repo):
    from serving.model_server.servable import LoadError, load_servable

    result = model_repo.results["digits"]
    broken = tmp_path / "1"
    shutil.copytree(result.version_dir, broken)
    for f in (broken / "variables").iterdir():
        f.write_bytes(b"garbage")
    with pytest.raises(LoadError) as info:
        load_servable("digits", 1, broken)
    assert info.value.message
