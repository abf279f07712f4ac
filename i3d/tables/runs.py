"""Prediction files as table rows: what produced each file (its attributes), its accuracies, and RGB+Flow.

The attributes a predictions file carries (``i3d.evaluate.predict.write_predictions``) are the contract
between the workflow and the tables:

- ``arch``, ``stream``, ``split``, ``dataset``: the model and the test clips (required);
- ``init``: ``scratch`` or ``imagenet`` (required). For ``fixed`` and ``fullft`` it is the initialisation of
  the *Kinetics* model the features or weights came from: ``imagenet`` = ImageNet→Kinetics, ``scratch`` =
  Kinetics only;
- ``data``: ``stand-in`` or ``real`` (required): ``stand-in`` when anything the model learnt from (the Kinetics
  it was pre-trained on and its ImageNet start included) was a procedurally rendered stand-in;
- ``protocol`` (optional, default ``original``): ``original`` = trained on ``dataset`` itself; ``fixed`` = a
  softmax probe on frozen Kinetics features; ``fullft`` = fine-tuned end to end from Kinetics;
- ``imagenet_source`` (optional, only read when ``init`` is ``imagenet``; default ``torchvision``):
  ``torchvision`` = torchvision's ImageNet GoogLeNet, ``stand-in`` = the offline ImageNet stand-in, ``released`` =
  the ImageNet start inside released Kinetics weights;
- ``kinetics_source`` (optional, default ``trained``): ``released`` when the model's weights are, or were
  fine-tuned from, released Kinetics weights (``i3d weights import``; for ``original`` on Kinetics the released
  model itself), ``trained`` when this run trained them;
- ``frames_scale``, ``input_size``, ``epochs``, ``listed_clips``, ``dropout``, ``val_fraction``, ``schedule``
  (optional): what the captions report;
- ``test_set`` (optional, default :func:`our_test_set`): the list the test clips come from, in the paper CSVs'
  words (Kinetics: ``held-out test`` or ``validation``).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ..evaluate.predict import read_predictions
from ..models.registry import JOINT_STREAM, get_spec

PROTOCOLS = ("original", "fixed", "fullft")
IMAGENET_SOURCES = ("torchvision", "stand-in", "released")
KINETICS_SOURCES = ("trained", "released")
NO_IMAGENET = "none"
"""``imagenet_source`` of a run that used no ImageNet weights."""
OUR_TEST_SETS = {"kinetics400": "validation"}
"""Where a file without a ``test_set`` attribute (written before it existed) was scored: Kinetics on its
validation list, which then played the test split (``i3d.data.annotations``)."""


@dataclass(frozen=True)
class Setting:
    """What two stream files must share for their logits to be fused into RGB+Flow."""

    arch: str
    dataset: str
    split: int
    init: str
    data: str  # "stand-in" or "real"
    protocol: str = "original"
    imagenet_source: str = NO_IMAGENET
    kinetics_source: str = "trained"


@dataclass(frozen=True)
class PredictionRun:
    """One predictions file and what produced it (read from its attributes)."""

    path: Path
    setting: Setting
    stream: str
    frames_scale: float = 1.0  # frames per sample relative to the paper's
    input_size: int = 0  # side of the model's input, pixels (0: not recorded)
    epochs: int = 0  # training epochs (0: not recorded)
    listed_clips: int = 0  # test clips the official split lists, decoded or not (0: not recorded)
    test_set: str = ""  # the list the test clips come from ("": our_test_set's default)
    dropout: float = math.nan  # training's dropout (NaN: not recorded)
    val_fraction: float = math.nan  # share of the training clips held out for validation (NaN: not recorded)
    schedule: str = ""  # training's rate schedule after the warm-up, cosine or plateau ("": not recorded)


def _choice(attrs: dict, key: str, allowed: Sequence[str], default: str, path: str | Path) -> str:
    """``attrs[key]`` (``default`` if absent); a value outside ``allowed`` is an error, not a silent default."""
    value = str(attrs.get(key, default))
    if value not in allowed:
        raise ValueError(f"{path}: attribute {key}={value!r}; expected one of {list(allowed)}")
    return value


def read_runs(paths: Iterable[str | Path]) -> list[PredictionRun]:
    """The runs behind prediction files, from their attributes (the contract in this module's docstring)."""
    runs = []
    for p in paths:
        with h5py.File(p, "r", locking=False) as f:
            a = dict(f.attrs)
        init = str(a["init"])
        source = _choice(a, "imagenet_source", IMAGENET_SOURCES, "torchvision", p) if init == "imagenet" \
            else NO_IMAGENET
        setting = Setting(str(a["arch"]), str(a["dataset"]), int(a["split"]), init, str(a["data"]),
                          _choice(a, "protocol", PROTOCOLS, "original", p), source,
                          _choice(a, "kinetics_source", KINETICS_SOURCES, "trained", p))
        runs.append(PredictionRun(Path(p), setting, str(a["stream"]), float(a.get("frames_scale", 1.0)),
                                  int(a.get("input_size", 0)), int(a.get("epochs", 0)),
                                   int(a.get("listed_clips", 0)), str(a.get("test_set", "")),
                                   float(a.get("dropout", math.nan)), float(a.get("val_fraction", math.nan)),
                                   str(a.get("schedule", ""))))
    return runs


def check_one_kinetics_source(runs: Sequence[PredictionRun], what: str) -> None:
    """ValueError when ``runs`` (a table's Kinetics-derived ones) mix released and trained Kinetics weights: their
    cells would land on the same rows of the paper's layout, one hiding the other."""
    sources = {run.setting.kinetics_source for run in runs}
    if len(sources) > 1:
        raise ValueError(f"{what} come from both released and trained Kinetics weights; a table takes one "
                         "(transfer.kinetics_source)")


def our_test_set(dataset: str, split: int | str) -> str:
    """The clips our accuracy on ``dataset``/``split`` is measured on, in the words of the paper CSVs."""
    return OUR_TEST_SETS.get(dataset, f"split {split} test")


def test_sets(ours: pd.DataFrame) -> Callable[[str, int | str], str]:
    """``(dataset, split) -> ``the clips ``ours`` (tidy rows with ``test_set``) was measured on there, else
    :func:`our_test_set`'s default: what a paper number without one of ours beside it is compared with."""
    known = {} if ours.empty or "test_set" not in ours else {
        (d, int(s)): t for d, s, t in ours[["dataset", "split", "test_set"]].dropna().itertuples(index=False)}
    return lambda dataset, split: known.get((dataset, int(split)), our_test_set(dataset, split))


def topk_accuracy(labels: np.ndarray, logits: np.ndarray, k: int = 1) -> float:
    """Percent of clips whose label is among the ``k`` highest logits (ties: the lower class first, as argmax)."""
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return float(100.0 * (top == labels[:, None]).any(axis=1).mean())


def _row(run: PredictionRun, stream: str, labels: np.ndarray, logits: np.ndarray) -> dict:
    """One tidy row: ``run``'s accuracies on ``stream`` (its own, or the streams it was fused with)."""
    s = run.setting
    return {"architecture": s.arch, "dataset": s.dataset, "split": s.split, "stream": stream, "init": s.init,
            "data": s.data, "test_clips": len(labels), "listed_clips": run.listed_clips,
            "num_classes": logits.shape[1], "top1": topk_accuracy(labels, logits), "frames_scale": run.frames_scale,
            "input_size": run.input_size, "epochs": run.epochs, "protocol": s.protocol,
            "imagenet_source": s.imagenet_source, "top5": topk_accuracy(labels, logits, 5),
            "test_set": run.test_set or our_test_set(s.dataset, s.split), "dropout": run.dropout,
            "val_fraction": run.val_fraction, "schedule": run.schedule, "kinetics_source": s.kinetics_source}


SCORE_COLUMNS = ["architecture", "dataset", "split", "stream", "init", "data", "test_clips", "listed_clips",
                 "num_classes", "top1", "frames_scale", "input_size", "epochs", "protocol", "imagenet_source", "top5",
                 "test_set", "dropout", "val_fraction", "schedule", "kinetics_source"]
"""The columns of :func:`scored_rows` (in Table 2's order, then the newer ones), also when there are no runs."""


def scored_rows(runs: Sequence[PredictionRun]) -> pd.DataFrame:
    """One row per run on its own stream, plus RGB+Flow per late-fusion architecture, top-1 and top-5 in %.

    RGB+Flow as the paper obtains it per architecture (``ArchSpec.fusion``): a late-fusion architecture's
    (I3D) averages the two separately trained streams' clip logits clip by clip (equal weights, as
    DeepMind's released evaluation adds the logits), over the clips both streams have, for RGB and Flow
    files of the same :class:`Setting`; a joint architecture's (Two-Stream, 3D-Fused) is its own network's
    predictions file.
    """
    loaded = [(run, *read_predictions(run.path)) for run in runs]
    by_key = {(run.setting, run.stream): (run, ids, labels, logits) for run, ids, labels, logits in loaded}
    rows = [_row(run, run.stream, labels, logits) for run, _, labels, logits in loaded]
    for (setting, stream), (run, ids, labels, logits) in by_key.items():
        flow = by_key.get((setting, "flow"))
        if stream != "rgb" or flow is None or get_spec(setting.arch).fusion != "late":
            continue
        flow_pos = {c: i for i, c in enumerate(flow[1])}
        keep = [i for i, c in enumerate(ids) if c in flow_pos]
        fused = (logits[keep] + flow[3][[flow_pos[ids[i]] for i in keep]]) / 2.0
        rows.append(_row(run, JOINT_STREAM, labels[keep], fused))
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)

