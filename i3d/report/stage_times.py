"""Where the time of a workflow run went: Snakemake's benchmark files (``results/benchmarks/**/*.tsv``) summed
per stage. Used by the report and by ``benchmarks/stage_times.py`` (the terminal view)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["stage", "jobs", "job_seconds", "share_%"]


def stage_of(path: Path, root: Path) -> str:
    """The rule a benchmark file belongs to, from its path (the ``benchmark:`` lines of workflow/rules/*.smk)."""
    parts = path.relative_to(root).parts
    if len(parts) == 1:  # imagenet_standin.tsv
        return path.stem
    if path.stem in ("train", "predict"):
        return {"train": "finetune", "predict": "predict_fullft"}[path.stem] if "fullft" in parts else path.stem
    if path.stem == "acquire":
        return path.stem
    return parts[1]  # <dataset>/<frames|flow|features>/<name>.tsv


def stage_times(root: str | Path) -> pd.DataFrame:
    """Per stage, in order of first appearance: jobs, summed job seconds (column ``s``, the last row of each
    file: a rerun appends one) and their share of the total. Empty (with the columns) without benchmark files."""
    base = Path(root)
    rows = [(stage_of(p, base), float(pd.read_csv(p, sep="\t")["s"].iloc[-1])) for p in sorted(base.rglob("*.tsv"))]
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.DataFrame(rows, columns=["stage", "seconds"]).groupby("stage", sort=False).seconds.agg(["count", "sum"])
    df["share"] = 100 * df["sum"] / df["sum"].sum()
    return df.reset_index().set_axis(COLUMNS, axis=1)
