"""Bound-20 uint8 flow encoding used by I3D and the usual action-recognition pipelines.

DeepMind (kinetics-i3d#24): "we truncate large motions at +/- 20 pixels along each dimension and then quantize
values to 256 buckets using a linear map from [-20, 20] to [0, 255]". Exactly, with ``b = bound``:

    q = round(255 · (clip(f, -b, b) + b) / (2b))        (round half to even, like denseflow's cvRound)
    f' = q · 2b / 255 - b                                (the linear map's inverse)

One step is 2b/255 = 0.157 px at b = 20, so in-range values come back within half a step (0.078 px). Zero motion
is not representable: it lands on q = 128, i.e. +0.078 px. The network sees ``f' / b`` in [-1, 1]
("Pixel values are truncated to the range [-20, 20], then rescaled between -1 and 1", I3D README): the loader's
``model_input`` maps every stored uint8 (pixels and flow alike) linearly onto [-1, 1], which is exactly that.
"""
from __future__ import annotations

import numpy as np

BOUND = 20.0
LEVELS = 256


def quantize(flow: np.ndarray, bound: float = BOUND) -> np.ndarray:
    """Float flow (px) -> uint8, truncating motions beyond ±``bound``."""
    scale = (LEVELS - 1) / (2.0 * bound)
    q = np.rint((np.clip(flow, -bound, bound) + bound) * scale)
    return q.astype(np.uint8)


def dequantize(q: np.ndarray, bound: float = BOUND) -> np.ndarray:
    """uint8 -> float32 flow in px (bucket centres of :func:`quantize`)."""
    return (q.astype(np.float32) * np.float32(2.0 * bound / (LEVELS - 1)) - np.float32(bound)).astype(np.float32)

