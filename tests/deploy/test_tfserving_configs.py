"""TF Serving's config files parse with the protobuf messages TF Serving reads them with:
the official ModelServerConfig (tensorflow-serving-api) for models.config, ours
(protos/tfserving/, same names and field numbers) for the batching and monitoring files,
which tensorflow-serving-api does not ship."""

from __future__ import annotations

import re

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from protogen.tfserving.monitoring_config_pb2 import MonitoringConfig, PrometheusConfig
from protogen.tfserving.session_bundle_config_pb2 import BatchingParameters
from tests.deploy import support

CONFIG_DIR = support.ROOT / "serving" / "tfserving"

# Field numbers of TF Serving's own definitions (session_bundle_config.proto,
# monitoring_config.proto): the text format is keyed by name, but our messages must stay
# wire-compatible with TF Serving's.
UPSTREAM_FIELDS = {
    BatchingParameters: {
        "max_batch_size": 1,
        "batch_timeout_micros": 2,
        "max_enqueued_batches": 3,
        "num_batch_threads": 4,
        "thread_pool_name": 5,
        "allowed_batch_sizes": 6,
        "pad_variable_length_inputs": 7,
    },
    MonitoringConfig: {"prometheus_config": 1},
    PrometheusConfig: {"enable": 1, "path": 2},
}


@pytest.mark.parametrize("message", list(UPSTREAM_FIELDS), ids=lambda m: m.DESCRIPTOR.full_name)
def test_our_messages_match_tf_servings_names_and_numbers(message):
    assert message.DESCRIPTOR.full_name.startswith("tensorflow.serving.")
    fields = {f.name: f.number for f in message.DESCRIPTOR.fields}
    assert fields == UPSTREAM_FIELDS[message]


def test_batching_config_parses_and_is_consistent():
    params = text_format.Parse((CONFIG_DIR / "batching.config").read_text(), BatchingParameters())
    for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"):
        assert params.HasField(name), f"batching.config leaves {name} to TF Serving's default"
    assert params.max_batch_size.value >= 1 and params.num_batch_threads.value >= 1
    assert 0 <= params.batch_timeout_micros.value <= 100_000  # a batch never waits 100 ms
    sizes = list(params.allowed_batch_sizes)
    if sizes:  # TF Serving's rule: increasing, the last one is max_batch_size
        assert sizes == sorted(set(sizes)) and sizes[-1] == params.max_batch_size.value


def test_monitoring_config_exposes_prometheus_metrics():
    config = text_format.Parse((CONFIG_DIR / "monitoring.config").read_text(), MonitoringConfig())
    assert config.prometheus_config.enable
    assert config.prometheus_config.path == "/monitoring/prometheus/metrics"


def test_a_config_with_an_unknown_field_is_rejected():
    """What TF Serving does at start-up with a typo: refuse the file."""
    with pytest.raises(text_format.ParseError):
        text_format.Parse("max_batch_sise { value: 8 }", BatchingParameters())


def readme_models_configs() -> list[str]:
    """The models.config examples of the README (code blocks opening with model_config_list)."""
    text = (support.ROOT / "README.md").read_text()
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL)
    return [b for b in blocks if b.lstrip().startswith("model_config_list")]


def test_readme_rollback_example_is_a_valid_models_config():
    examples = readme_models_configs()
    assert examples, "the README's Deployment section shows no models.config"
    for example in examples:
        config = text_format.Parse(example, model_server_config_pb2.ModelServerConfig())
        for model in config.model_config_list.config:
            assert model.base_path.startswith("/models/"), "paths as TF Serving's container sees them"
    pinned = [
        m for e in examples
        for m in text_format.Parse(e, model_server_config_pb2.ModelServerConfig()).model_config_list.config
        if m.model_version_policy.WhichOneof("policy_choice") == "specific"
    ]
    assert pinned and all(m.model_version_policy.specific.versions for m in pinned)
