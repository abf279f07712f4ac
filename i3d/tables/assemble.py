"""Table 2 (architecture comparison) from prediction files, with the paper's numbers beside ours.

Every number in an "ours" column comes from a file the workflow wrote; the paper's numbers come from the CSV
files next to this module, which name their source. The pieces Tables 2 to 5 share live in ``runs``
(prediction files, fusion, accuracies), ``paper``, ``render`` (cells, layout, markdown) and ``captions``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import captions
from .paper import paper_numbers, paper_source
from .render import (
    DATASET_NAMES,
    STREAM_ORDER,
    document,
    markdown_table,
    ours_text,
    paper_text,
    side_by_side,
    write_tables,
)
from .runs import PredictionRun, read_runs, scored_rows, test_sets

__all__ = ["markdown_table", "paper_numbers", "paper_source", "write_table2", "write_tables"]
"""``table1`` imports the shared helpers from here (the workflow's fingerprints follow that import)."""

TABLE2_COLUMNS = ["architecture", "dataset", "split", "stream", "init", "data", "test_clips", "listed_clips",
                  "num_classes", "top1", "frames_scale", "input_size", "epochs", "chance", "test_set",
                  "paper_test_set", "paper_top1", "imagenet_source", "paper_uncertain", "dropout", "val_fraction",
                  "schedule"]


def table2_rows(runs: Sequence[PredictionRun]) -> pd.DataFrame:
    """One row per (architecture, dataset, split, stream, init), the paper's number beside ours where comparable.

    Only models trained on the dataset itself (protocol ``original``): Table 2 compares architectures, not
    Kinetics pre-training (Tables 4 and 5). RGB+Flow as :func:`runs.scored_rows` obtains it. The paper's
    number sits beside ours on the split it was measured on (split 1); ``test_set`` and ``paper_test_set``
    name the clips each was measured on (Kinetics: ours on the labelled test list where it was fetched, else on
    the validation list; the paper's on the held-out test set).
    """
    df = scored_rows([run for run in runs if run.setting.protocol == "original"])
    df["chance"] = 100.0 / df.num_classes
    df = df.merge(paper_numbers("table2"), on=["architecture", "dataset", "split", "stream"], how="left")
    df["top1"] = df.top1.round(1)
    df["chance"] = df.chance.round(1)
    df["stream"] = pd.Categorical(df.stream, STREAM_ORDER, ordered=True)
    return df.sort_values(["architecture", "dataset", "split", "stream"]).reset_index(drop=True)[TABLE2_COLUMNS]


def _column(dataset: str, stream: str) -> str:
    return f"{DATASET_NAMES.get(dataset, dataset)} {stream}"


def _shown(paper: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """The paper's cells the layout shows: in a column and on an (architecture, split) row that ours has."""
    rows = set(zip(ours.architecture, ours.split))
    on_rows = pd.Series([(a, s) in rows for a, s in zip(paper.architecture, paper.split)], index=paper.index,
                        dtype=bool)
    return paper[paper.column.isin(set(ours.column)) & on_rows]


def table2_markdown(df: pd.DataFrame) -> str:
    """Paper-style layout: one row per architecture/split, "ours (paper)" per dataset × stream."""
    ours = df.assign(column=[_column(d, s) for d, s in zip(df.dataset, df.stream)],
                     text=[ours_text(t, imagenet_source=i) for t, i in zip(df.top1, df.imagenet_source)])
    paper = paper_numbers("table2")
    ours_on = test_sets(df)
    paper = paper.assign(column=[_column(d, s) for d, s in zip(paper.dataset, paper.stream)],
                         text=[paper_text(t, uncertain=isinstance(u, str), other_set=ps != ours_on(d, sp))
                               for t, u, ps, d, sp in paper[["paper_top1", "paper_uncertain", "paper_test_set",
                                                             "dataset", "split"]].itertuples(index=False)])
    index = ["architecture", "split", "init", "data"]
    layout = side_by_side(ours, paper, index=index, join=["architecture", "split"],
                          columns=[_column(d, s) for d in DATASET_NAMES for s in STREAM_ORDER], paper_alone=False)
    layout = layout.sort_values(index).reset_index(drop=True)
    caption = [
        "# Table 2: architecture comparison (top-1 accuracy, %)",
        "",
        "Each cell is **ours (paper)**. Ours is computed by this run from its prediction files; the paper's "
        "number is from " + paper_source("table2") + ". Its UCF-101 and HMDB-51 numbers are on split 1, so "
        "they appear on split-1 rows only (–: no paper number to compare with).",
        *captions.other_sets(df),
        *captions.chance(df),
        *captions.uncertain(_shown(paper, ours)),
    ]
    caption += captions.rgb_flow(df) + captions.test_clips(df)
    if (df.init == "scratch").any():
        caption += ["", ("`init` scratch: random initialisation. The paper's Table 2 models start from ImageNet "
                        "weights (except the 3D-ConvNet), so scratch rows are expected to be lower.")]
    caption += captions.standin_data(df) + captions.standin_imagenet(df) + captions.shortened(df) + \
        captions.schedules(df) + captions.deviations(df)
    return document(caption, layout,
                    "Tidy form (one row per architecture, dataset, split, stream, with test clip counts): "
                    "`table2.csv`. Model sizes and input lengths: `table1.md`.")


def write_table2(prediction_paths: Sequence[str | Path], prefix: str | Path) -> pd.DataFrame:
    """Write ``prefix.csv`` (tidy) and ``prefix.md`` (paper layout) from prediction files."""
    df = table2_rows(read_runs(prediction_paths))
    write_tables(df, table2_markdown(df), prefix)
    return df
