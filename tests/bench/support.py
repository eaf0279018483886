"""Builders for the benchmark's tests: serving metadata and measured cells."""

from __future__ import annotations

from protogen.contract.serving_metadata_pb2 import (
    InputSpec,
    Normalization,
    OutputSpec,
    ServingMetadata,
)


def image_meta(shape=(8, 8, 1), raw_max: float = 16.0, classes: int = 10) -> ServingMetadata:
    """An image model's metadata: RESCALE by raw_max, softmax over `classes` labels."""
    meta = ServingMetadata(format_version=1, model_name="digits", model_version=1)
    meta.signature_name = "serving_default"
    meta.input.name = "pixels"
    meta.input.shape.extend(shape)
    meta.input.dtype = "float32"
    meta.input.kind = InputSpec.IMAGE
    meta.input.raw_range.min = 0.0
    meta.input.raw_range.max = raw_max
    meta.normalization.method = Normalization.RESCALE
    meta.normalization.offset.append(0.0)
    meta.normalization.scale.append(raw_max)
    meta.labels.extend(str(i) for i in range(classes))
    meta.output.name = "probabilities"
    meta.output.activation = OutputSpec.SOFTMAX
    meta.output.units = classes
    return meta


def cell(server: str, model: str, conc: int, inst: int, rps: float, p50: float, p99: float,
         errors: int = 0) -> dict:
    """A measured cell as bench.run records it (one run)."""
    from bench.report import median_of_runs

    run = {"requests": int(rps * 8), "errors": errors, "duration_seconds": 8.0,
           "p50_ms": p50, "p90_ms": (p50 + p99) / 2, "p99_ms": p99, "mean_ms": p50,
           "max_ms": p99 * 1.5, "requests_per_second": rps}
    return {"server": server, "model": model, "concurrency": conc, "instances": inst,
            "runs": [run], "median": median_of_runs([run], inst)}
