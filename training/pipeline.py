"""The TensorFlow half of the job: train a prepared run, export it, publish it."""

from __future__ import annotations

import errno
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from contract import write_metadata
from training import distribute, report
from training.errors import DiskFullError
from training.evaluate import Evaluation, evaluate
from training.export import save_model, verify_export, warmup_batches, write_warmup_requests
from training.fit import FitOutcome, batched, fit, seed_everything, steps_per_execution
from training.job import Prepared, TrainingResult, elapsed, log, now_rfc3339
from training.model import build_model, compile_model, input_name
from training.preprocess import apply_normalization, encode_targets, fit_normalization
from training.repository import discard, publish, staging_dir
from training.serving_metadata import TrainingFacts, build_metadata, class_counts
from training.serving_report import write_training_report


def train_and_publish(prepared: Prepared) -> TrainingResult:
    """Fit, evaluate on the test split, export, verify the export, publish (chief only)."""
    start = time.monotonic()
    cfg, data, splits = prepared.config, prepared.data, prepared.splits
    name = cfg.model_name
    placement = distribute.choose(cfg.strategy)
    seed_everything(cfg.seed)
    num_classes = len(data.labels)
    log(
        f"{name}: {data.source}, {len(data.y)} examples, {num_classes} classes;"
        f" split {len(splits.train.y)} train / {len(splits.validation.y)} validation /"
        f" {len(splits.test.y)} test (seed {cfg.seed}); {placement.description}"
    )

    normalization = fit_normalization(splits.train.x, data.kind)
    x_train, x_val, x_test = (
        apply_normalization(part.x, normalization)
        for part in (splits.train, splits.validation, splits.test)
    )
    with placement.strategy.scope():
        model = build_model(cfg, data.kind, data.instance_shape, num_classes)
        compile_model(model, cfg, num_classes,
                      steps_per_execution(len(x_train), cfg.batch_size, placement.distributed))
    train_xy = (x_train, encode_targets(splits.train.y, num_classes))
    if distribute.is_multi_worker(placement.strategy):
        sample = tuple(part[: cfg.batch_size] for part in train_xy)
        distribute.patch_keras_for_multi_worker(model, placement.strategy, sample)
    fit_start = time.monotonic()
    outcome = fit(model, cfg, train_xy,
                  (x_val, encode_targets(splits.validation.y, num_classes)))
    fit_seconds = elapsed(fit_start)

    probabilities = np.asarray(model(x_test, training=False))
    scores = model.evaluate(batched(x_test, encode_targets(splits.test.y, num_classes)),
                            verbose=0, return_dict=True)
    evaluation = evaluate(probabilities, splits.test.y, data.labels)
    metrics = {"accuracy": evaluation.accuracy, "loss": float(scores["loss"]),
               "macro_f1": evaluation.macro_f1}
    if "auc" in scores:
        metrics["auc"] = float(scores["auc"])

    if not placement.is_chief:
        # Saving may run collective ops, so every worker saves; only the chief keeps it.
        with tempfile.TemporaryDirectory(prefix="modelserve-worker-") as scratch:
            save_model(model, Path(scratch) / "model", input_name(data.kind), data.instance_shape)
        log(f"{name}: trained on a non-chief worker; the chief publishes the model")
        return _result(prepared, None, None, metrics, evaluation, outcome, probabilities)

    models_dir, runs_dir = Path(cfg.models_dir), Path(cfg.runs_dir)
    staged_model = staged_run = None
    try:
        staged_model = staging_dir(models_dir / name)
        staged_run = staging_dir(runs_dir / name)
        key = input_name(data.kind)
        save_model(model, staged_model, key, data.instance_shape)
        exported = verify_export(staged_model, key, x_test, probabilities)
        if cfg.warmup_requests:
            write_warmup_requests(staged_model, name, key,
                                  warmup_batches(x_train, cfg.warmup_requests))
        title = f"{name} ({data.source}), seed {cfg.seed}"
        report.write_history(staged_run, outcome.history)
        report.plot_curves(staged_run, outcome.history, outcome.best_epoch, outcome.monitor, title)
        report.plot_confusion(staged_run, evaluation.confusion, data.labels,
                              f"{name}: test split, accuracy {evaluation.accuracy:.4f}")
        import tensorflow as tf

        facts = TrainingFacts(metrics, cfg.to_dict(), now_rfc3339(), tf.__version__,
                              outcome.best_epoch)
        written: dict[str, Any] = {}

        def finalize(version: int) -> None:
            meta = build_metadata(name, version, data, splits, normalization, facts)
            write_metadata(staged_model, meta)
            write_training_report(staged_model, prepared, version, facts, outcome, evaluation)
            report.write_report(staged_run, _report(
                prepared, version, facts, outcome, evaluation, placement.description,
                {"fit": fit_seconds, "total": elapsed(start)}))
            written["metadata"] = meta

        published = publish(models_dir, runs_dir, name, staged_model, staged_run,
                            cfg.keep_versions, finalize)
    except BaseException as exc:
        unpublished = staged_model is None or staged_model.exists()
        discard(staged_model)
        discard(staged_run)
        if _disk_full(exc):
            what = ("nothing was published" if unpublished else
                    "the version was published, but its report or models.config may be incomplete")
            raise DiskFullError(
                f"no space left on device while writing {name} into {models_dir} and {runs_dir}:"
                f" {what}; free some space and run again"
            ) from None
        raise

    log(
        f"{name} version {published.version}: test accuracy {evaluation.accuracy:.4f},"
        f" loss {metrics['loss']:.4f}, macro F1 {evaluation.macro_f1:.4f}"
        + (f", AUC {metrics['auc']:.4f}" if "auc" in metrics else "")
        + f" (best epoch {outcome.best_epoch} of {outcome.epochs_run} by {outcome.monitor};"
        f" {elapsed(start):.1f}s)"
    )
    log(f"  model:  {published.version_dir}\n  report: {published.run_dir / 'report.json'}")
    return _result(prepared, published, written["metadata"], metrics, evaluation, outcome,
                   exported)


def _disk_full(exc: BaseException) -> bool:
    """ENOSPC or EDQUOT, from Python's file writes or from TensorFlow's (an OpError)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    import tensorflow as tf

    text = str(exc)
    return isinstance(exc, tf.errors.OpError) and (
        "No space left on device" in text or "Disk quota exceeded" in text
    )


def _result(prepared: Prepared, published, metadata, metrics: dict[str, float],
            evaluation: Evaluation, outcome: FitOutcome,
            probabilities: np.ndarray) -> TrainingResult:
    cfg, splits = prepared.config, prepared.splits
    return TrainingResult(
        name=cfg.model_name,
        version=published.version if published else None,
        version_dir=published.version_dir if published else None,
        run_dir=published.run_dir if published else None,
        metrics=metrics,
        metadata=metadata,
        evaluation=evaluation,
        best_epoch=outcome.best_epoch,
        epochs_run=outcome.epochs_run,
        history=outcome.history,
        config=cfg,
        test_inputs=splits.test.x,
        test_labels=splits.test.y,
        test_probabilities=probabilities,
        split_index={"train": splits.train.index, "validation": splits.validation.index,
                     "test": splits.test.index},
    )


def _report(prepared: Prepared, version: int, facts: TrainingFacts, outcome: FitOutcome,
            evaluation: Evaluation, placement: str, seconds: dict[str, float]) -> dict[str, Any]:
    cfg, data, splits = prepared.config, prepared.data, prepared.splits
    import keras

    monitor_values = outcome.history[outcome.monitor]
    return {
        "model": cfg.model_name,
        "version": version,
        "created_at": facts.created_at,
        "dataset": {
            "name": cfg.dataset,
            "source": data.source,
            "fingerprint": data.fingerprint,
            "kind": data.kind,
            "instance_shape": list(data.instance_shape),
            "labels": list(data.labels),
            "examples": {"total": len(data.y), "train": len(splits.train.y),
                         "validation": len(splits.validation.y),
                         "test": len(splits.test.y)},
            "class_counts": class_counts(data.y, data.labels),
        },
        "config": facts.config,
        "training": {
            "best_epoch": outcome.best_epoch,
            "epochs_run": outcome.epochs_run,
            "stopped_early": outcome.epochs_run < cfg.epochs,
            "monitor": outcome.monitor,
            "best_monitor_value": monitor_values[outcome.best_epoch - 1],
            "placement": placement,
            "seconds": seconds,
        },
        "test_metrics": facts.test_metrics,
        "evaluation": evaluation.to_dict(),
        "versions": {"tensorflow": facts.tensorflow_version, "keras": keras.__version__},
    }
