"""Test-time predictions: the whole clip, center crop, logits averaged over time (paper §3).

Writes one HDF5 file per trained model with every test clip's id, label and time-averaged logits, so the
tables can fuse streams (RGB+Flow) per clip without rerunning any network.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np
import torch
from tqdm import tqdm

from ..data.loader import ClipDataset, split_samples
from ..models import build
from ..train.checkpoints import load, resolve_device


def predict(model_path: str | Path, manifest: str | Path, shards: Sequence[str | Path], split: int,
            out_path: str | Path, *, crop_size: int, device: str = "auto", threads: int = 1,
            progress: bool = True, attrs: dict | None = None) -> float:
    """Write ``out_path`` (clip_id, label, logits) and return top-1 accuracy in percent.

    ``attrs`` (e.g. dataset, init, data) are stored in the file so the tables know what produced it.
    """
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    state = load(model_path, dev)
    cfg = state["config"]
    model = build(cfg["arch"], num_classes=cfg["num_classes"], stream=cfg["stream"], dropout=cfg["dropout"],
                  bn_momentum=cfg["bn_momentum"])
    model.load_state_dict(state["model"])
    model.to(dev).eval()

    samples = split_samples(manifest, shards, split, "test")
    if not samples:
        raise RuntimeError(f"no test clips for split {split} in {len(shards)} shard(s)")
    dataset = ClipDataset(shards, samples, cfg["stream"], train=False, num_frames=0, crop_size=crop_size)
    logits = np.zeros((len(samples), cfg["num_classes"]), dtype=np.float32)
    with torch.inference_mode():
        for i in tqdm(range(len(dataset)), desc=f"predict {cfg['arch']}-{cfg['stream']}", unit="clip",
                      disable=not progress):
            x, _ = dataset[i]
            logits[i] = model(x.unsqueeze(0).to(dev)).float().cpu().numpy()[0]
    labels = np.array([s.label for s in samples], dtype=np.int64)
    write_predictions(out_path, [s.clip_id for s in samples], labels, logits,
                      dict(arch=cfg["arch"], stream=cfg["stream"], split=split, **(attrs or {})))
    return float(100.0 * (logits.argmax(1) == labels).mean())


def write_predictions(path: str | Path, clip_ids: Sequence[str], labels: np.ndarray, logits: np.ndarray,
                      attrs: dict) -> None:
    """Atomic write of a predictions file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        width = max([len(c) for c in clip_ids] + [1])
        f.create_dataset("clip_id", data=np.array([c.encode() for c in clip_ids], dtype=f"S{width}"))
        f.create_dataset("label", data=labels)
        f.create_dataset("logits", data=logits)
        for k, v in attrs.items():
            f.attrs[k] = v
    os.replace(tmp, path)


def read_predictions(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(clip ids, labels, logits) from a predictions file."""
    with h5py.File(path, "r", locking=False) as f:
        return [c.decode() for c in f["clip_id"][()]], f["label"][()], f["logits"][()]
