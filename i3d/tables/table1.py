"""Table 1: parameters and temporal input sizes, computed from the model definitions, beside the paper's."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from ..models import build, count_parameters, get_spec
from .assemble import markdown_table, paper_numbers, paper_source, write_tables

PAPER_CLASSES = 400  # Table 1 counts are for Kinetics-400 models


def table1_rows(architectures: Sequence[str], *, train_frames: int, fps: float) -> pd.DataFrame:
    """One row per architecture: our parameter count (400 classes, all streams) and this run's footprint."""
    paper = paper_numbers("table1").set_index("architecture")
    rows = []
    for arch in architectures:
        spec = get_spec(arch)
        params = count_parameters(build(arch, num_classes=PAPER_CLASSES))
        per_stream = {s: count_parameters(build(arch, num_classes=PAPER_CLASSES, stream=s)) for s in spec.streams}
        p = paper.loc[arch]
        rows.append(dict(
            architecture=arch, paper_name=spec.paper_name, params=params, params_m=round(params / 1e6, 2),
            paper_params_m=p.paper_params_m, params_per_stream=", ".join(f"{s} {n:,}" for s, n in per_stream.items()),
            train_frames=train_frames, train_footprint_s=round(train_frames / fps, 2),
            paper_train_input=p.train_input, paper_train_footprint_s=p.train_footprint_s,
            paper_test_input=p.test_input, paper_test_footprint_s=p.test_footprint_s))
    return pd.DataFrame(rows)


def write_table1(prefix: str | Path, architectures: Sequence[str], *, train_frames: int, fps: float) -> pd.DataFrame:
    """Write ``prefix.csv`` and ``prefix.md``."""
    df = table1_rows(architectures, train_frames=train_frames, fps=fps)
    view = df[["paper_name", "params_m", "paper_params_m", "params_per_stream", "train_frames", "train_footprint_s",
               "paper_train_input", "paper_train_footprint_s", "paper_test_input", "paper_test_footprint_s"]]
    view = view.rename(columns={
        "paper_name": "Method", "params_m": "#Params (M, ours)", "paper_params_m": "#Params (M, paper)",
        "params_per_stream": "per stream (ours)", "train_frames": "train frames (this run)",
        "train_footprint_s": "train footprint s (this run)", "paper_train_input": "train input (paper)",
        "paper_train_footprint_s": "train footprint s (paper)", "paper_test_input": "test input (paper)",
        "paper_test_footprint_s": "test footprint s (paper)"})
    text = ("# Table 1: parameters and temporal input sizes\n\n"
            "Our parameter counts are computed from the model definitions (400 classes, PyTorch BatchNorm with "
            "scale and shift). Footprints at 25 fps. This run's training frames are set in the config; test "
            "always uses the whole clip. Paper: " + paper_source("table1") + ".\n\n" + markdown_table(view))
    write_tables(df, text, prefix)
    return df
