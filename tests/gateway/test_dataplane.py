"""Skew-proof inference: the pinned version's metadata for inputs and labels, one retry
when the pinned version goes away mid-rollout, and never another version's labels.

These scenarios are injected with the scripted fake backend (tests.gateway.support): a
real model server unloads versions on its own schedule; the rollout under real load is
tests/e2e/test_rollout.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from serving.gateway.errors import BackendBadResponse, BackendNotFound, BackendUnavailable, NotFound
from tests.gateway import support

V2_LABELS = [f"v2-{i}" for i in range(10)]
ROW = [16.0] + [0.0] * 63  # the fake's probabilities peak at index 0


@pytest.fixture
def dataplane(app):
    return app.extensions["gateway"].dataplane


def build_with(seen):
    def build(meta):
        seen.append(meta.model_version)
        return np.zeros((1, 8, 8, 1), np.float32) + np.array(ROW, np.float32).reshape(1, 8, 8, 1) / 16
    return build


def test_the_pinned_version_is_sent_and_its_labels_decode(dataplane, backend):
    seen = []
    result = dataplane.infer("digits", None, build_with(seen))
    assert (result.version, seen) == (1, [1])
    assert ("predict", "digits", 1) in backend.calls
    assert result.decoded.label_names == ["0"]


def test_a_version_unloaded_mid_request_is_retried_once_with_the_new_metadata(dataplane, backend, repo):
    support.publish(repo, support.image_metadata(version=2, labels=V2_LABELS))
    dataplane.infer("digits", None, build_with([]))  # caches version 1 as current

    def rollout(model, version):  # version 2 arrives and 1 goes away before the call lands
        backend.versions["digits"] = {2: "AVAILABLE"}

    backend.before_predict = rollout
    seen = []
    result = dataplane.infer("digits", None, build_with(seen))
    assert seen == [1, 2]  # the batch was rebuilt with version 2's metadata
    assert result.version == 2
    assert result.decoded.label_names == ["v2-0"]
    assert [c for c in backend.calls if c[0] == "predict"][-2:] == [("predict", "digits", 1), ("predict", "digits", 2)]


def test_an_answer_from_another_version_is_502_not_mislabelled(dataplane, backend):
    backend.answer = lambda model, version, x: (2, {"probabilities": support.fixed_probabilities(x, 10)})
    with pytest.raises(BackendBadResponse, match="answered with version 2 instead of the pinned version 1"):
        dataplane.infer("digits", None, build_with([]))


def test_an_explicit_version_is_never_swapped(dataplane, backend, repo):
    support.publish(repo, support.image_metadata(version=2, labels=V2_LABELS))
    backend.versions["digits"] = {1: "END", 2: "AVAILABLE"}
    with pytest.raises(NotFound, match="model 'digits' version 1 is not being served"):
        dataplane.infer("digits", 1, build_with([]))


def test_the_version_that_went_away_is_not_tried_again(dataplane, backend):
    """The status can still list it AVAILABLE for an instant; nothing else is: 503, try again."""
    backend.fail["predict"] = BackendNotFound("version 1 of model 'digits' not found")
    with pytest.raises(BackendUnavailable, match="is changing versions; try again"):
        dataplane.infer("digits", None, build_with([]))
    assert [c for c in backend.calls if c[0] == "predict"] == [("predict", "digits", 1)]


def test_a_new_version_listed_before_it_answers_falls_back_to_the_previous_one(dataplane, backend, repo):
    support.publish(repo, support.image_metadata(version=2, labels=V2_LABELS))
    backend.versions["digits"] = {1: "AVAILABLE", 2: "AVAILABLE"}
    unpublished = {2}

    def not_yet(model, version):
        if version in unpublished:
            unpublished.clear()
            raise BackendNotFound("version 2 of model 'digits' not found")

    backend.before_predict = not_yet
    seen = []
    result = dataplane.infer("digits", None, build_with(seen))
    assert (result.version, seen, result.decoded.label_names) == (1, [2, 1], ["0"])


def test_a_second_not_found_is_503_try_again(dataplane, backend, repo):
    support.publish(repo, support.image_metadata(version=2, labels=V2_LABELS))
    backend.versions["digits"] = {1: "AVAILABLE", 2: "AVAILABLE"}
    backend.fail["predict"] = BackendNotFound("not found")
    with pytest.raises(BackendUnavailable, match="is changing versions; try again"):
        dataplane.infer("digits", None, build_with([]))
    assert [c for c in backend.calls if c[0] == "predict"] == [("predict", "digits", 2), ("predict", "digits", 1)]


def test_model_names_that_are_not_repository_names_are_404(dataplane):
    for name in ("../etc", "a/b", ".hidden", ""):
        with pytest.raises(NotFound):
            dataplane.infer(name, None, build_with([]))
