"""Test-time predictions in each architecture's Table 1 test footprint, center crop (paper §3).

The architecture's test sampling decides what a clip's prediction is: I3D runs on the whole clip and
averages its logits over time; Two-Stream, 3D-Fused and the 3D-ConvNet run on samples spread over the
clip (25 frames / flow stacks, 5 fused snippets, 15 clips of 16 frames) whose logits are averaged; the
LSTM's output is its last step's. The samples go through as one batch (eval-mode BN: the same as one by
one). Frames per sample are scaled by the ``frames_scale`` the model was trained with. I3D's whole clip goes
through in overlapping chunks of ``chunk_frames`` frames when it is longer (``whole_clip``: the same logits,
bounded activation memory); the other architectures' samples are bounded in length already.

One code path gives a clip's pre-classifier features and its logits (:func:`clip_outputs`), so that the
frozen-feature probe (``features.py``) sees exactly what the classifier sees: every model splits into
``features(*inputs)`` (per sample: I3D's and the 2D Inception-V1's pooled Mixed_5c averaged over time, the
LSTM's last output, C3D's fc7, 3D-Fused's pooled fusion, a ``TwoStream``'s two streams concatenated) and an
affine ``classifier``. A clip's features are the mean over its samples (I3D: over time) and its logits the
classifier on that mean, which is the mean of the samples' (per-time) logits, because the classifier is
affine and dropout is off at test (equal up to float rounding; tests/test_features_probe.py).

Writes one HDF5 file per trained model with every test clip's id, label and clip-level logits, so the
tables can fuse streams (RGB+Flow) per clip without rerunning any network.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..atomic import atomic_path
from ..data.annotations import scored_set
from ..data.loader import ClipDataset, model_input, split_samples
from ..device import resolve_device
from ..models import build, get_spec
from ..models.clip_outputs import clip_outputs
from ..models.registry import model_sampling
from ..models.whole_clip import CHUNK_FRAMES
from ..train.checkpoints import load
from .classes import check_classes, manifest_classes


def predict(model_path: str | Path, manifest: str | Path, shards: Mapping[str, Sequence[str | Path]], split: int,
            out_path: str | Path, *, crop_size: int, device: str = "auto", threads: int = 1,
            progress: bool = True, attrs: dict | None = None, chunk_frames: int = CHUNK_FRAMES) -> float:
    """Write ``out_path`` (clip_id, label, logits) and return top-1 accuracy in percent.

    ``shards`` maps each input stream of the model to its shard files; ``crop_size`` is the center crop
    for a 224-input architecture (others scaled). ``attrs`` (e.g. dataset, init, data) are stored in the
    file so the tables know what produced it; so is ``listed_clips``, the test clips the manifest's split
    lists (decoded or not), so that they can say how many dropped out, and ``test_set``, which list that is
(Kinetics: its test or its validation list, :func:`~i3d.data.annotations.scored_set`). ``chunk_frames`` bounds the frames I3D
    sees in one pass.
    """
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    model, cfg = load_model(model_path, dev)
    sampling = eval_sampling(cfg)
    table = pd.read_csv(manifest)
    if cfg["classes"] is not None:
        check_classes(cfg["classes"], manifest_classes(table), f"model {model_path}", f"manifest {manifest}")
    samples = split_samples(table, {s: shards[s] for s in sampling}, split, "test")
    if not samples:
        raise RuntimeError(f"no test clips for split {split} in the {'+'.join(sampling)} shards")
    dataset = test_dataset(shards, samples, sampling, cfg, crop_size)
    _, logits = dataset_outputs(model, dataset, dev, chunk_frames=chunk_frames, progress=progress,
                                desc=f"predict {cfg['arch']}-{cfg['stream']}")
    labels = np.array([s.label for s in samples], dtype=np.int64)
    write_predictions(out_path, [s.clip_id for s in samples], labels, logits,
                      dict(model_attrs(cfg, dataset.input_size), split=split,
                           listed_clips=int((table[f"split{split}"] == "test").sum()),
                           test_set=scored_set(str((attrs or {}).get("dataset", "")), table, split), **(attrs or {})))
    return float(100.0 * (logits.argmax(1) == labels).mean())


def load_model(model_path: str | Path, device: torch.device) -> tuple[torch.nn.Module, dict]:
    """The trained model of a ``model.pt`` in eval mode on ``device``, and its training config with two keys
    added: ``classes``, its class names in logit order when the file has them (imported released weights), else
    None; ``kinetics_source``, :func:`weights_source`."""
    state = load(model_path, device)
    cfg = {**state["config"], "classes": state.get("classes"), "kinetics_source": weights_source(state)}
    model = build(cfg["arch"], num_classes=cfg["num_classes"], stream=cfg["stream"], dropout=cfg["dropout"],
                  bn_momentum=cfg["bn_momentum"])
    model.load_state_dict(state["model"])
    return model.to(device).eval(), cfg


def weights_source(state: Mapping) -> str:
    """``released`` when a ``model.pt``'s weights are, or were fine-tuned from, released ones (``i3d weights
    import`` records a ``source``; fine-tuning keeps its starting model's under ``start``), else ``trained``."""
    while state is not None:
        if state.get("source") is not None:
            return "released"
        state = state.get("start")
    return "trained"


def eval_sampling(cfg: Mapping) -> dict:
    """Per input stream, the test sampling of the model trained with ``cfg``, frames scaled as in training
    (checkpoints from before the scale are the paper's)."""
    return model_sampling(cfg["arch"], cfg["stream"], "test", float(cfg.get("frames_scale", 1.0)))


def test_dataset(shards: Mapping[str, Sequence[str | Path]], samples: Sequence, sampling: Mapping,
                 cfg: Mapping, crop_size: int) -> ClipDataset:
    """The clips in the model's test footprint: center crop, the architecture's input size."""
    return ClipDataset(shards, samples, sampling, train=False, crop_size=crop_size,
                       input_size=get_spec(cfg["arch"]).crop_for(crop_size))


MODEL_ATTRS = ("arch", "stream", "frames_scale", "input_size", "epochs", "dropout", "val_fraction", "schedule",
               "kinetics_source")
"""The keys of :func:`model_attrs`, which a file made from another's (a probe's, from features) carries on."""


def model_attrs(cfg: Mapping, input_size: int) -> dict:
    """What the tables need to know of the model behind an output file: its inputs, the training settings
    their captions state where they differ from the paper's, and whether its weights are released ones."""
    return {"arch": cfg["arch"], "stream": cfg["stream"], "frames_scale": float(cfg.get("frames_scale", 1.0)),
            "input_size": input_size, "epochs": int(cfg["epochs"]), "dropout": float(cfg["dropout"]),
            "val_fraction": float(cfg.get("val_fraction", 0.0)), "schedule": str(cfg.get("schedule", "cosine")),
            "kinetics_source": str(cfg.get("kinetics_source", "trained"))}


def dataset_outputs(model: torch.nn.Module, dataset: ClipDataset, device: torch.device, *,
                    chunk_frames: int = CHUNK_FRAMES, progress: bool = True,
                    desc: str = "clips") -> tuple[np.ndarray, np.ndarray]:
    """Every clip's (features, logits) in ``dataset``'s order, float32 (see :func:`clip_outputs`)."""
    features, logits = [], []
    with torch.inference_mode():
        for i in tqdm(range(len(dataset)), desc=desc, unit="clip", disable=not progress):
            inputs, _ = dataset[i]
            f, z = clip_outputs(model, [model_input(x, device) for x in inputs], chunk_frames)
            features.append(f.float().cpu().numpy())
            logits.append(z.float().cpu().numpy())
    return np.stack(features), np.stack(logits)


def write_predictions(path: str | Path, clip_ids: Sequence[str], labels: np.ndarray, logits: np.ndarray,
                      attrs: dict) -> None:
    """Atomic write of a predictions file."""
    write_clip_arrays(path, clip_ids, labels, {"logits": logits}, attrs)


def write_clip_arrays(path: str | Path, clip_ids: Sequence[str], labels: np.ndarray,
                      arrays: Mapping[str, np.ndarray], attrs: Mapping) -> None:
    """Atomic write of an HDF5 file of per-clip rows: ``clip_id`` (bytes), ``label``, each of ``arrays``."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        width = max([len(c) for c in clip_ids] + [1])
        f.create_dataset("clip_id", data=np.array([c.encode() for c in clip_ids], dtype=f"S{width}"))
        f.create_dataset("label", data=labels)
        for name, data in arrays.items():
            f.create_dataset(name, data=data)
        for k, v in attrs.items():
            f.attrs[k] = v


def read_predictions(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(clip ids, labels, logits) from a predictions file."""
    with h5py.File(path, "r", locking=False) as f:
        return [c.decode() for c in f["clip_id"][()]], f["label"][()], f["logits"][()]
