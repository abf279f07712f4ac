"""Training and validation curves of one model's ``metrics.csv``: whether it learnt, over-fitted, or stopped
early, and which epoch was kept (``selected``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def read_metrics(path: Path) -> pd.DataFrame:
    """A metrics.csv (epoch, train_loss, train_top1, val_top1, lr, seconds, clips, selected) with ``selected``
    as booleans whether pandas read it as bools or as text."""
    df = pd.read_csv(path)
    df["selected"] = df["selected"].astype(str).str.lower() == "true"
    return df


def plot_curves(metrics: pd.DataFrame, title: str, out: Path) -> None:
    """Save loss (left) and top-1 train/val (right) per epoch as a PNG; the selected epoch is a dashed line."""
    fig = Figure(figsize=(6.4, 2.4), dpi=80)
    loss_ax, top1_ax = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.2, top=0.86, wspace=0.3)  # fixed: tight_layout doubles the time
    loss_ax.plot(metrics.epoch, metrics.train_loss, marker=".", color="tab:red", label="train loss")
    top1_ax.plot(metrics.epoch, metrics.train_top1, marker=".", label="train top-1")
    top1_ax.plot(metrics.epoch, metrics.val_top1, marker=".", label="val top-1")
    for ax in (loss_ax, top1_ax):
        for epoch in metrics.epoch[metrics.selected]:
            ax.axvline(epoch, color="k", linestyle="--", linewidth=1, label="selected")
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    loss_ax.set_ylabel("loss", fontsize=8)
    top1_ax.set_ylabel("top-1 %", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.savefig(out)
