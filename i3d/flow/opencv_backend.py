"""OpenCV-contrib CPU TV-L1 (``cv2.optflow.DualTVL1OpticalFlow``): the reference flow for the project.

The OpenCV reference itself moves by ~0.01-0.02 px mean EPE between releases (``remap`` changed between 4.x and
5.0), so the version that produced a shard is recorded in its params and the tested version is pinned here.
"""
from __future__ import annotations

from dataclasses import asdict

import cv2
import numpy as np

from .params import TVL1Params

#: The opencv-contrib-python-headless release this backend was validated against (tests check ``cv2.__version__``).
OPENCV_VERSION = "5.0.0"


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

    def describe(self) -> str:
        """The backend and where it runs, for the flow job's log."""
        return f"{self.name}: OpenCV-contrib {cv2.__version__} DualTVL1OpticalFlow on the CPU, {self.threads} thread(s)"

    def compute(self, frames: np.ndarray) -> np.ndarray:
        """T×H×W uint8 gray -> (T-1)×H×W×2 float32 flow (x, y) from frame t to t+1."""
        if frames.ndim != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected T×H×W uint8 frames, got {frames.dtype} {frames.shape}")
        t, h, w = frames.shape
        out = np.empty((max(t - 1, 0), h, w, 2), dtype=np.float32)
        for i in range(t - 1):
            out[i] = self._algo.calc(frames[i], frames[i + 1], None)
        return out
