"""The paper's numbers, as package data: ``paper_<table>.csv`` next to this module, whose first comment line
names the source and whose other comment lines say how to read it."""
from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

import pandas as pd

from .render import paper_order
from .runs import test_sets


def paper_numbers(name: str) -> pd.DataFrame:
    """The paper's table ``name`` (``table1`` ... ``table5``) from the package data, comments dropped."""
    with resources.files(__package__).joinpath(f"paper_{name}.csv").open() as fh:
        return pd.read_csv(fh, comment="#")


def paper_source(name: str) -> str:
    """The source line (first comment) of a paper-numbers file."""
    with resources.files(__package__).joinpath(f"paper_{name}.csv").open() as fh:
        return fh.readline().lstrip("# ").strip()


KEY = ["architecture", "dataset", "split", "stream", "protocol", "init"]
"""What identifies a cell of Tables 3 to 5, in ours and in the paper's CSV files."""
COUNTS = ["test_clips", "listed_clips", "num_classes", "input_size", "epochs"]


def beside_paper(ours: pd.DataFrame, name: str, on: Sequence[str] = KEY) -> pd.DataFrame:
    """Tidy rows: ours with the paper's table ``name`` beside it, plus the paper's cells we have no number for
    (ours empty there), so that every paper number is in the CSV; accuracies to one decimal, paper order.
    ``test_set``, where ours has it, is filled in the paper-only rows too: the clips ours would be measured on."""
    ours = ours.astype(dict.fromkeys([c for c in COUNTS if c in ours], "Int64"))
    df = ours.merge(paper_numbers(name), on=list(on), how="outer", sort=False)
    if "test_set" in df:
        ours_on = test_sets(ours)
        df["test_set"] = [t if isinstance(t, str) else ours_on(d, s)
                          for t, d, s in zip(df.test_set, df.dataset, df.split)]
    for column in ("top1", "top5"):
        df[column] = df[column].round(1)
    return df.sort_values(list(on), key=paper_order, kind="stable").reset_index(drop=True)
