"""The contract package: round trips of serving_metadata.json and its validation rules."""

import numpy as np
import pytest

from contract import (
    ContractError,
    load_metadata,
    normalize,
    parse_metadata,
    to_json,
    write_metadata,
)
from protogen.contract.serving_metadata_pb2 import (
    InputSpec,
    Normalization,
    OutputSpec,
    ServingMetadata,
)


def tabular_metadata() -> ServingMetadata:
    meta = ServingMetadata(format_version=1, model_name="iris", model_version=3)
    meta.signature_name = "serving_default"
    meta.input.name = "features"
    meta.input.shape.append(2)
    meta.input.dtype = "float32"
    meta.input.kind = InputSpec.TABULAR
    meta.input.feature_names.extend(["a", "b"])
    meta.normalization.method = Normalization.STANDARDIZE
    meta.normalization.offset.extend([1.0, 2.0])
    meta.normalization.scale.extend([2.0, 4.0])
    meta.labels.extend(["x", "y", "z"])
    meta.output.name = "probabilities"
    meta.output.activation = OutputSpec.SOFTMAX
    meta.output.units = 3
    meta.training.config.update({"epochs": 3, "hidden": [16, 8]})
    return meta


def test_round_trip_through_a_version_folder(tmp_path):
    meta = tabular_metadata()
    path = write_metadata(tmp_path, meta)
    assert path == tmp_path / "assets.extra" / "serving_metadata.json"
    assert load_metadata(tmp_path) == meta


def test_json_uses_proto_field_names_and_enum_names():
    text = to_json(tabular_metadata())
    assert '"feature_names"' in text and '"TABULAR"' in text and '"SOFTMAX"' in text


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda m: m.ClearField("model_name"), "model_name"),
        (lambda m: m.labels.pop(), "softmax"),
        (lambda m: m.input.feature_names.pop(), "feature_names"),
        (lambda m: m.normalization.scale.__setitem__(0, 0.0), "scale"),
        (lambda m: m.normalization.offset.append(1.0), "same"),
        (lambda m: setattr(m, "format_version", 99), "newer"),
        (lambda m: m.output.ClearField("activation"), "activation"),
    ],
)
def test_broken_metadata_is_refused_with_the_rule_it_breaks(mutate, message):
    meta = tabular_metadata()
    mutate(meta)
    with pytest.raises(ContractError, match=message):
        parse_metadata(to_json(meta))


def test_garbage_is_a_contract_error():
    with pytest.raises(ContractError):
        parse_metadata(b"{not json")


def test_normalize_per_feature_and_scalar():
    norm = Normalization(method=Normalization.STANDARDIZE, offset=[1.0, 2.0], scale=[2.0, 4.0])
    out = normalize(np.array([[3.0, 6.0]]), norm)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1.0, 1.0]])
    rescale = Normalization(method=Normalization.RESCALE, offset=[0.0], scale=[16.0])
    np.testing.assert_array_equal(normalize(np.full((1, 2, 2, 1), 4), rescale), np.full((1, 2, 2, 1), 0.25))
