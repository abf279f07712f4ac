"""Frozen features of every clip, for the paper's "Fixed" protocol (§4): a linear probe on a network that
was trained on Kinetics and is not trained further (``probe.py``).

A clip's features are what the model's classifier sees at test, from predict's own code path
(:func:`~i3d.models.clip_outputs.clip_outputs`: the same sampling, center crop, whole-clip chunked I3D,
samples averaged, the LSTM's last step), so the probe replaces exactly the layer the network was trained
with. Every clip that any split of the manifest lists (train or test, in any of the splits) and that is in
the model's shards gets a row: the probe trains on one split's train clips and tests on its test clips,
reading the split membership from the manifest, which is therefore not stored here.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch

from ..data.annotations import SPLIT_COLUMNS
from ..data.loader import ClipSample, split_samples
from ..device import resolve_device
from .predict import (
    dataset_outputs,
    eval_sampling,
    load_model,
    model_attrs,
    test_dataset,
    write_clip_arrays,
)
from ..models.whole_clip import CHUNK_FRAMES


def extract_features(model_path: str | Path, manifest: str | Path, shards: Mapping[str, Sequence[str | Path]],
                     out_path: str | Path, *, crop_size: int, device: str = "auto", threads: int = 1,
                     progress: bool = True, chunk_frames: int = CHUNK_FRAMES) -> int:
    """Write ``out_path`` (clip_id, label, features) for every listed clip in the shards; returns their number.

    Arguments as :func:`~i3d.evaluate.predict.predict`'s. The attributes record the model (``model_path``,
    ``arch``, ``stream``, ``frames_scale``, ``input_size``, ``epochs``, ``model_classes``) and ``dim``.
    """
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    model, cfg = load_model(model_path, dev)
    sampling = eval_sampling(cfg)
    samples = listed_samples(pd.read_csv(manifest), {s: shards[s] for s in sampling})
    if not samples:
        raise RuntimeError(f"no clip of the manifest's splits is in the {'+'.join(sampling)} shards")
    dataset = test_dataset(shards, samples, sampling, cfg, crop_size)
    features, _ = dataset_outputs(model, dataset, dev, chunk_frames=chunk_frames, progress=progress,
                                  desc=f"features {cfg['arch']}-{cfg['stream']}")
    write_features(out_path, [s.clip_id for s in samples], np.array([s.label for s in samples], dtype=np.int64),
                   features, {**model_attrs(cfg, dataset.input_size), "model_path": str(model_path),
                              "model_classes": int(cfg["num_classes"]), "crop_size": crop_size})
    return len(samples)


def listed_samples(table: pd.DataFrame, shards: Mapping[str, Sequence[str | Path]]) -> list[ClipSample]:
    """The manifest's clips that some split lists as train or test, in manifest order, that are in every
    stream's shards (by ``split_samples``' rule, on a column that marks those clips)."""
    splits = [c for c in SPLIT_COLUMNS if c in table]
    listed = table[splits].isin(["train", "test"]).any(axis=1)
    return split_samples(table.assign(split0=np.where(listed, "listed", "none")), shards, 0, "listed")


def write_features(path: str | Path, clip_ids: Sequence[str], labels: np.ndarray, features: np.ndarray,
                   attrs: Mapping) -> None:
    """Atomic write of a features file; ``attrs`` gain ``dim``, the feature width."""
    write_clip_arrays(path, clip_ids, np.asarray(labels, dtype=np.int64),
                      {"features": np.asarray(features, dtype=np.float32)}, {**attrs, "dim": int(features.shape[1])})


def read_features(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray, dict]:
    """(clip ids, labels, N x D features, attributes) from a features file."""
    with h5py.File(path, "r", locking=False) as f:
        return [c.decode() for c in f["clip_id"][()]], f["label"][()], f["features"][()], dict(f.attrs)
