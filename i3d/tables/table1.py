"""Table 1: parameters and temporal input sizes, computed from the model definitions, beside the paper's."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..models import Sampling, build, count_parameters, get_spec
from ..models.registry import FPS, REFERENCE_CROP
from .assemble import markdown_table, paper_numbers, paper_source, write_tables

PAPER_CLASSES = 400  # Table 1 counts are for Kinetics-400 models


def _every(stride: int) -> str:
    return "" if stride == 1 else f"1 frame in {stride}"


def describe_input(sampling: Mapping[str, Sampling]) -> str:
    """A registry sampling in Table 1's words, e.g. ``25 rgb (5 x 5, 1 frame in 10), 250 flow (5 x 50)``."""
    parts = []
    for stream, s in sampling.items():
        if s.frames == 0:
            parts.append(f"all {stream}" + (f" ({_every(s.stride)})" if s.stride > 1 else ""))
            continue
        how = [f"{s.samples} x {s.frames}"] if s.samples > 1 else []
        how += [_every(s.stride)] if s.stride > 1 else []
        parts.append(f"{s.frames * s.samples} {stream}" + (f" ({', '.join(how)})" if how else ""))
    return ", ".join(parts)


def _footprint_s(sampling: Mapping[str, Sampling]) -> float:
    return round(max(s.span for s in sampling.values()) / FPS, 2)


def table1_rows(architectures: Sequence[str], *, frames_scale: Mapping[str, float] | None = None,
                crop_size: int = REFERENCE_CROP) -> pd.DataFrame:
    """One row per architecture: our parameter count (400 classes, all streams), the registry's sampling
    (the paper's configuration) and this run's (frames per sample scaled by ``frames_scale[arch]``,
    default 1; crop ``crop_size`` for a 224-input model), beside the paper's numbers."""
    paper = paper_numbers("table1").set_index("architecture")
    rows = []
    for arch in architectures:
        spec = get_spec(arch)
        scale = (frames_scale or {}).get(arch, 1.0)
        run_train = {s: v.scaled(scale) for s, v in spec.train.items()}
        run_test = {s: v.scaled(scale) for s, v in spec.test.items()}
        with torch.device("meta"):  # shapes only: counting needs no memory and no initialisation
            params = count_parameters(build(arch, num_classes=PAPER_CLASSES))
            per_stream = {s: count_parameters(build(arch, num_classes=PAPER_CLASSES, stream=s)) for s in spec.streams}
        # an architecture the paper does not have gets empty paper cells ("–")
        p = paper.loc[arch] if arch in paper.index else pd.Series(np.nan, index=paper.columns)
        rows.append({
            "architecture": arch, "paper_name": spec.paper_name, "params": params,
            "params_m": round(params / 1e6, 2), "paper_params_m": p.paper_params_m,
            "rederived_params": p.rederived_params,
            "params_vs_rederived_pct": round(100 * (params / p.rederived_params - 1), 2),
            "params_per_stream": ", ".join(f"{s} {n:,}" for s, n in per_stream.items()),
            "train_input": describe_input(spec.train),
            "train_footprint_s": _footprint_s(spec.train),
            "test_input": describe_input(spec.test),
            "run_frames_scale": scale, "run_train_input": describe_input(run_train),
            "run_train_footprint_s": _footprint_s(run_train), "run_test_input": describe_input(run_test),
            "run_crop": spec.crop_for(crop_size), "paper_crop": spec.crop_size,
            "paper_train_input": p.train_input, "paper_train_footprint_s": p.train_footprint_s,
            "paper_test_input": p.test_input, "paper_test_footprint_s": p.test_footprint_s})
    return pd.DataFrame(rows)


def write_table1(prefix: str | Path, architectures: Sequence[str], *, frames_scale: Mapping[str, float] | None = None,
                 crop_size: int = REFERENCE_CROP) -> pd.DataFrame:
    """Write ``prefix.csv`` and ``prefix.md``."""
    df = table1_rows(architectures, frames_scale=frames_scale, crop_size=crop_size)
    view = df[["paper_name", "params_m", "paper_params_m", "params_vs_rederived_pct", "params_per_stream",
               "train_input", "paper_train_input", "train_footprint_s", "paper_train_footprint_s", "test_input",
               "paper_test_input", "paper_test_footprint_s", "paper_crop", "run_train_input", "run_train_footprint_s",
               "run_test_input", "run_crop"]]
    view = view.rename(columns={
        "paper_name": "Method", "params_m": "#Params (M, ours)", "paper_params_m": "#Params (M, paper)",
        "params_vs_rederived_pct": "ours vs faithful build (%)", "params_per_stream": "per stream (ours)",
        "train_input": "train input (ours)", "paper_train_input": "train input (paper)",
        "train_footprint_s": "train footprint s (ours)", "paper_train_footprint_s": "train footprint s (paper)",
        "test_input": "test input (ours)", "paper_test_input": "test input (paper)",
        "paper_test_footprint_s": "test footprint s (paper)", "paper_crop": "input px (paper)",
        "run_train_input": "train input (this run)", "run_train_footprint_s": "train footprint s (this run)",
        "run_test_input": "test input (this run)", "run_crop": "input px (this run)"})
    shortened = (df.run_frames_scale != 1).any() or (df.run_crop != df.paper_crop).any()
    text = ("# Table 1: parameters and temporal input sizes\n\n"
            "Our parameter counts are computed from the model definitions (400 classes, PyTorch BatchNorm with "
            "scale and shift); 'ours vs faithful build' compares them with the count a faithful build of the "
            "paper's description gives (the paper rounds to millions). Our inputs are the architectures' "
            "registered sampling, the paper's configuration (\"25 x 10\": 25 samples of 10 frames spread over "
            "the clip, their predictions averaged). Footprints at 25 fps. The 'this run' columns are what this "
            "run's models were trained and tested on (config `models.frames_scale` and `train.crop_size`)"
            + (": **the stand-in run shortens clips and shrinks the resolution** to fit a CPU budget, so its "
               "models see less than the paper's" if shortened else "") + ". Paper: " + paper_source("table1")
            + ".\n\n" + markdown_table(view))
    write_tables(df, text, prefix)
    return df
