"""Table 5: UCF-101 and HMDB-51, mean over the three splits, of Kinetics models fine-tuned end to end, beside the
paper's I3D rows and the state-of-the-art rows it quotes."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..models.registry import JOINT_STREAM, get_spec
from . import captions
from .paper import KEY, beside_paper, paper_numbers, paper_source
from .render import (
    DATASET_NAMES,
    STREAM_NAMES,
    document,
    ours_text,
    paper_text,
    side_by_side,
    write_tables,
)
from .runs import PredictionRun, check_one_kinetics_source, read_runs, scored_rows

DATASETS = ("ucf101", "hmdb51")
SPLITS = (1, 2, 3)
I3D_NAMES = {"rgb": "RGB-I3D", "flow": "Flow-I3D", JOINT_STREAM: "Two-Stream I3D"}
PRETRAINING = {"imagenet": "ImageNet+Kinetics", "scratch": "Kinetics only"}
QUOTED = " (quoted)"
"""Appended to the names of the literature rows the paper quotes."""
GROUP = ["architecture", "dataset", "stream", "protocol", "init", "data", "imagenet_source", "kinetics_source"]
"""One mean over splits per group."""


def model_name(arch: str, stream: str, init: str) -> str:
    """The paper's row name ("Two-Stream I3D, Kinetics only"); other architectures by their paper name."""
    name = I3D_NAMES[stream] if arch == "i3d" else f"{get_spec(arch).paper_name} {STREAM_NAMES[stream]}"
    return f"{name}, {PRETRAINING[init]}"


def split_means(per_split: pd.DataFrame) -> pd.DataFrame:
    """Top-1 and top-5 averaged over the splits present per group (RGB+Flow fused per split first), with the
    splits they cover and each split's top-1."""
    rows = []
    for key, g in per_split.groupby(GROUP, sort=False):
        by_split = g.set_index("split").top1
        rows.append({**dict(zip(GROUP, key)), "split": "mean", "splits": ", ".join(map(str, sorted(by_split.index))),
                     "top1": g.top1.mean(), "top5": g.top5.mean(),
                     **{f"top1_split{n}": round(by_split.get(n, np.nan), 1) for n in SPLITS}})
    means = pd.DataFrame(rows, columns=[*GROUP, "split", "splits", "top1", "top5",
                                        *(f"top1_split{n}" for n in SPLITS)])
    means["model"] = [model_name(a, s, i) for a, s, i in zip(means.architecture, means.stream, means.init)]
    return means


def _order(paper: pd.DataFrame) -> dict[str, int]:
    """Row names in the paper's order (literature first), for sorting; ours-only rows go after them."""
    return {name: i for i, name in enumerate(dict.fromkeys(paper.model))}


def table5_rows(runs: Sequence[PredictionRun]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tidy means beside the paper's rows, literature included; our per-split rows): fine-tuned (``fullft``)
    models on UCF-101 and HMDB-51, every split given."""
    fullft = [r for r in runs if r.setting.dataset in DATASETS and r.setting.protocol == "fullft"]
    check_one_kinetics_source(fullft, "Table 5's fine-tuned models")
    per_split = scored_rows(fullft)
    df = beside_paper(split_means(per_split), "table5", on=[*KEY, "model"])
    df["quoted"] = df.quoted.fillna(False).astype(bool)
    rank = _order(paper_numbers("table5"))
    df = df.sort_values("model", key=lambda m: m.map(lambda v: rank.get(v, len(rank))), kind="stable")
    return df[["model", "quoted", *df.columns.drop(["model", "quoted"])]].reset_index(drop=True), per_split


def _splits(means: pd.DataFrame) -> list[str]:
    """Which splits our means cover, when not the paper's three."""
    if means.empty or (means.splits == ", ".join(map(str, SPLITS))).all():
        return [] if means.empty else ["", "Our means are over splits 1, 2 and 3, as the paper's."]
    parts = [f"{DATASET_NAMES[d]} split{'s' if ',' in s else ''} {s} ({'; '.join(g.model)})"
             for (d, s), g in means.groupby(["dataset", "splits"], sort=False)]
    return ["", "**Splits:** not every mean covers the paper's three splits, so those are not the paper's "
                "measurement; ours cover " + "; ".join(parts) + ". Each split's top-1 is in `table5.csv`."]


def table5_markdown(df: pd.DataFrame, per_split: pd.DataFrame, released: Sequence[str] | None = None) -> str:
    """The paper's layout: a row per model (and data), "ours (paper)" per dataset; literature rows quoted.
    ``released``: the streams released weights were configured for, when they stood for the Kinetics models."""
    means = df[df.top1.notna()]
    ours = means.assign(column=means.dataset.map(DATASET_NAMES),
                        text=[ours_text(t, imagenet_source=s, kinetics_source=k)
                              for t, s, k in zip(means.top1, means.imagenet_source, means.kinetics_source)])
    paper = df[df.paper_top1.notna()]
    paper = paper.assign(model=[m + QUOTED if q else m for m, q in zip(paper.model, paper.quoted)],
                         column=paper.dataset.map(DATASET_NAMES),
                         text=[paper_text(t, uncertain=isinstance(u, str))
                               for t, u in zip(paper.paper_top1, paper.paper_uncertain)])
    layout = side_by_side(ours, paper, index=["model", "data"], join=["model"], paper_alone=True,
                          columns=[DATASET_NAMES[d] for d in DATASETS])
    rank = _order(paper)
    layout = layout.sort_values(["model", "data"], key=lambda c: c.map(lambda v: rank.get(v, len(rank)))
                                if c.name == "model" else c, kind="stable").reset_index(drop=True)
    caption = [
        ("# Table 5: UCF-101 and HMDB-51, mean over the three splits, against the state of the art (top-1 "
        "accuracy, %)"),
        "",
        "Each cell is **ours (paper)**. Ours: our Kinetics models fine-tuned end to end on each split (Full-FT, "
        "as the paper's I3D rows), pre-trained with ImageNet (ImageNet+Kinetics) or without (Kinetics only); "
        "each split's top-1 on its test clips, then the mean over the splits. Rows marked" + QUOTED + " are the "
        "state of the art the paper quotes from the literature, not models of the paper or of ours: nothing of "
        "ours sits beside them. The paper's numbers are from " + paper_source("table5") + ".",
        *_splits(means),
        *captions.none_run(means, "Kinetics models fine-tuned on UCF-101 or HMDB-51"),
        *captions.released(per_split, released),
        *captions.chance(per_split),
        *captions.rgb_flow(per_split),
        *captions.uncertain(paper),
        *captions.run_conditions(per_split),
    ]
    return document(caption, layout,
                    "Tidy form (one row per model, dataset and init, ours and the paper's, with the splits each "
                    "mean covers and each split's top-1): `table5.csv`.")


def write_table5(prediction_paths: Sequence[str | Path], out_prefix: str | Path,
                 released: Sequence[str] | None = None) -> pd.DataFrame:
    """Write ``out_prefix.csv`` (tidy) and ``out_prefix.md`` (paper layout); files of other tables are ignored.
    ``released``: as :func:`table5_markdown`'s."""
    df, per_split = table5_rows(read_runs(prediction_paths))
    write_tables(df, table5_markdown(df, per_split, released), out_prefix)
    return df
