"""Table 2 as a figure: our top-1 beside the paper's for each architecture and stream, one panel per dataset,
read from the tidy ``table2.csv``. The table's "ours (paper)" cells need reading one by one; bars side by side
show at once where the run is near the paper and where it is not."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..tables.render import DATASET_NAMES, DATASET_RANK, STREAM_NAMES, paper_order

COLUMNS = ["architecture", "dataset", "split", "stream", "init", "data", "top1", "chance", "paper_top1"]
"""What the figure reads of ``table2.csv`` (``i3d.tables.assemble.TABLE2_COLUMNS``)."""


def read_table2(path: Path) -> pd.DataFrame:
    """The rows of ``table2.csv`` in the paper's order (datasets, architectures, streams), checked for the
    columns the figure needs."""
    df = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)} (not a table2.csv?)")
    df["rank"] = df.dataset.map(lambda d: DATASET_RANK.get(d, len(DATASET_RANK)))
    return df.sort_values(["rank", "architecture", "stream", "split", "init"], key=paper_order, kind="stable")


def _labels(rows: pd.DataFrame) -> list[str]:
    """A bar group's label: architecture and stream, plus the split and start when the panel has several."""
    extra = [c for c in ("split", "init") if rows[c].nunique() > 1]
    return ["\n".join([a, STREAM_NAMES.get(s, s), *(f"{c} {r[c]}" for c in extra)])
            for (_, r), a, s in zip(rows.iterrows(), rows.architecture, rows.stream)]


def plot_table2(df: pd.DataFrame, out: Path) -> None:
    """Save one panel per dataset of ``df`` (``read_table2``): our top-1 and the paper's per row, values on the
    bars, chance as a dashed line; no paper bar where the paper has no number for that row."""
    panels = list(dict.fromkeys(df.dataset))
    widest = max(len(df[df.dataset == d]) for d in panels)
    fig = Figure(figsize=(min(max(3.0 + 0.9 * widest, 6.0), 15.0), 2.9 * len(panels)), dpi=80)
    axes = np.atleast_1d(fig.subplots(len(panels), 1, squeeze=False)[:, 0])
    for ax, dataset in zip(axes, panels):
        rows = df[df.dataset == dataset]
        x = np.arange(len(rows))
        ours = ax.bar(x - 0.2, rows.top1, 0.4, color="tab:blue", label="ours")
        paper = ax.bar(x + 0.2, rows.paper_top1.fillna(0), 0.4, color="tab:grey", label="paper")
        ax.bar_label(ours, fmt="%.1f", fontsize=7)
        ax.bar_label(paper, labels=["" if np.isnan(v) else f"{v:.1f}" for v in rows.paper_top1], fontsize=7)
        ax.axhline(rows.chance.max(), color="k", linestyle="--", linewidth=1, label="chance")
        ax.set_xticks(x, _labels(rows), fontsize=7)
        ax.set_ylim(0, 122)  # room for the legend above a bar near 100
        ax.set_ylabel("top-1 %", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        standin = " (stand-in data)" if (rows.data == "stand-in").any() else ""
        ax.set_title(f"{DATASET_NAMES.get(dataset, dataset)}{standin}", fontsize=9)
        ax.legend(fontsize=7, loc="upper right", ncols=3)
    fig.tight_layout()  # the tick labels' height depends on how many lines they have
    fig.savefig(out)
