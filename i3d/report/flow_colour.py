"""Optical flow as colour, in the Middlebury coding (Baker et al., "A Database and Evaluation Methodology for
Optical Flow", IJCV 2011): the hue says the direction, the saturation the magnitude; no motion is white.

The wheel is the paper's: red, yellow, green, cyan, blue, magenta and back to red, with 15, 6, 4, 11, 13 and 6
steps between them (more steps where the eye tells hues apart more easily), interpolated linearly. Directions
are in image coordinates (y down), so going clockwise on screen from "right" the wheel runs
red (right) -> yellow (down) -> green -> cyan (left) -> blue (up) -> magenta -> red.
Magnitudes are divided by a scale (by default the largest in the field); beyond 1 the colour is darkened.
"""
from __future__ import annotations

import numpy as np

_KEYS = np.array([[255, 0, 0], [255, 255, 0], [0, 255, 0], [0, 255, 255], [0, 0, 255], [255, 0, 255]], float)
_STEPS = (15, 6, 4, 11, 13, 6)


def colour_wheel() -> np.ndarray:
    """The wheel's 55 colours (float RGB, 0-255), starting at red, each key colour followed by the steps
    towards the next one."""
    parts = [_KEYS[i] + np.arange(n)[:, None] / n * (_KEYS[(i + 1) % len(_KEYS)] - _KEYS[i])
             for i, n in enumerate(_STEPS)]
    return np.concatenate(parts)


def flow_to_colour(flow: np.ndarray, scale: float | None = None) -> np.ndarray:
    """H×W×2 flow (x, y in pixels, y down) -> H×W×3 uint8 RGB in the Middlebury coding.

    ``scale`` is the magnitude drawn fully saturated (default: the largest magnitude in ``flow``, at least a
    tiny epsilon so that zero flow stays white)."""
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    magnitude = np.hypot(u, v)
    scale = float(magnitude.max()) if scale is None else float(scale)
    radius = magnitude / max(scale, 1e-9)
    wheel = colour_wheel()
    position = (np.arctan2(v, u) / (2 * np.pi)) % 1.0 * len(wheel)  # 0 = right, clockwise on screen
    lo = np.floor(position).astype(int) % len(wheel)
    hi = (lo + 1) % len(wheel)
    frac = (position - np.floor(position))[..., None]
    hue = (1 - frac) * wheel[lo] + frac * wheel[hi]
    inside = (radius <= 1)[..., None]
    r = np.minimum(radius, 1)[..., None]
    colour = np.where(inside, 255 - r * (255 - hue), hue * 0.75)  # towards white as the motion gets smaller
    return np.clip(np.rint(colour), 0, 255).astype(np.uint8)


def wheel_legend(size: int = 64) -> np.ndarray:
    """A size×size RGB image of the coding: the colour of the flow from the centre to each pixel, white
    outside the unit circle."""
    y, x = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    image = flow_to_colour(np.stack([x, y], axis=-1), scale=1.0)
    image[np.hypot(x, y) > 1] = 255
    return image
