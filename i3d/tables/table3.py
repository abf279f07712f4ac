"""Table 3: Kinetics top-1 and top-5, trained from scratch vs ImageNet-pretrained, beside the paper's."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import captions
from .paper import beside_paper, paper_source
from .render import (
    STREAM_NAMES,
    STREAM_ORDER,
    document,
    ours_text,
    paper_order,
    paper_text,
    side_by_side,
    write_tables,
)
from .runs import PredictionRun, check_one_kinetics_source, read_runs, scored_rows

INIT_NAMES = {"scratch": "Scratch", "imagenet": "ImageNet→Kinetics"}


def table3_rows(runs: Sequence[PredictionRun]) -> pd.DataFrame:
    """One row per (architecture, stream, init) of Kinetics models trained on Kinetics itself, ours and the
    paper's (every paper cell, measured or not)."""
    kinetics = [r for r in runs if r.setting.dataset == "kinetics400" and r.setting.protocol == "original"]
    check_one_kinetics_source(kinetics, "Table 3's Kinetics models")
    return beside_paper(scored_rows(kinetics), "table3")


def _column(init: str, stream: str) -> str:
    return f"{INIT_NAMES[init]} {STREAM_NAMES[stream]}"


def unscored_released(ours: pd.DataFrame, released: Sequence[str] | None) -> list[str]:
    """Says why released weights have no row of ours: the workflow scores them on Kinetics only when it is the real
    one."""
    if released is None or not ours.empty:
        return []
    return ["", ("**Released weights not scored on Kinetics:** this run's Kinetics is the built-in stand-in (or "
                 "none is configured), whose classes are not Kinetics', so the released models' logits mean nothing "
                 "on it and only the paper's numbers are shown. With the real Kinetics (`datasets.kinetics400.source: "
                 "local` or `download`) they are scored on its test list (validation without one).")]


def table3_markdown(df: pd.DataFrame, released: Sequence[str] | None = None) -> str:
    """The paper's layout: a row per architecture (and data), "ours (paper)" top-1 / top-5 per init × stream.
    ``released``: the streams released weights were configured for, when they stood for the Kinetics models."""
    ours = df[df.top1.notna()]
    ours = ours.assign(column=[_column(i, s) for i, s in zip(ours.init, ours.stream)],
                       text=[ours_text(t1, t5, src, kin) for t1, t5, src, kin
                             in ours[["top1", "top5", "imagenet_source", "kinetics_source"]].itertuples(index=False)])
    paper = df[df.paper_top1.notna()]
    paper = paper.assign(column=[_column(i, s) for i, s in zip(paper.init, paper.stream)],
                         text=[paper_text(t1, t5, uncertain=isinstance(u, str), other_set=ps != ts)
                               for t1, t5, u, ps, ts in paper[["paper_top1", "paper_top5", "paper_uncertain",
                                                               "paper_test_set", "test_set"]].itertuples(index=False)])
    layout = side_by_side(ours, paper, index=["architecture", "data"], join=["architecture"],
                          columns=[_column(i, s) for i in INIT_NAMES for s in STREAM_ORDER], paper_alone=True)
    layout = layout.sort_values(["architecture", "data"], key=paper_order).reset_index(drop=True)
    caption = [
        "# Table 3: Kinetics, trained from scratch vs ImageNet-pretrained (top-1 / top-5 accuracy, %)",
        "",
        "Each cell is **ours (paper)**, top-1 / top-5 (the paper gives top-5 for Two-Stream I3D only; –: no "
        "number). **Scratch**: trained on Kinetics from random initialisation; **ImageNet→Kinetics**: from "
        "ImageNet weights (Inception-V1 inflated to 3D where the model is 3D), then trained on Kinetics. Ours is "
        "computed by this run from its prediction files; the paper's is from " + paper_source("table3") + ".",
        *captions.other_sets(df),
        *(captions.none_run(ours, "Kinetics models") if released is None else []),
        *captions.released(ours, released),
        *unscored_released(ours, released),
        *captions.chance(ours),
        *captions.rgb_flow(ours),
        *captions.uncertain(paper),
        *captions.run_conditions(ours),
    ]
    return document(caption, layout,
                    "Tidy form (one row per architecture, stream and init, ours and the paper's, with top-5 and "
                    "test clip counts): `table3.csv`.")


def write_table3(prediction_paths: Sequence[str | Path], out_prefix: str | Path,
                 released: Sequence[str] | None = None) -> pd.DataFrame:
    """Write ``out_prefix.csv`` (tidy) and ``out_prefix.md`` (paper layout); files of other tables are ignored.
    ``released``: as :func:`table3_markdown`'s."""
    df = table3_rows(read_runs(prediction_paths))
    write_tables(df, table3_markdown(df, released), out_prefix)
    return df
