"""Which frames of a clip one forward pass sees: a :class:`Sampling` (the registry gives each model's) as indices.

The streams of one model share their start, so that a joint model's inputs line up in time (the fused
model's k-th RGB frame sits at the start of its k-th flow stack; flow frame j lies between RGB frames j
and j + 1, so a flow stream is one frame shorter). A clip shorter than a sample is looped, in training as
at test, so that every model sees its full input length (the paper's clips are long enough; stand-in
clips may not be).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Sampling:
    """How one stream's frames are taken from a 25 fps clip for one forward pass of the model.

    A *sample* is ``frames`` frames, every ``stride``-th frame of the stream (flow: flow fields), so it
    spans ``frames * stride`` frames of video; ``frames=0`` means the whole clip at that stride. In
    training, one sample at a random start (loop short clips). At test, ``samples`` samples whose starts
    are spread uniformly over the clip; the model runs on each (they can go through as one batch) and
    their logits are averaged; within a sample the model's own ``forward`` already does the paper's test
    behaviour (I3D: average over time; LSTM: last step). The streams of one model share the start, so
    e.g. the fused model's k-th RGB frame sits at the start of its k-th flow stack.

    ``stack``: the model folds groups of ``stack`` consecutive frames into channels (the 2D flow
    stream's 10 stacked flow frames), so ``frames`` is a multiple of it and a shortened sampling
    (:meth:`scaled`) keeps whole groups.
    """

    frames: int
    stride: int = 1
    samples: int = 1
    stack: int = 1

    def __post_init__(self) -> None:
        if self.frames % self.stack:
            raise ValueError(f"{self.frames} frames are not whole stacks of {self.stack}")

    @property
    def span(self) -> int:
        """Video frames one sample covers (0 for the whole clip)."""
        return self.frames * self.stride

    def scaled(self, scale: float) -> Sampling:
        """The same sampling with ``scale`` times the frames per sample (at least one stack; the whole
        clip stays the whole clip). Stride and test samples are kept, so streams that share a start
        stay aligned: every stream's count of stacks is scaled by the same rule."""
        if self.frames == 0 or scale == 1:
            return self
        stacks = max(1, math.floor(self.frames // self.stack * scale + 0.5))
        return replace(self, frames=stacks * self.stack)


def frame_indices(start: int, sampling: Sampling, length: int) -> np.ndarray:
    """The sample's frame indices from ``start``, looped over a clip of ``length`` frames.

    The whole clip (``frames == 0``) is every ``stride``-th frame from 0.
    """
    if length < 1:
        raise ValueError("a clip needs at least one frame")
    if sampling.frames == 0:
        return np.arange(0, length, sampling.stride)
    return (start + np.arange(sampling.frames) * sampling.stride) % length


def _room(lengths: Mapping[str, int], samplings: Mapping[str, Sampling]) -> int:
    """How far a shared start may move while every stream's sample stays inside its clip (0 if none fits)."""
    return max(0, min(lengths[s] - samplings[s].span for s in samplings))


def train_start(lengths: Mapping[str, int], samplings: Mapping[str, Sampling], rng: np.random.Generator) -> int:
    """One random shared start for a training sample (paper: a random window of the clip)."""
    return int(rng.integers(0, _room(lengths, samplings) + 1))


def eval_starts(lengths: Mapping[str, int], samplings: Mapping[str, Sampling]) -> np.ndarray:
    """The shared starts of the test samples, spread uniformly over the clip (one sample: centered).

    Every stream of a model has the same number of test samples (the registry's Table 1 footprints).
    """
    counts = {samplings[s].samples for s in samplings}
    if len(counts) != 1:
        raise ValueError(f"streams of one model need the same number of test samples, got {sorted(counts)}")
    samples, room = counts.pop(), _room(lengths, samplings)
    if samples == 1:
        return np.array([room // 2])
    return np.linspace(0, room, samples).round().astype(np.int64)


def eval_indices(lengths: Mapping[str, int], samplings: Mapping[str, Sampling]) -> dict[str, np.ndarray]:
    """Per stream, the test samples' frame indices, ``samples x frames`` (whole clip: ``1 x T``)."""
    starts = eval_starts(lengths, samplings)
    return {s: np.stack([frame_indices(int(t), samplings[s], lengths[s]) for t in starts]) for s in samplings}
