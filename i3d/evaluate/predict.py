"""Test-time predictions in each architecture's Table 1 test footprint, center crop (paper §3).

The architecture's test sampling decides what a clip's prediction is: I3D runs on the whole clip and
averages its logits over time; Two-Stream, 3D-Fused and the 3D-ConvNet run on samples spread over the
clip (25 frames / flow stacks, 5 fused snippets, 15 clips of 16 frames) whose logits are averaged; the
LSTM's output is its last step's. The samples go through as one batch (eval-mode BN: the same as one by
one). Frames per sample are scaled by the ``frames_scale`` the model was trained with. I3D's whole clip goes
through in overlapping chunks of ``chunk_frames`` frames when it is longer (``whole_clip``: the same logits,
bounded activation memory); the other architectures' samples are bounded in length already.

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
from ..data.loader import ClipDataset, split_samples
from ..data.sampling import model_sampling
from ..device import resolve_device
from ..models import build, get_spec
from ..models.inception import InceptionV1
from ..train.checkpoints import load
from .whole_clip import CHUNK_FRAMES, whole_clip_logits


def predict(model_path: str | Path, manifest: str | Path, shards: Mapping[str, Sequence[str | Path]], split: int,
            out_path: str | Path, *, crop_size: int, device: str = "auto", threads: int = 1,
            progress: bool = True, attrs: dict | None = None, chunk_frames: int = CHUNK_FRAMES) -> float:
    """Write ``out_path`` (clip_id, label, logits) and return top-1 accuracy in percent.

    ``shards`` maps each input stream of the model to its shard files; ``crop_size`` is the center crop
    for a 224-input architecture (others scaled). ``attrs`` (e.g. dataset, init, data) are stored in the
    file so the tables know what produced it; so is ``listed_clips``, the test clips the manifest's split
    lists (decoded or not), so that they can say how many dropped out. ``chunk_frames`` bounds the frames I3D
    sees in one pass.
    """
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    state = load(model_path, dev)
    cfg = state["config"]
    model = build(cfg["arch"], num_classes=cfg["num_classes"], stream=cfg["stream"], dropout=cfg["dropout"],
                  bn_momentum=cfg["bn_momentum"])
    model.load_state_dict(state["model"])
    model.to(dev).eval()

    sampling_scale = float(cfg.get("frames_scale", 1.0))  # checkpoints from before the scale are the paper's
    sampling = model_sampling(cfg["arch"], cfg["stream"], "test", sampling_scale)
    table = pd.read_csv(manifest)
    samples = split_samples(table, {s: shards[s] for s in sampling}, split, "test")
    if not samples:
        raise RuntimeError(f"no test clips for split {split} in the {'+'.join(sampling)} shards")
    dataset = ClipDataset(shards, samples, sampling, train=False, crop_size=crop_size,
                          input_size=get_spec(cfg["arch"]).crop_for(crop_size))
    logits = np.zeros((len(samples), cfg["num_classes"]), dtype=np.float32)
    with torch.inference_mode():
        for i in tqdm(range(len(dataset)), desc=f"predict {cfg['arch']}-{cfg['stream']}", unit="clip",
                      disable=not progress):
            inputs, _ = dataset[i]
            logits[i] = clip_logits(model, [x.to(dev) for x in inputs], chunk_frames).float().cpu().numpy()
    labels = np.array([s.label for s in samples], dtype=np.int64)
    write_predictions(out_path, [s.clip_id for s in samples], labels, logits,
                      dict(arch=cfg["arch"], stream=cfg["stream"], split=split, frames_scale=sampling_scale,
                           input_size=dataset.input_size, epochs=int(cfg["epochs"]),
                           listed_clips=int((table[f"split{split}"] == "test").sum()),
                           **(attrs or {})))
    return float(100.0 * (logits.argmax(1) == labels).mean())


def clip_logits(model: torch.nn.Module, inputs: Sequence[torch.Tensor],
                chunk_frames: int = CHUNK_FRAMES) -> torch.Tensor:
    """One clip's logits: the model on its test samples (S x C x T x H x W per input), averaged over S;
    I3D (one input, an inflated Inception-V1) in chunks of at most ``chunk_frames`` frames."""
    if len(inputs) == 1 and isinstance(model, InceptionV1) and model.inflated:
        return whole_clip_logits(model, inputs[0], chunk_frames).mean(dim=0)
    return model(*inputs).mean(dim=0)


def write_predictions(path: str | Path, clip_ids: Sequence[str], labels: np.ndarray, logits: np.ndarray,
                      attrs: dict) -> None:
    """Atomic write of a predictions file."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        width = max([len(c) for c in clip_ids] + [1])
        f.create_dataset("clip_id", data=np.array([c.encode() for c in clip_ids], dtype=f"S{width}"))
        f.create_dataset("label", data=labels)
        f.create_dataset("logits", data=logits)
        for k, v in attrs.items():
            f.attrs[k] = v


def read_predictions(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(clip ids, labels, logits) from a predictions file."""
    with h5py.File(path, "r", locking=False) as f:
        return [c.decode() for c in f["clip_id"][()]], f["label"][()], f["logits"][()]
