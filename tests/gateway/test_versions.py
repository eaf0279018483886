"""The version resolver: the newest AVAILABLE version, cached with a TTL, and per-version metadata."""

from __future__ import annotations

import pytest

from serving.gateway.errors import BackendUnavailable, NotFound, ServiceUnavailable
from serving.gateway.versions import VersionResolver
from tests.gateway import support


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def resolver(repo, backend, clock):
    return VersionResolver(backend, repo, ttl_seconds=5.0, clock=clock)


def status_calls(backend) -> int:
    return sum(1 for c in backend.calls if c[0] == "status")


def test_the_newest_available_version_is_current(resolver, backend, repo):
    support.publish(repo, support.image_metadata(version=2))
    backend.versions["digits"] = {1: "AVAILABLE", 2: "AVAILABLE", 3: "LOADING"}
    assert resolver.current("digits") == 2


def test_the_current_version_is_cached_until_the_ttl(resolver, backend, clock):
    assert resolver.current("digits") == 1
    backend.versions["digits"] = {1: "AVAILABLE", 2: "AVAILABLE"}
    clock.now = 4.9
    assert resolver.current("digits") == 1
    assert status_calls(backend) == 1
    clock.now = 5.0
    assert resolver.current("digits") == 2
    assert status_calls(backend) == 2


def test_refresh_bypasses_the_cache(resolver, backend):
    assert resolver.current("digits") == 1
    backend.versions["digits"] = {2: "AVAILABLE"}
    assert resolver.refresh("digits") == 2
    assert resolver.current("digits") == 2


def test_no_available_version_is_503_listing_the_states(resolver, backend):
    backend.versions["digits"] = {1: "LOADING", 2: "END"}
    with pytest.raises(BackendUnavailable, match=r"no AVAILABLE version \(versions: 1 LOADING, 2 END\)"):
        resolver.current("digits")


def test_an_unknown_model_is_404(resolver):
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        resolver.current("nope")


def test_metadata_is_read_once_per_version(resolver, repo):
    first = resolver.metadata("digits", 1)
    (repo / "digits" / "1" / "assets.extra" / "serving_metadata.json").unlink()
    assert resolver.metadata("digits", 1) is first


def test_each_version_has_its_own_metadata(resolver, repo):
    support.publish(repo, support.image_metadata(version=2, labels=[f"v2-{i}" for i in range(10)]))
    assert resolver.metadata("digits", 1).labels[0] == "0"
    assert resolver.metadata("digits", 2).labels[0] == "v2-0"


def test_an_unknown_version_is_404(resolver):
    with pytest.raises(NotFound, match="model 'digits' has no version 7"):
        resolver.resolve("digits", 7)


def test_unreadable_metadata_is_503_without_details(resolver, repo):
    (repo / "digits" / "1" / "assets.extra" / "serving_metadata.json").write_text("{broken")
    with pytest.raises(ServiceUnavailable) as info:
        resolver.metadata("digits", 1)
    assert info.value.message == "the serving metadata of model 'digits' version 1 is unreadable"


def test_a_served_version_missing_from_the_repository_is_503(resolver, backend):
    backend.versions["digits"] = {9: "AVAILABLE"}
    with pytest.raises(ServiceUnavailable, match="serves model 'digits' version 9, which the gateway cannot find"):
        resolver.resolve("digits")


def test_replacement_skips_the_version_that_went_away_and_caches_the_choice(resolver, backend, repo):
    support.publish(repo, support.image_metadata(version=2))
    backend.versions["digits"] = {1: "AVAILABLE", 2: "AVAILABLE"}
    version, meta = resolver.replacement("digits", gone=2)
    assert (version, meta.model_version) == (1, 1)
    assert resolver.current("digits") == 1


def test_no_replacement_is_503(resolver, backend):
    with pytest.raises(BackendUnavailable, match="changing versions"):
        resolver.replacement("digits", gone=1)


def test_a_slow_refresh_never_replaces_a_newer_observation(repo, backend, clock):
    """Two refreshes overlap: the one that asked first (and saw v1) answers last.
    The cache must keep v2, which the later question saw."""
    import threading

    support.publish(repo, support.image_metadata(version=2))
    first_asked, second_done = threading.Event(), threading.Event()
    real_status = backend.status
    answers = iter([{1: "AVAILABLE"}, {1: "AVAILABLE", 2: "AVAILABLE"}])

    def status(model):
        seen = next(answers)
        if 2 not in seen:
            first_asked.set()
            assert second_done.wait(10)
        backend.versions[model] = seen
        return real_status(model)

    backend.status = status
    resolver = VersionResolver(backend, repo, ttl_seconds=5.0, clock=clock)
    slow = threading.Thread(target=resolver.refresh, args=("digits",))
    slow.start()
    assert first_asked.wait(10)
    assert resolver.refresh("digits") == 2
    second_done.set()
    slow.join(10)
    assert not slow.is_alive()
    assert resolver.current("digits") == 2
