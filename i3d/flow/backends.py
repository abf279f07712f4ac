"""Flow backend interface and registry.

The flow stage only needs "frames in, flow out"; which implementation runs is a name in the config:
``torch`` (the project's batched TV-L1, CUDA or CPU), ``triton`` (the same on CUDA as fused Triton kernels,
refusing to start where they cannot run) or ``opencv`` (OpenCV-contrib's CPU reference). ``"auto"``
takes ``torch`` on CUDA and otherwise the faster CPU path as measured by ``benchmarks/flow.py``: OpenCV, which on
the 2-core dev machine is 1.4× faster per pair than the PyTorch ops at the stand-ins' 75×56 and as fast at
340×256 (the PyTorch ops under ``I3D_TVL1_COMPILE=1`` are 1.65× faster there, after a compile per process;
see benchmarks/RESULTS.md).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from .params import TVL1Params


class FlowBackend(Protocol):
    """Computes dense optical flow between consecutive frames."""

    name: str

    def params(self) -> dict:
        """Everything that determines the flow (versions, algorithm parameters), JSON-serialisable."""
        ...

    def compute(self, frames: np.ndarray) -> np.ndarray:
        """T×H×W uint8 gray -> (T-1)×H×W×2 float32 flow (x, y) from frame t to t+1."""
        ...

    def describe(self) -> str:
        """Which implementation runs where (device, kernels, threads): a line for the flow job's log."""
        ...


@dataclass(frozen=True)
class _Entry:
    name: str
    available: Callable[[], bool]
    create: Callable[..., FlowBackend]


def _create_opencv(threads: int = 1, tvl1: dict | None = None, device: str = "cpu") -> FlowBackend:
    from .opencv_backend import OpenCVTVL1
    if device not in ("auto", "cpu"):
        raise ValueError(f"the opencv flow backend runs on the CPU only, not on {device!r}")
    return OpenCVTVL1(TVL1Params(**(tvl1 or {})), threads=threads)


def _create_torch(threads: int = 1, tvl1: dict | None = None, device: str = "auto",
                  require_triton: bool = False) -> FlowBackend:
    from .torch_backend import TorchTVL1
    return TorchTVL1(TVL1Params(**(tvl1 or {})), threads=threads, device=device, require_triton=require_triton)


def _cuda_available() -> bool:
    from ..device import cuda_available
    return cuda_available()


#: Backends: "auto" takes the first available one, so the CUDA case of torch comes first.
_BACKENDS: tuple[_Entry, ...] = (
    _Entry("torch", lambda: True, _create_torch),
    _Entry("opencv", lambda: hasattr(cv2, "optflow"), _create_opencv),
    _Entry("triton", lambda: True, functools.partial(_create_torch, require_triton=True)),  # never "auto"'s pick
)


def auto_backend(device: str = "auto") -> str:
    """The backend ``auto`` means for ``device``: torch on CUDA, else OpenCV (faster on the CPU), else torch."""
    wants_cuda = device.startswith("cuda") or (device == "auto" and _cuda_available())
    if wants_cuda or not hasattr(cv2, "optflow"):
        return "torch"
    return "opencv"


def get_backend(name: str = "auto", **options) -> FlowBackend:
    """Instantiate a backend by name; ``options`` go to its constructor: ``threads``, ``device`` ("auto", "cpu",
    "cuda", ...), and ``tvl1``, a dict of TV-L1 parameters that differ from OpenCV's defaults (names as in
    ``TVL1Params``)."""
    if name == "auto":
        name = auto_backend(options.get("device", "auto"))
    for entry in _BACKENDS:
        if entry.name == name:
            if not entry.available():
                raise RuntimeError(f"flow backend {name!r} is not available in this environment")
            return entry.create(**options)
    allowed = ", ".join(["auto"] + [e.name for e in _BACKENDS])
    raise ValueError(f"unknown flow backend {name!r}; allowed: {allowed}")
