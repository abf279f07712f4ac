"""Assemble the paper's tables from what the run computed, with the paper's numbers beside ours.

Every number in an "ours" column comes from a file the workflow wrote (model definitions for Table 1,
prediction files for Table 2); the paper's numbers come from the CSV files next to this module, which
name their source.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

import h5py
import numpy as np
import pandas as pd

from ..atomic import write_text_atomic
from ..evaluate.predict import read_predictions
from ..models.registry import JOINT_STREAM, get_spec, list_architectures

DATASET_NAMES = {"ucf101": "UCF-101", "hmdb51": "HMDB-51", "kinetics400": "Kinetics-400"}
STREAM_ORDER = ("rgb", "flow", JOINT_STREAM)
DATASET_RANK = {d: i for i, d in enumerate(DATASET_NAMES)}
"""The paper's dataset order, for sorting."""
OUR_TEST_SETS = {"kinetics400": "validation"}
"""Datasets whose test split is not the official test list: Kinetics' test labels are not public, so its
validation clips play the test split (``i3d.data.annotations``)."""


def paper_numbers(name: str) -> pd.DataFrame:
    """The paper's table ``name`` (``table1`` or ``table2``) from the package data, comments dropped."""
    with resources.files(__package__).joinpath(f"paper_{name}.csv").open() as fh:
        return pd.read_csv(fh, comment="#")


def paper_source(name: str) -> str:
    """The source line (first comment) of a paper-numbers file."""
    with resources.files(__package__).joinpath(f"paper_{name}.csv").open() as fh:
        return fh.readline().lstrip("# ").strip()


def write_tables(df: pd.DataFrame, markdown: str, prefix: str | Path) -> None:
    """Write ``prefix.csv`` and ``prefix.md`` atomically."""
    for suffix, text in ((".csv", df.to_csv(index=False)), (".md", markdown)):
        write_text_atomic(Path(prefix).with_suffix(suffix), text)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (no extra dependency)."""
    cells = [[("–" if (isinstance(v, float) and np.isnan(v)) else str(v)) for v in row] for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class PredictionRun:
    """One predictions file and what produced it (read from its attributes)."""

    path: Path
    dataset: str
    split: int
    arch: str
    stream: str
    init: str
    data: str  # "stand-in" or "real"
    frames_scale: float = 1.0  # frames per sample relative to the paper's
    input_size: int = 0  # side of the model's input, pixels (0: not recorded)
    epochs: int = 0  # training epochs (0: not recorded)
    listed_clips: int = 0  # test clips the official split lists, decoded or not (0: not recorded)


def read_runs(paths: Iterable[str | Path]) -> list[PredictionRun]:
    runs = []
    for p in paths:
        with h5py.File(p, "r", locking=False) as f:
            a = dict(f.attrs)
        runs.append(PredictionRun(Path(p), str(a["dataset"]), int(a["split"]), str(a["arch"]), str(a["stream"]),
                                  str(a["init"]), str(a["data"]), float(a.get("frames_scale", 1.0)),
                                  int(a.get("input_size", 0)), int(a.get("epochs", 0)),
                                  int(a.get("listed_clips", 0))))
    return runs


def _our_test_set(dataset: str, split: int) -> str:
    """The clips our accuracy on ``dataset``/``split`` is measured on, in the words of the paper CSV."""
    return OUR_TEST_SETS.get(dataset, f"split {split} test")


def _accuracy(labels: np.ndarray, logits: np.ndarray) -> float:
    return float(100.0 * (logits.argmax(1) == labels).mean())


def _row(run: PredictionRun, stream: str, labels: np.ndarray, logits: np.ndarray) -> dict:
    """One tidy Table 2 row: ``run``'s accuracy on ``stream`` (its own, or the streams it was fused with)."""
    return dict(architecture=run.arch, dataset=run.dataset, split=run.split, stream=stream, init=run.init,
                data=run.data, test_clips=len(labels), listed_clips=run.listed_clips, num_classes=logits.shape[1],
                top1=_accuracy(labels, logits), frames_scale=run.frames_scale, input_size=run.input_size,
                epochs=run.epochs)


def table2_rows(runs: Sequence[PredictionRun]) -> pd.DataFrame:
    """One row per (architecture, dataset, split, stream, init), the paper's number beside ours where comparable.

    RGB+Flow as the paper obtains it per architecture (``ArchSpec.fusion``): a late-fusion architecture's
    (I3D) averages the two separately trained streams' clip logits clip by clip (equal weights, as
    DeepMind's released evaluation adds the logits), over the clips both streams have; a joint
    architecture's (Two-Stream, 3D-Fused) is its own network's predictions file. The paper's number sits
    beside ours on the split it was measured on (split 1); ``test_set`` and ``paper_test_set`` name the
    clips each was measured on (Kinetics: ours on the validation set, the paper's on the held-out test set).
    """
    loaded = [(run, *read_predictions(run.path)) for run in runs]
    by_key = {(run.arch, run.dataset, run.split, run.init, run.data, run.stream): (run, ids, labels, logits)
              for run, ids, labels, logits in loaded}
    rows = [_row(run, run.stream, labels, logits) for run, _, labels, logits in loaded]
    for (arch, ds, split, init, data, stream), (run, ids, labels, logits) in by_key.items():
        flow = by_key.get((arch, ds, split, init, data, "flow"))
        if stream != "rgb" or flow is None or get_spec(arch).fusion != "late":
            continue
        flow_pos = {c: i for i, c in enumerate(flow[1])}
        keep = [i for i, c in enumerate(ids) if c in flow_pos]
        fused = (logits[keep] + flow[3][[flow_pos[ids[i]] for i in keep]]) / 2.0
        rows.append(_row(run, JOINT_STREAM, labels[keep], fused))
    df = pd.DataFrame(rows)
    df["chance"] = 100.0 / df.num_classes
    df["test_set"] = [_our_test_set(d, s) for d, s in zip(df.dataset, df.split)]
    df = df.merge(paper_numbers("table2"), on=["architecture", "dataset", "split", "stream"], how="left")
    df["top1"] = df.top1.round(1)
    df["chance"] = df.chance.round(1)
    df["stream"] = pd.Categorical(df.stream, STREAM_ORDER, ordered=True)
    return df.sort_values(["architecture", "dataset", "split", "stream"]).reset_index(drop=True)


def _shortened(df: pd.DataFrame) -> list[str]:
    """A caption paragraph when models saw shorter clips or smaller frames than the paper's (else none)."""
    paper_px = df.architecture.map(lambda a: get_spec(a).crop_size)
    short = df[(df.frames_scale != 1) | ((df.input_size > 0) & (df.input_size < paper_px))]
    if short.empty:
        return []
    scales = ", ".join(f"{a} ×{s:g}" for a, s in short[["architecture", "frames_scale"]].drop_duplicates()
                       .itertuples(index=False))
    sizes = ", ".join(str(n) for n in sorted(set(short.input_size) - {0}))
    text = (f"**Shortened clips and resolution:** to fit the CPU budget these models saw fewer frames per "
            f"sample than the paper's (frames per sample: {scales}) and {sizes} px inputs instead of the "
            f"paper's 224 (3D-ConvNet: 112); `table1.md` lists each architecture's inputs in this run.")
    return ["", text]


def _schedules(df: pd.DataFrame) -> list[str]:
    """A caption paragraph when architectures trained for different numbers of epochs on one dataset."""
    runs = df[df.epochs > 0][["dataset", "architecture", "epochs"]].drop_duplicates()
    if (runs.groupby("dataset").epochs.nunique() <= 1).all():
        return []
    per_dataset = "; ".join(
        f"{DATASET_NAMES.get(d, d)}: " + ", ".join(f"{a} {e}" for a, e in g[["architecture", "epochs"]]
                                                   .itertuples(index=False))
        for d, g in runs.groupby("dataset", sort=False))
    text = (f"**Training schedules differ:** epochs per architecture ({per_dataset}); config "
            "`models.per_arch.<arch>.epochs_scale`.")
    return ["", text]


def _cell(top1: float, paper: float, test_set: str, paper_test_set: str) -> str:
    """``ours (paper)``; the paper's number marked † when it was measured on other clips than ours."""
    if np.isnan(paper):
        return f"{top1:.1f} (–)"
    return f"{top1:.1f} ({paper:.1f}{'' if paper_test_set == test_set else '†'})"


def _other_sets(df: pd.DataFrame) -> list[str]:
    """A caption paragraph naming, per dataset, the clips ours and the paper's † numbers were measured on."""
    marked = df[df.paper_top1.notna() & (df.paper_test_set != df.test_set)]
    pairs = marked[["dataset", "test_set", "paper_test_set"]].drop_duplicates()
    lines = []
    for dataset, ours, paper in pairs.itertuples(index=False):
        lines += ["", f"† {DATASET_NAMES.get(dataset, dataset)}: ours is on the {ours} set, which plays the test "
                      f"split because the test labels are not public; the paper's is on the {paper} set, so the "
                      "two are close but not the same measurement."]
    return lines


def _rgb_flow(df: pd.DataFrame) -> list[str]:
    """A caption paragraph saying per architecture how its RGB+Flow cell was obtained (``ArchSpec.fusion``)."""
    archs = set(df[df.stream == JOINT_STREAM].architecture)
    how = []
    for spec in (get_spec(a) for a in list_architectures() if a in archs):
        if spec.fusion == "joint":
            way = f"one network trained end to end on both inputs with one loss, {spec.fused_by}"
        else:
            way = f"RGB and Flow networks trained separately, {spec.fused_by} at test (on the clips both have)"
        how.append(f"{spec.paper_name} (`{spec.name}`): {way}")
    return ["", "**RGB+Flow**, as the paper obtains it: " + "; ".join(how) + "."] if how else []


def _test_clips(df: pd.DataFrame) -> list[str]:
    """A caption paragraph: per dataset and split, the test clips used out of those the official split lists."""
    counts = (df.groupby(["dataset", "split", "test_set"])
              .agg(low=("test_clips", "min"), high=("test_clips", "max"), listed=("listed_clips", "max"))
              .reset_index()
              .sort_values(["dataset", "split"], key=lambda c: c.map(DATASET_RANK) if c.name == "dataset" else c))
    parts = [f"{DATASET_NAMES.get(d, d)} {test_set}: " + (str(low) if low == high else f"{low}–{high} (by stream)")
             + (f" of {listed} listed" if listed else " of an unrecorded number listed")
             for d, _, test_set, low, high, listed in counts.itertuples(index=False)]
    text = ("**Test clips used**, out of the clips the official list puts in the test split (a clip that failed "
            "to decode, or has too few frames for flow, drops out; reasons in `results/<dataset>/manifest.csv` "
            "and `results/<dataset>/rgb/shardNNN.csv`): " + "; ".join(parts) + ".")
    return ["", text]


def table2_markdown(df: pd.DataFrame) -> str:
    """Paper-style layout: one row per architecture/split, "ours (paper)" per dataset × stream."""
    view = df.assign(cell=[_cell(*cells) for cells in df[["top1", "paper_top1", "test_set", "paper_test_set"]]
                           .itertuples(index=False)])
    view["column"] = [f"{DATASET_NAMES.get(d, d)} {s}" for d, s in zip(view.dataset, view.stream)]
    order = [f"{DATASET_NAMES[d]} {s}" for d in DATASET_NAMES for s in STREAM_ORDER]
    pivot = view.pivot_table(index=["architecture", "split", "init", "data"], columns="column", values="cell",
                             aggfunc="first", observed=True)
    pivot = pivot[[c for c in order if c in pivot.columns]].reset_index()
    standin = (df.data == "stand-in").any()
    chance = ", ".join(f"{DATASET_NAMES.get(d, d)} {c:.1f}% ({n} classes)"
                       for d, c, n in df[["dataset", "chance", "num_classes"]].drop_duplicates().itertuples(index=False))
    caption = [
        "# Table 2: architecture comparison (top-1 accuracy, %)",
        "",
        "Each cell is **ours (paper)**. Ours is computed by this run from its prediction files; the paper's "
        "number is from " + paper_source("table2") + ". Its UCF-101 and HMDB-51 numbers are on split 1, so "
        "they appear on split-1 rows only (–: no paper number to compare with).",
        *_other_sets(df),
        "",
        f"Chance level: {chance}.",
    ]
    caption += _rgb_flow(df) + _test_clips(df)
    if (df.init == "scratch").any():
        caption += ["", "`init` scratch: random initialisation. The paper's Table 2 models start from ImageNet "
                        "weights (except the 3D-ConvNet), so scratch rows are expected to be lower."]
    if standin:
        caption += ["", "**Stand-in data:** rows marked `stand-in` were trained and tested on the built-in, "
                        "procedurally rendered stand-in datasets (few motion-defined classes, small clips, short "
                        "training on a CPU), not on the real datasets: compare them with chance and with each "
                        "other, not with the paper's numbers."]
    caption += _shortened(df) + _schedules(df)
    return "\n".join(caption) + "\n\n" + markdown_table(pivot) + "\n" + \
        "Tidy form (one row per architecture, dataset, split, stream, with test clip counts): `table2.csv`. " \
        "Model sizes and input lengths: `table1.md`.\n"


def write_table2(prediction_paths: Sequence[str | Path], prefix: str | Path) -> pd.DataFrame:
    """Write ``prefix.csv`` (tidy) and ``prefix.md`` (paper layout) from prediction files."""
    df = table2_rows(read_runs(prediction_paths))
    write_tables(df, table2_markdown(df), prefix)
    return df
