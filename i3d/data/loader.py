"""Clip datasets over shards, with the paper's augmentation.

Training (paper §3 "Implementation details"): a random window of ``num_frames`` consecutive frames
(looping a short clip until it is long enough), a random spatial crop, and a random horizontal flip;
a flipped flow field also has its x component negated. Test: the whole clip, center crop.
Pixels and quantized flow are rescaled to [-1, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from .shards import ShardReader, open_shards

STREAMS = ("rgb", "flow")


@dataclass(frozen=True)
class ClipSample:
    clip_id: str
    label: int


def temporal_window(length: int, num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a random window of ``num_frames``; a clip shorter than that is looped."""
    if length >= num_frames:
        start = int(rng.integers(0, length - num_frames + 1))
        return np.arange(start, start + num_frames)
    return np.arange(num_frames) % length


def crop_box(height: int, width: int, size: int, rng: np.random.Generator | None) -> tuple[int, int]:
    """Top-left corner of a ``size``×``size`` crop: random with ``rng``, else centered."""
    if height < size or width < size:
        raise ValueError(f"frames {height}x{width} are smaller than the crop {size}; lower crop_size")
    if rng is None:
        return (height - size) // 2, (width - size) // 2
    return int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """T×H×W×C uint8 -> C×T×H×W float32 in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float()
    return x.mul_(2.0 / 255.0).sub_(1.0)


def flip_horizontal(frames: np.ndarray, stream: str) -> np.ndarray:
    """Mirror T×H×W×C frames; for quantized flow the x component changes sign (q -> 255 - q)."""
    flipped = frames[:, :, ::-1]
    if stream == "flow":
        flipped = flipped.copy()
        flipped[..., 0] = 255 - flipped[..., 0]
    return flipped


class ClipDataset(Dataset):
    """Clips of one stream (``rgb`` or ``flow``) from a set of shards.

    ``train=True`` samples a random augmented window per access; ``train=False`` returns the whole clip
    center-cropped (use batch size 1, since clip lengths differ).
    """

    def __init__(self, shard_paths: Sequence[str | Path], samples: Sequence[ClipSample], stream: str, *,
                 train: bool, num_frames: int, crop_size: int, seed: int = 0) -> None:
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
        self.readers: dict[str, ShardReader] = open_shards(shard_paths)
        missing = [s.clip_id for s in samples if s.clip_id not in self.readers]
        if missing:
            raise KeyError(f"{len(missing)} clip(s) not in the {stream} shards, e.g. {missing[:3]}")
        self.samples = list(samples)
        self.stream, self.train = stream, train
        self.num_frames, self.crop_size, self.seed = num_frames, crop_size, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Different (but reproducible) augmentation each epoch."""
        self.epoch = epoch

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        sample = self.samples[i]
        reader = self.readers[sample.clip_id]
        clip = reader.clips[reader.index[sample.clip_id]]
        if self.train:
            rng = np.random.default_rng((self.seed, self.epoch, i))
            frames = reader.read(sample.clip_id, temporal_window(clip.num_frames, self.num_frames, rng))
            top, left = crop_box(clip.height, clip.width, self.crop_size, rng)
            frames = frames[:, top:top + self.crop_size, left:left + self.crop_size]
            if rng.random() < 0.5:
                frames = flip_horizontal(frames, self.stream)
        else:
            frames = reader.read(sample.clip_id)
            top, left = crop_box(clip.height, clip.width, self.crop_size, None)
            frames = frames[:, top:top + self.crop_size, left:left + self.crop_size]
        return to_tensor(frames), sample.label


def split_samples(manifest_path: str | Path, shard_paths: Sequence[str | Path], split: int,
                  subset: str) -> list[ClipSample]:
    """Clips of ``subset`` (``train`` or ``test``) in split ``split`` that made it into the shards.

    Clips that failed to decode are absent from the shards (their reason is in the shard's status CSV),
    so they drop out here rather than failing the job.
    """
    manifest = pd.read_csv(manifest_path)
    chosen = manifest[manifest[f"split{split}"] == subset]
    present = set(open_shards(shard_paths))
    return [ClipSample(r.clip_id, int(r.label_index)) for r in chosen.itertuples() if r.clip_id in present]
