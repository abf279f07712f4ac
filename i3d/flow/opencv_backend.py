"""OpenCV-contrib CPU TV-L1 (``cv2.optflow.DualTVL1OpticalFlow``): the reference flow for the project.

The OpenCV reference itself moves by ~0.01-0.02 px mean EPE between releases (``remap`` changed between 4.x and
5.0), so the version that produced a shard is recorded in its params and the tested version is pinned here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

#: The opencv-contrib-python-headless release this backend was validated against (tests check ``cv2.__version__``).
OPENCV_VERSION = "5.0.0"


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


def create_tvl1(params: TVL1Params) -> cv2.optflow.DualTVL1OpticalFlow:
    """Build the OpenCV object through its setters (the factory's keywords are misspelled: ``innnerIterations``)."""
    algo = cv2.optflow.DualTVL1OpticalFlow_create()
    algo.setTau(params.tau)
    algo.setLambda(params.lambda_)
    algo.setTheta(params.theta)
    algo.setScalesNumber(params.nscales)
    algo.setWarpingsNumber(params.warps)
    algo.setEpsilon(params.epsilon)
    algo.setInnerIterations(params.inner_iterations)
    algo.setOuterIterations(params.outer_iterations)
    algo.setScaleStep(params.scale_step)
    algo.setGamma(params.gamma)
    algo.setMedianFiltering(params.median_filtering)
    algo.setUseInitialFlow(params.use_initial_flow)
    return algo


class OpenCVTVL1:
    """TV-L1 on the CPU, one frame pair at a time.

    ``threads`` calls ``cv2.setNumThreads``, which is process-wide: the flow stage runs one backend per process.
    """

    name = "opencv"

    def __init__(self, params: TVL1Params = TVL1Params(), threads: int = 1) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        cv2.setNumThreads(threads)
        self.tvl1 = params
        self.threads = threads
        self._algo = create_tvl1(params)

    def params(self) -> dict:
        """What to record in a flow shard to reproduce its flow."""
        return {"opencv_version": cv2.__version__, "tvl1": asdict(self.tvl1)}

    def compute(self, frames: np.ndarray) -> np.ndarray:
        """T×H×W uint8 gray -> (T-1)×H×W×2 float32 flow (x, y) from frame t to t+1."""
        if frames.ndim != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected T×H×W uint8 frames, got {frames.dtype} {frames.shape}")
        t, h, w = frames.shape
        out = np.empty((max(t - 1, 0), h, w, 2), dtype=np.float32)
        for i in range(t - 1):
            out[i] = self._algo.calc(frames[i], frames[i + 1], None)
        return out
