"""Flow backend interface and registry.

The flow stage only needs "frames in, flow out"; which implementation runs (OpenCV CPU now, the project's batched
PyTorch TV-L1 later) is a name in the config. ``"auto"`` picks the first available entry of :data:`_BACKENDS`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import cv2
import numpy as np


class FlowBackend(Protocol):
    """Computes dense optical flow between consecutive frames."""

    name: str

    def params(self) -> dict:
        """Everything that determines the flow (versions, algorithm parameters), JSON-serialisable."""
        ...

    def compute(self, frames: np.ndarray) -> np.ndarray:
        """T×H×W uint8 gray -> (T-1)×H×W×2 float32 flow (x, y) from frame t to t+1."""
        ...


@dataclass(frozen=True)
class _Entry:
    name: str
    available: Callable[[], bool]
    create: Callable[..., FlowBackend]


def _create_opencv(threads: int = 1, tvl1: dict | None = None) -> FlowBackend:
    from .opencv_backend import OpenCVTVL1, TVL1Params
    return OpenCVTVL1(TVL1Params(**(tvl1 or {})), threads=threads)


#: Backends, best first ("auto" takes the first available). Register the PyTorch TV-L1 here, ahead of OpenCV.
_BACKENDS: tuple[_Entry, ...] = (
    _Entry("opencv", lambda: hasattr(cv2, "optflow"), _create_opencv),
)


def available_backends() -> list[str]:
    """Names of the backends usable in this environment, best first."""
    return [e.name for e in _BACKENDS if e.available()]


def get_backend(name: str = "auto", **options) -> FlowBackend:
    """Instantiate a backend by name; ``options`` go to its constructor: ``threads``, and ``tvl1``, a dict of
    TV-L1 parameters that differ from OpenCV's defaults (names as in ``TVL1Params``)."""
    if name == "auto":
        usable = available_backends()
        if not usable:
            raise RuntimeError("no flow backend is available (is opencv-contrib installed?)")
        name = usable[0]
    for entry in _BACKENDS:
        if entry.name == name:
            if not entry.available():
                raise RuntimeError(f"flow backend {name!r} is not available in this environment")
            return entry.create(**options)
    allowed = ", ".join(["auto"] + [e.name for e in _BACKENDS])
    raise ValueError(f"unknown flow backend {name!r}; allowed: {allowed}")
