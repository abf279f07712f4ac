"""The project's PyTorch TV-L1 (:func:`i3d.flow.solver.tvl1`) behind the flow-backend interface.

A clip's T-1 frame pairs go to :func:`~i3d.flow.solver.tvl1` as one batch (it cuts batches to the device's memory
itself), so a long clip fills the GPU and a short one still runs in one call.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from ..device import resolve_device
from .params import TVL1Params
from .solver import tvl1


class TorchTVL1:
    """Batched TV-L1 on CUDA (fused Triton kernels) or on the CPU (PyTorch ops, ``threads`` intra-op threads)."""

    name = "torch"

    def __init__(self, params: TVL1Params | None = None, threads: int = 1, device: str = "auto") -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.tvl1 = params or TVL1Params()
        self.device = resolve_device(device)
        self.threads = threads
        if self.device.type == "cpu":
            torch.set_num_threads(threads)

    def params(self) -> dict:
        """What to record in a flow shard to reproduce its flow."""
        return {"torch_version": torch.__version__, "device": self.device.type, "tvl1": asdict(self.tvl1)}

    def compute(self, frames: np.ndarray) -> np.ndarray:
        """T×H×W uint8 gray -> (T-1)×H×W×2 float32 flow (x, y) from frame t to t+1."""
        if frames.ndim != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected T×H×W uint8 frames, got {frames.dtype} {frames.shape}")
        if len(frames) < 2:
            return np.empty((0, *frames.shape[1:], 2), dtype=np.float32)
        gray = torch.from_numpy(frames).to(self.device)
        kwargs = {k: v for k, v in asdict(self.tvl1).items() if k != "use_initial_flow"}
        flow = tvl1(gray[:-1], gray[1:], **kwargs)
        return flow.permute(0, 2, 3, 1).contiguous().cpu().numpy()
