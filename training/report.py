"""The human report of one training run: report.json, history.csv, curves.png,
confusion_matrix.png."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

REPORT_FILES = ("report.json", "history.csv", "curves.png", "confusion_matrix.png")


def write_report(folder: Path, report: dict[str, Any]) -> Path:
    """report.json, indented, keys in the order given."""
    path = folder / "report.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def write_history(folder: Path, history: dict[str, list[float]]) -> Path:
    """history.csv: one row per epoch (1-based), one column per logged metric."""
    path = folder / "history.csv"
    keys = sorted(history, key=lambda k: (k.startswith("val_"), k))
    rows = len(next(iter(history.values()), []))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *keys])
        for i in range(rows):
            writer.writerow([i + 1, *(repr(history[k][i]) for k in keys)])
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a display
    import matplotlib.pyplot as plt

    return plt


def plot_curves(folder: Path, history: dict[str, list[float]], best_epoch: int,
                monitor: str, title: str) -> Path:
    """curves.png: training vs validation loss and accuracy per epoch, best epoch marked.
    A validation curve rising while the training one falls is overfitting."""
    plt = _pyplot()
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, history[metric], label=f"training {metric}", color="tab:blue")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label=f"validation {metric}",
                    color="tab:orange")
        ax.axvline(best_epoch, color="tab:green", linestyle="--",
                   label=f"best epoch {best_epoch} (by {monitor})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    path = folder / "curves.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_confusion(folder: Path, confusion: list[list[int]], labels: tuple[str, ...],
                   title: str) -> Path:
    """confusion_matrix.png: counts on the test split, true class per row."""
    plt = _pyplot()
    matrix = np.asarray(confusion)
    size = max(4.0, 0.55 * len(labels) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1, size), constrained_layout=True)
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels=labels, rotation=45 if len(labels) > 4 else 0, ha="right")
    ax.set_yticks(ticks, labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > threshold else "black", fontsize=9)
    ax.set_title(title)
    path = folder / "confusion_matrix.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
