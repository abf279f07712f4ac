"""How each trained model did on its validation set, epoch by epoch: the evidence for (or against) a schedule.

Usage (after `snakemake --cores all results/table2.md`):  python benchmarks/validation_curves.py [results]

Training scores a validation set carved from the training split after every epoch (``train.val_fraction``)
and keeps the best epoch. A model whose best epoch is its last may want more epochs; one that peaked early
and fell may want fewer. The test split plays no part in this. Prints one row per model: epochs, the
selected epoch, validation top-1 at the selected and at the last epoch, and the curve.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def summarise(metrics: Path) -> dict:
    """One model's row from its ``metrics.csv``."""
    df = pd.read_csv(metrics)
    chosen = df[df.selected].iloc[0]
    curve = " ".join("–" if pd.isna(v) else f"{v:.0f}" for v in df.val_top1)
    return dict(dataset=metrics.parts[-4], split=metrics.parts[-3], model=metrics.parent.name, epochs=len(df),
                selected=int(chosen.epoch), val_selected=round(float(chosen.val_top1), 1),
                val_last=round(float(df.val_top1.iloc[-1]), 1), curve=curve)


def main(root: str = "results") -> None:
    paths = sorted(Path(root).glob("*/split*/*/metrics.csv"))
    if not paths:
        sys.exit(f"no metrics.csv under {root}/<dataset>/split<N>/<model>/: run the workflow first")
    table = pd.DataFrame([summarise(p) for p in paths])
    print(table.to_string(index=False))
    late = (table.selected == table.epochs).mean()
    print(f"\n{len(table)} models; {100 * late:.0f}% selected their last epoch (validation still rising or flat at the end)")


if __name__ == "__main__":
    main(*sys.argv[1:])
