"""Which frames of a clip one forward pass sees: the registry's :class:`~i3d.models.registry.Sampling` as indices.

The streams of one model share their start, so that a joint model's inputs line up in time (the fused
model's k-th RGB frame sits at the start of its k-th flow stack; flow frame j lies between RGB frames j
and j + 1, so a flow stream is one frame shorter). A clip shorter than a sample is looped, in training as
at test, so that every model sees its full input length (the paper's clips are long enough; stand-in
clips may not be).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..models.registry import Sampling, get_spec


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


def model_sampling(arch: str, stream: str, phase: str, frames_scale: float = 1.0) -> dict[str, Sampling]:
    """Per input stream, in forward order, the sampling of ``arch``'s model for ``stream`` (``rgb``,
    ``flow`` or ``rgb+flow``) in ``phase`` (``train`` or ``test``), with ``frames_scale`` times the
    registry's frames per sample (the stand-in runs' shorter clips; 1 is the paper's)."""
    spec = get_spec(arch)
    table = {"train": spec.train, "test": spec.test}[phase]
    return {s: table[s].scaled(frames_scale) for s in spec.inputs(stream)}
