"""Where the time of a workflow run went: Snakemake's benchmark files summed per stage.

Usage (after `snakemake --cores all results/table2.md`):  python benchmarks/stage_times.py [results/benchmarks]
Prints, per rule, the number of jobs, the summed job seconds and the share of the total; with --cores 2 two
jobs overlap, so the wall time is shorter than the sum.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def stage_of(path: Path, root: Path) -> str:
    """The rule a benchmark file belongs to, from its path (see workflow/rules/*.smk)."""
    parts = path.relative_to(root).parts
    if path.stem in ("train", "predict", "acquire"):
        return path.stem
    return parts[1]  # <dataset>/<frames|flow>/<shard>.tsv


def main(root: str = "results/benchmarks") -> None:
    base = Path(root)
    rows = [(stage_of(p, base), float(pd.read_csv(p, sep="\t")["s"].iloc[-1])) for p in sorted(base.rglob("*.tsv"))]
    if not rows:
        sys.exit(f"no benchmark files under {base}: run the workflow first")
    df = pd.DataFrame(rows, columns=["stage", "seconds"]).groupby("stage", sort=False).seconds.agg(["count", "sum"])
    df["share"] = (100 * df["sum"] / df["sum"].sum()).round(1)
    print(df.rename(columns={"count": "jobs", "sum": "job_seconds", "share": "share_%"}).round(1).to_string())
    print(f"total job seconds: {df['sum'].sum():.0f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
