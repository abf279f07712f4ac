"""Table 4: UCF-101 and HMDB-51 split 1, trained on the dataset alone vs on Kinetics features vs fine-tuned
from Kinetics, each with and without ImageNet, beside the paper's."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..models.registry import get_spec, list_architectures
from . import captions
from .paper import beside_paper, paper_source
from .render import (
    DATASET_NAMES,
    MISSING,
    document,
    ours_text,
    paper_order,
    paper_text,
    side_by_side,
    write_tables,
)
from .runs import PROTOCOLS, PredictionRun, check_one_kinetics_source, read_runs, scored_rows

PROTOCOL_NAMES = {"original": "Original", "fixed": "Fixed", "fullft": "Full-FT"}
INIT_NAMES = {"imagenet": "with ImageNet", "scratch": "without ImageNet"}
DATASETS = ("ucf101", "hmdb51")


def table4_rows(runs: Sequence[PredictionRun]) -> pd.DataFrame:
    """One row per (architecture, dataset, stream, protocol, init) on split 1 of UCF-101 and HMDB-51, ours
    and the paper's (every paper cell, measured or not)."""
    split1 = [r for r in runs if r.setting.dataset in DATASETS and r.setting.split == 1]
    check_one_kinetics_source([r for r in split1 if r.setting.protocol != "original"], "Table 4's Fixed and Full-FT "
                              "models")
    return beside_paper(scored_rows(split1), "table4")


def _column(dataset: str, protocol: str, init: str | None = None) -> str:
    return f"{DATASET_NAMES[dataset]} {PROTOCOL_NAMES[protocol]}" + (f" {INIT_NAMES[init]}" if init else "")


def _pairs(layout: pd.DataFrame, index: Sequence[str]) -> pd.DataFrame:
    """The paper's cells: "with ImageNet / without ImageNet" in one column per dataset × protocol."""
    out = layout[list(index)].copy()
    for d in DATASETS:
        for p in PROTOCOLS:
            halves = [_column(d, p, i) for i in INIT_NAMES]
            if any(h in layout for h in halves):
                out[_column(d, p)] = [" / ".join(row) for row in
                                      zip(*(layout[h] if h in layout else [MISSING] * len(layout) for h in halves))]
    return out


def _cells(df: pd.DataFrame, text: list[str]) -> pd.DataFrame:
    return df.assign(column=[_column(d, p, i) for d, p, i in zip(df.dataset, df.protocol, df.init)], text=text)


def one_start_originals(ours: pd.DataFrame) -> list[str]:
    """Names the architectures whose Original is from fewer starts than their Fixed / Full-FT rows, so that the
    empty half of their Original cells is not read as a failure."""
    def starts(protocols: set[str]) -> pd.Series:
        return ours[ours.protocol.isin(protocols)].groupby("architecture").init.agg(frozenset)

    original, transferred = starts({"original"}), starts({"fixed", "fullft"})
    short = [a for a in list_architectures() if a in original and original[a] < transferred.get(a, frozenset())]
    if not short:
        return []
    names = ", ".join(get_spec(a).paper_name for a in short)
    verb = "was" if len(short) == 1 else "were"
    return ["", (f"**Original from one start:** {names} {verb} trained on UCF-101 and HMDB-51 from the configured "
                 "start only (`models.init`), so one half of their Original cells is empty; the workflow trains "
                 "Original from both starts (`transfer.kinetics_inits`) for I3D alone, the paper's subject, to keep "
                 "`results/tables.md` within its CPU time budget.")]


def released_i3d_only(released: Sequence[str] | None) -> list[str]:
    """With released weights, why the other architectures have no Fixed or Full-FT numbers."""
    if released is None:
        return []
    return ["", ("**Released weights are I3D's only:** no other architecture has released Kinetics weights, so in "
                 "this run (`transfer.kinetics_source: released`) only I3D has Fixed and Full-FT numbers; the other "
                 "architectures keep their Original ones.")]


def table4_markdown(df: pd.DataFrame, released: Sequence[str] | None = None) -> str:
    """The paper's layout: a row per architecture and stream (and data), "ours (paper) / ours (paper)" (with /
    without ImageNet) per dataset × protocol. ``released``: the streams released weights were configured for, when
    they stood for the Kinetics models."""
    ours = df[df.top1.notna()]
    ours = _cells(ours, [ours_text(t, imagenet_source=s, kinetics_source=k)
                         for t, s, k in zip(ours.top1, ours.imagenet_source, ours.kinetics_source)])
    paper = df[df.paper_top1.notna()]
    paper = _cells(paper, [paper_text(t, uncertain=isinstance(u, str))
                           for t, u in zip(paper.paper_top1, paper.paper_uncertain)])
    index = ["architecture", "stream", "data"]
    layout = side_by_side(ours, paper, index=index, join=["architecture", "stream"], paper_alone=True,
                          columns=[_column(d, p, i) for d in DATASETS for p in PROTOCOLS for i in INIT_NAMES])
    layout = _pairs(layout, index).sort_values(index, key=paper_order).reset_index(drop=True)
    caption = [
        "# Table 4: UCF-101 and HMDB-51 (split 1), with and without Kinetics pre-training (top-1 accuracy, %)",
        "",
        "Each cell is **ours (paper) with ImageNet / ours (paper) without ImageNet**. **Original**: trained on "
        "UCF-101 or HMDB-51 alone (with ImageNet: from ImageNet weights; without: from random initialisation). "
        "**Fixed**: a softmax probe (the last layer only) trained on frozen features of our Kinetics model. "
        "**Full-FT**: our Kinetics model fine-tuned end to end. For Fixed and Full-FT, with ImageNet means the "
        "Kinetics model started from ImageNet (ImageNet→Kinetics), without means Kinetics only. Ours is "
        "computed by this run from its prediction files; the paper's is from " + paper_source("table4") + ".",
        "",
        ("**Layout:** the paper (v3) gives one number per cell: RGB+Flow for the two-stream architectures and "
        "RGB for ConvNet+LSTM and 3D-ConvNet (its Original with ImageNet column equals Table 2's RGB+Flow, "
        "resp. RGB, columns), so its numbers sit on those rows; our RGB and Flow rows of the two-stream "
        "architectures have no paper number beside them. The only text version found (a secondary "
        "transcription of v3) shows no RGB / Flow / RGB+Flow columns; the CVPR version's Table 4 was not "
        "found, so whether it differs is uncertain."),
        *captions.none_run(ours, "models on split 1 of UCF-101 or HMDB-51"),
        *one_start_originals(ours),
        *captions.released(ours, released),
        *released_i3d_only(released),
        *captions.chance(ours),
        *captions.rgb_flow(ours),
        *captions.uncertain(paper),
        *captions.run_conditions(ours),
    ]
    return document(caption, layout,
                    "Tidy form (one row per architecture, dataset, stream, protocol and init, ours and the "
                    "paper's, with test clip counts): `table4.csv`.")


def write_table4(prediction_paths: Sequence[str | Path], out_prefix: str | Path,
                 released: Sequence[str] | None = None) -> pd.DataFrame:
    """Write ``out_prefix.csv`` (tidy) and ``out_prefix.md`` (paper layout); files of other tables are ignored.
    ``released``: as :func:`table4_markdown`'s."""
    df = table4_rows(read_runs(prediction_paths))
    write_tables(df, table4_markdown(df, released), out_prefix)
    return df

