"""Confusion matrices of prediction files: which classes a model mixes up, which a top-1 number hides."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

LABELLED_CLASSES = 30
"""Above this many classes the axes carry class indices, not names (which would be unreadable)."""


def confusion_counts(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """C×C counts, row = true class, column = predicted class (argmax of the logits), C = logits' width."""
    classes = logits.shape[1]
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels, dtype=np.int64), logits.argmax(axis=1)), 1)
    return counts


def row_normalised(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its total (the share of a true class's clips predicted as each class); a class
    without test clips stays a row of zeros."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)


def plot_confusion(counts: np.ndarray, class_names: Sequence[str], title: str, out: Path) -> None:
    """Save the row-normalised matrix as a PNG, class names on the axes when there are few enough."""
    n = len(counts)
    labelled = n <= LABELLED_CLASSES
    margin = 0.6 + (0.055 * max(map(len, class_names), default=0) if labelled else 0)  # inches, for the names
    side = min(2.0 + 0.2 * n, 10.0)  # the matrix, inches
    width, height = margin + side + 1.2, margin + side + 0.6  # + colour bar, + title
    # fixed layout in inches (tight_layout would double the drawing time)
    fig = Figure(figsize=(width, height), dpi=80)
    ax = fig.add_axes((margin / width, margin / height, side / width, side / height))
    bar = fig.add_axes(((margin + side + 0.15) / width, margin / height, 0.15 / width, side / height))
    shown = ax.imshow(row_normalised(counts), cmap="Blues", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    fig.colorbar(shown, cax=bar, label="share of the true class")
    if labelled:
        ax.set_xticks(range(n), class_names, rotation=90, fontsize=7)
        ax.set_yticks(range(n), class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.savefig(out)
