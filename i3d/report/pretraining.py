"""Does pre-training help? The curves of models that differ only in where their weights started, drawn on one
figure: on Kinetics, from scratch vs from ImageNet; on UCF-101 and HMDB-51, trained there alone (Original) vs
fine-tuned from each Kinetics model (Full-FT). The paper's claim is about exactly these pairs, and separate
figures hide it (a faster fall of the training loss, a head start in validation top-1)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

START_LABELS = {"scratch": "from scratch", "imagenet": "from ImageNet"}
FULLFT_LABELS = {"scratch": "Full-FT from Kinetics", "imagenet": "Full-FT from ImageNet→Kinetics"}


@dataclass(frozen=True)
class Start:
    """One model of a comparison: how it started, its metrics.csv and (if made) its test predictions."""

    label: str
    metrics: Path
    predictions: Path


@dataclass(frozen=True)
class Comparison:
    """Models of one dataset, split, architecture and stream that differ only in their starting weights."""

    dataset: str
    split: str
    model: str  # <arch>-<stream>
    starts: tuple[Start, ...]


def _scratch_first(paths: list[Path]) -> list[Path]:
    return sorted(paths, key=lambda path: (not path.parent.name.endswith("-scratch"), path))


def _model_and_init(folder: Path) -> tuple[str, str]:
    model, _, init = folder.name.rpartition("-")
    return model, init


def comparisons(dataset_dir: Path) -> list[Comparison]:
    """Every (split, arch-stream) of a dataset folder with at least two starts: its models trained there
    (``split<N>/<arch>-<stream>-<init>/``) and, for a transfer dataset, those fine-tuned from Kinetics
    (``split<N>/fullft/<arch>-<stream>-<kinetics init>/``)."""
    found = []
    for split in sorted(dataset_dir.glob("split*")):
        groups: dict[str, list[Start]] = {}
        for metrics in _scratch_first(list(split.glob("*/metrics.csv"))):
            model, init = _model_and_init(metrics.parent)
            label = START_LABELS.get(init, init) if dataset_dir.name == "kinetics400" else f"Original ({init})"
            groups.setdefault(model, []).append(Start(label, metrics, metrics.parent / "predictions.h5"))
        for metrics in _scratch_first(list(split.glob("fullft/*/metrics.csv"))):
            model, init = _model_and_init(metrics.parent)
            if model in groups:
                groups[model].append(Start(FULLFT_LABELS.get(init, f"Full-FT ({init})"), metrics,
                                           metrics.parent / "predictions.h5"))
        found += [Comparison(dataset_dir.name, split.name, model, tuple(starts))
                  for model, starts in sorted(groups.items()) if len(starts) > 1]
    return found


def plot_comparison(curves: dict[str, pd.DataFrame], title: str, out: Path) -> None:
    """Save training loss, training top-1 and validation top-1 per epoch, one line per start, as a PNG."""
    fig = Figure(figsize=(9.0, 2.5), dpi=80)
    axes = fig.subplots(1, 3)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.19, top=0.85, wspace=0.28)
    for (label, metrics), colour in zip(curves.items(), ("tab:grey", "tab:blue", "tab:orange", "tab:green")):
        for ax, column in zip(axes, ("train_loss", "train_top1", "val_top1")):
            ax.plot(metrics.epoch, metrics[column], marker=".", color=colour, label=label)
    for ax, name in zip(axes, ("training loss", "training top-1 %", "validation top-1 %")):
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.savefig(out)


def verdict(pretrained: float, baseline: float) -> str:
    """Did the pre-trained start reach a higher test top-1 than the comparison's first start? "yes", "no" or
    "tie" (equal at the one decimal shown) with both numbers; "not yet" while either is missing (NaN)."""
    if np.isnan(pretrained) or np.isnan(baseline):
        return "not yet: no test top-1"
    ours, theirs = round(pretrained, 1), round(baseline, 1)
    if ours == theirs:
        return f"tie: {ours:.1f} vs {theirs:.1f}"
    return f"{'yes' if ours > theirs else 'no'}: {ours:.1f} vs {theirs:.1f} ({ours - theirs:+.1f})"
