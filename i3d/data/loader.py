"""Clip datasets over shards, with the paper's sampling and augmentation.

Which frames a model sees comes from its architecture's registry sampling (``i3d.data.sampling``): in
training one sample (e.g. I3D: 64 consecutive frames; LSTM: 25 frames, every 5th) at a random start,
looping a short clip; at test the architecture's test samples (the whole clip for I3D; 25 frames or flow
stacks spread over the clip for Two-Stream), which the predictor averages. The streams of a joint model
share the start, the crop and the flip.

Augmentation (paper §3 "Implementation details"): a random spatial crop and a random horizontal flip in
training (a flipped flow field also has its x component negated); a center crop at test. An
architecture with a smaller input than the crop (C3D: 112 where the others take 224) gets the crop
resized, which keeps the field of view (C3D's own recipe, resize to 128 then crop 112, covers the same
share of the frame as a 224 crop of 256). Pixels and quantized flow are rescaled to [-1, 1] on the model's device
(:func:`model_input`): the loader decodes each frame straight into its crop and hands uint8 on.
"""
from __future__ import annotations

import signal
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from .sampling import Sampling
from .sampling import eval_indices, frame_indices, train_start
from .shards import ShardReader, open_shards

STREAMS = ("rgb", "flow")


@dataclass(frozen=True)
class ClipSample:
    clip_id: str
    label: int


def crop_box(height: int, width: int, size: int, rng: np.random.Generator | None) -> tuple[int, int]:
    """Top-left corner of a ``size``×``size`` crop: random with ``rng``, else centered."""
    if height < size or width < size:
        raise ValueError(f"frames {height}x{width} are smaller than the crop {size}; lower crop_size")
    if rng is None:
        return (height - size) // 2, (width - size) // 2
    return int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(S×)T×H×W×C uint8 -> (S×)C×T×H×W uint8, a view: channels last in memory, as the models run (channels_last_3d).

    The loader hands uint8 on, a quarter of float32's bytes through the workers' queues and to the device;
    :func:`model_input` scales it there."""
    x = torch.from_numpy(np.ascontiguousarray(frames))
    return x.permute(0, 4, 1, 2, 3) if x.dim() == 5 else x.permute(3, 0, 1, 2)


def model_input(x: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """A loader's uint8 tensor on ``device`` as the network takes it: float32 in [-1, 1] (pixels and quantized flow
    alike, ``i3d.flow.quantize``), its memory layout kept."""
    return x.to(device, non_blocking=True).float().mul_(2.0 / 255.0).sub_(1.0)


def mirror_flow_x(frames: np.ndarray) -> np.ndarray:
    """Mirrored quantized flow (T×H×W×2) gets the sign of its x component changed (q -> 255 - q), in place."""
    np.subtract(255, frames[..., 0], out=frames[..., 0])
    return frames


def resize(frames: np.ndarray, size: int, stream: str) -> np.ndarray:
    """Square T×H×W×C uint8 frames resized to ``size``; a flow field's displacements scale with it."""
    if frames.shape[1] == size:
        return frames
    out = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])
    out = out.reshape(len(frames), size, size, frames.shape[3])
    if stream == "flow":  # q in [0, 255] codes [-bound, bound]: scale the displacement about q = 127.5
        out = np.clip(np.rint((out.astype(np.float32) - 127.5) * (size / frames.shape[1]) + 127.5), 0, 255)
        out = out.astype(np.uint8)
    return out


class ClipDataset(Dataset):
    """One model's input streams (``rgb``, ``flow`` or both, in ``sampling``'s order) from their shards.

    ``train=True``: an item is one augmented sample per stream, C×T×H×W. ``train=False``: the
    sampling's test samples, center crop, S×C×T×H×W per stream (use batch size 1: clip lengths differ).
    Tensors are uint8, channels last in memory (:func:`to_tensor`): :func:`model_input` makes the network's
    input of them on its device.
    Items are ``(inputs, label)`` with ``inputs`` a tuple with one tensor per stream, so that a training
    or test step is ``model(*inputs)``. ``crop_size`` is the crop taken from the frames; ``input_size``
    (default: the crop) is the side the model gets. A training item's key is ``(epoch, index)`` (a plain
    index is epoch 0): its augmentation is a function of (seed, epoch, index) alone, so it is the same in
    any DataLoader worker and for any number of workers (see :class:`EpochShuffle`).
    """

    def __init__(self, shards: Mapping[str, Sequence[str | Path]], samples: Sequence[ClipSample],
                 sampling: Mapping[str, Sampling], *, train: bool, crop_size: int, input_size: int | None = None,
                 seed: int = 0) -> None:
        unknown = set(sampling) - set(STREAMS)
        if unknown or not sampling:
            raise ValueError(f"streams must be among {STREAMS}, got {list(sampling)}")
        self.streams = tuple(sampling)
        self.readers: dict[str, dict[str, ShardReader]] = {s: open_shards(shards[s]) for s in self.streams}
        for stream, readers in self.readers.items():
            missing = [c.clip_id for c in samples if c.clip_id not in readers]
            if missing:
                raise KeyError(f"{len(missing)} clip(s) not in the {stream} shards, e.g. {missing[:3]}")
        self.samples = list(samples)
        self.sampling = dict(sampling)
        self.train = train
        self.crop_size, self.input_size, self.seed = crop_size, input_size or crop_size, seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[tuple[torch.Tensor, ...], int]:
        epoch, i = key if isinstance(key, tuple) else (0, key)
        sample = self.samples[i]
        clips = {s: self.readers[s][sample.clip_id].record(sample.clip_id) for s in self.streams}
        lengths = {s: c.num_frames for s, c in clips.items()}
        first = clips[self.streams[0]]
        rng = np.random.default_rng((self.seed, epoch, i)) if self.train else None
        if self.train:
            start = train_start(lengths, self.sampling, rng)
            indices = {s: frame_indices(start, self.sampling[s], lengths[s])[None] for s in self.streams}
        else:
            indices = eval_indices(lengths, self.sampling)
        top, left = crop_box(first.height, first.width, self.crop_size, rng)
        flip = self.train and rng.random() < 0.5
        inputs = []
        for stream in self.streams:
            idx = indices[stream]
            unique, inverse = np.unique(idx, return_inverse=True)  # overlapping test samples decode once
            frames = self.readers[stream][sample.clip_id].read(
                sample.clip_id, unique, box=(top, left, self.crop_size, self.crop_size), mirror=flip)
            frames = resize(frames, self.input_size, stream)
            if flip and stream == "flow":
                mirror_flow_x(frames)
            order = inverse.reshape(idx.shape)
            if self.train:  # one sample, read in order unless it loops a short clip
                order = order[0]
                inputs.append(to_tensor(frames if np.array_equal(order, np.arange(len(frames))) else frames[order]))
            else:
                inputs.append(to_tensor(frames[order]))
        return tuple(inputs), sample.label


class EpochShuffle(Sampler[tuple[int, int]]):
    """Shuffled ``(epoch, index)`` keys of one epoch, the order a pure function of (seed, epoch).

    The sampler runs in the main process and DataLoader workers (persistent ones above all) keep their
    own copy of the dataset, so the epoch must travel with each key: state set on the dataset never
    reaches the workers. Being a function of the epoch, the order also needs no saved state to resume.

    Data-parallel (``world_size`` > 1): every rank draws the same permutation, cut to a multiple of
    ``world_size``, and takes every ``world_size``-th key from position ``rank`` (disjoint shares, none
    repeated). Batch i of rank r are then positions r, r + W, ... of ``perm[i*W*B:(i+1)*W*B]``: together the
    ranks' batches i are batch i of one process with a batch W times larger (the same global order).
    """

    def __init__(self, size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside a world of {world_size}")
        self.size, self.seed, self.epoch, self.rank, self.world_size = size, seed, 0, rank, world_size
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """The next iteration is epoch ``epoch``'s keys, less this rank's first ``skip`` (the batches a resumed
        run already trained on)."""
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        return self.size // self.world_size - self.skip

    def __iter__(self) -> Iterator[tuple[int, int]]:
        share = self.size // self.world_size
        order = np.random.default_rng((self.seed, self.epoch)).permutation(self.size)
        order = order[:share * self.world_size][self.rank::self.world_size]
        return iter([(self.epoch, int(i)) for i in order[self.skip:]])


Item = tuple[tuple[torch.Tensor, ...], int]


def collate_clips(batch: Sequence[Item]) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Training items -> (one B×C×T×H×W uint8 tensor per stream, labels), their channels-last layout kept: the
    items' memory is stacked as it lies (PyTorch's default collate would transpose every clip into C×T×H×W order),
    straight into shared memory when in a worker, as the default does, so that the batch reaches the training
    process without another copy."""
    inputs, labels = zip(*batch)
    streams = []
    for items in zip(*inputs):
        lying = [x.permute(1, 2, 3, 0) for x in items]  # T×H×W×C, contiguous
        out = torch.empty((len(lying), *lying[0].shape), dtype=lying[0].dtype)
        if get_worker_info() is not None:
            out.share_memory_()
        streams.append(torch.stack(lying, out=out).permute(0, 4, 1, 2, 3))
    return tuple(streams), torch.tensor(labels)


def training_loader(dataset: ClipDataset, *, batch_size: int, workers: int, seed: int,
                    pin_memory: bool = False, rank: int = 0, world_size: int = 1) -> DataLoader:
    """Shuffled training batches (``loader.sampler.set_epoch(epoch)`` before each epoch); the last partial
    batch is dropped when there is more than one batch. The seeded generator only feeds the workers'
    torch seeds, so iterating leaves the global torch RNG (dropout) alone. ``rank`` of ``world_size``: this
    process's share (:class:`EpochShuffle`); ``batch_size`` is per process, and every rank gets as many batches.
    Batches are uint8 (:func:`collate_clips`)."""
    sampler = EpochShuffle(len(dataset), seed, rank, world_size)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_clips,
                      drop_last=len(sampler) > batch_size, num_workers=workers, persistent_workers=workers > 0,
                      generator=torch.Generator().manual_seed(seed), pin_memory=pin_memory,
                      worker_init_fn=ignore_sigterm)


def ignore_sigterm(worker_id: int) -> None:
    """Workers leave SIGTERM to the training process (SLURM signals every process of a job): it checkpoints
    and shuts them down, where a worker dead of the signal would fail the step being saved."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def split_samples(manifest: pd.DataFrame, shards: Mapping[str, Sequence[str | Path]], split: int,
                  subset: str) -> list[ClipSample]:
    """Clips of ``subset`` (``train`` or ``test``) in split ``split`` of the ``manifest`` table that made it
    into every stream's shards (the caller reads the manifest once: Kinetics' is ~40 MB).

    Clips that failed to decode are absent from the shards (their reason is in the shard's status CSV),
    and a clip of one frame has no flow, so they drop out here rather than failing the job.
    """
    chosen = manifest[manifest[f"split{split}"] == subset]
    present = set.intersection(*(set(open_shards(paths)) for paths in shards.values()))
    return [ClipSample(r.clip_id, int(r.label_index)) for r in chosen.itertuples() if r.clip_id in present]
