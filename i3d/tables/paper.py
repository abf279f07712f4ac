"""The paper's numbers, as package data: ``paper_<table>.csv`` next to this module, whose first comment line
names the source and whose other comment lines say how to read it."""
from __future__ import annotations

from importlib import resources

import pandas as pd


def paper_numbers(name: str) -> pd.DataFrame:
    """The paper's table ``name`` (``table1`` ... ``table5``) from the package data, comments dropped."""
    with resources.files(__package__).joinpath(f"paper_{name}.csv").open() as fh:
        return pd.read_csv(fh, comment="#")


def paper_source(name: str) -> str:
    """The source line (first comment) of a paper-numbers file."""
    with resources.files(__package__).joinpath(f"paper_{name}.csv").open() as fh:
        return fh.readline().lstrip("# ").strip()
