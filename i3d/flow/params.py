"""TV-L1 parameters shared by every backend: OpenCV's CPU ``DualTVL1OpticalFlow`` defaults.

Kept free of cv2 and torch so that both backends, the config and the CLI can name the same fields.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TVL1Params:
    """OpenCV CPU ``DualTVL1OpticalFlow_create()`` defaults, spelled out so shards record what made them.

    The same values as OpenCV's CUDA TV-L1 used by denseflow/dense_flow, except that the CPU version splits the
    300 iterations per warp into ``outer_iterations`` × ``inner_iterations`` and median-filters the flow at the
    start of every outer iteration.
    """

    tau: float = 0.25  #: time step of the dual (Chambolle) update; must be <= 0.25 for stability
    lambda_: float = 0.15  #: weight of the data term (smaller = smoother flow)
    theta: float = 0.3  #: coupling between the flow u and its auxiliary copy v
    nscales: int = 5  #: pyramid levels (coarsest is scale_step**4 = 0.41× at the default: ~6 px capture range)
    warps: int = 5  #: re-linearisations of the image around the current flow per level
    epsilon: float = 0.01  #: stop a warp when the RMS flow update falls to this many px
    inner_iterations: int = 30  #: iterations between median filterings
    outer_iterations: int = 10  #: median filterings per warp (so at most 300 iterations per warp)
    scale_step: float = 0.8  #: size ratio between consecutive pyramid levels
    gamma: float = 0.0  #: weight of the illumination-change term (0 = off)
    median_filtering: int = 5  #: median filter aperture applied to the flow (1 = off)
    use_initial_flow: bool = False  #: start from a given flow; never used here (each pair starts from zero)

    def __post_init__(self) -> None:
        checks = {"tau": self.tau > 0, "theta": self.theta > 0, "lambda_": self.lambda_ >= 0,
                  "nscales": self.nscales >= 1, "warps": self.warps >= 1, "epsilon": self.epsilon >= 0,
                  "inner_iterations": self.inner_iterations >= 1, "outer_iterations": self.outer_iterations >= 1,
                  "scale_step": 0 < self.scale_step < 1, "median_filtering": self.median_filtering in (0, 1, 3, 5)}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"invalid TV-L1 parameter {name}={getattr(self, name)!r}")
