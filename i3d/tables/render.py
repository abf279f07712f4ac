"""Rendering shared by the tables: number formats, the paper's layout with "ours (paper)" cells, markdown, files."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import write_text_atomic
from ..models.registry import JOINT_STREAM, list_architectures
from .runs import NO_IMAGENET

DATASET_NAMES = {"ucf101": "UCF-101", "hmdb51": "HMDB-51", "kinetics400": "Kinetics-400"}
STREAM_ORDER = ("rgb", "flow", JOINT_STREAM)
STREAM_NAMES = {"rgb": "RGB", "flow": "Flow", JOINT_STREAM: "RGB+Flow"}
DATASET_RANK = {d: i for i, d in enumerate(DATASET_NAMES)}
"""The paper's dataset order, for sorting."""
STANDIN_IMAGENET = "‡"
"""Mark on our numbers whose ImageNet weights were the offline stand-in (``captions.standin_imagenet``)."""
RELEASED = "§"
"""Mark on our numbers from released Kinetics weights (``captions.released``)."""
MISSING = "–"


def write_tables(df: pd.DataFrame, markdown: str, prefix: str | Path) -> None:
    """Write ``prefix.csv`` and ``prefix.md`` atomically."""
    for suffix, text in ((".csv", df.to_csv(index=False)), (".md", markdown)):
        write_text_atomic(Path(prefix).with_suffix(suffix), text)


def document(caption: Sequence[str], layout: pd.DataFrame, tidy: str) -> str:
    """A table's markdown page: its caption lines, the table in the paper's layout, and where the tidy form is."""
    return "\n".join(caption) + "\n\n" + markdown_table(layout) + "\n" + tidy + "\n"


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (no extra dependency)."""
    cells = [[(MISSING if (isinstance(v, float) and np.isnan(v)) else str(v)) for v in row]
             for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines) + "\n"


def score(top1: float, top5: float = np.nan) -> str:
    """``top1`` (or ``top1 / top5``) to one decimal; "–" when not measured."""
    if pd.isna(top1):
        return MISSING
    return f"{top1:.1f}" + ("" if pd.isna(top5) else f" / {top5:.1f}")


def ours_text(top1: float, top5: float = np.nan, imagenet_source: str = NO_IMAGENET,
              kinetics_source: str = "trained") -> str:
    """Our number, marked ‡ when its ImageNet weights were the offline stand-in, § when it came from released
    Kinetics weights."""
    return (score(top1, top5) + (STANDIN_IMAGENET if imagenet_source == "stand-in" else "")
            + (RELEASED if kinetics_source == "released" else ""))


def paper_text(top1: float, top5: float = np.nan, *, uncertain: bool = False, other_set: bool = False) -> str:
    """The paper's number, marked ? when the reference marks it uncertain and † when it was measured on other
    clips than ours (Kinetics: its held-out test set, our validation set)."""
    text = score(top1, top5)
    return text if text == MISSING else text + ("?" if uncertain else "") + ("†" if other_set else "")


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame, *, index: Sequence[str], join: Sequence[str],
                 columns: Sequence[str], paper_alone: bool) -> pd.DataFrame:
    """The paper's layout: a row per ``index`` key of ``ours``, a column per label of ``columns`` that has a
    number, each cell "ours (paper)"; "–" where there is none.

    ``ours`` has the ``index`` columns, ``column`` (the label) and ``text``; ``paper`` has the ``join`` columns
    (a part of ``index``: the paper's number shows in every row of ours with the same ``join`` key),
    ``column`` and ``text``. With ``paper_alone`` the paper's numbers show without ours too, in a row of their
    own (other index cells "–") when no row of ours shares their ``join`` key: a table with no runs still
    shows the paper. Rows come in the order of ``ours``, then the paper's; callers sort.
    """
    pos = [list(index).index(j) for j in join]
    ours_cells = {(tuple(r[:-2]), r[-2]): r[-1] for r in ours[[*index, "column", "text"]].itertuples(index=False)}
    paper_cells = {(tuple(r[:-2]), r[-2]): r[-1] for r in paper[[*join, "column", "text"]].itertuples(index=False)}
    keys = list(dict.fromkeys(key for key, _ in ours_cells))
    shown = {c for _, c in ours_cells}
    if paper_alone:
        covered = {tuple(key[i] for i in pos) for key in keys}
        for joined in dict.fromkeys(key for key, _ in paper_cells):
            if joined not in covered:
                key = [MISSING] * len(index)
                for i, value in zip(pos, joined):
                    key[i] = value
                keys.append(tuple(key))
        shown |= {c for _, c in paper_cells}

    def cell(key: tuple, column: str) -> str:
        mine, theirs = ours_cells.get((key, column)), paper_cells.get((tuple(key[i] for i in pos), column))
        if mine is None and (theirs is None or not paper_alone):
            return MISSING
        return f"{mine or MISSING} ({theirs or MISSING})"

    used = [c for c in columns if c in shown]
    return pd.DataFrame([[*key, *(cell(key, c) for c in used)] for key in keys], columns=[*index, *used])


def paper_order(column: pd.Series) -> pd.Series:
    """Sort key putting architectures, datasets and streams in the paper's order (``sort_values(key=...)``)."""
    ranks = {"architecture": {a: i for i, a in enumerate(list_architectures())}, "dataset": DATASET_RANK,
             "stream": {s: i for i, s in enumerate(STREAM_ORDER)}}.get(str(column.name))
    return column if ranks is None else column.map(lambda v: ranks.get(v, len(ranks)))
