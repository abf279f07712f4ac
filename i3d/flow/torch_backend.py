"""The project's PyTorch TV-L1 (:func:`i3d.flow.solver.tvl1`) behind the flow-backend interface.

A clip's T-1 frame pairs go to :func:`~i3d.flow.solver.tvl1` as one batch (it cuts batches to the device's memory
itself), so a long clip fills the GPU and a short one still runs in one call; ``compute_pairs`` takes pairs of
several clips at once, which the flow stage uses to fill the GPU's batch with short clips.

On CUDA the solver runs fused Triton kernels where it can and plain PyTorch ops otherwise (Triton missing, or
``gamma`` non-zero: :func:`~i3d.flow.solver.plain_ops_reasons`), several times slower; the backend warns then, and
as ``triton`` (``require_triton``) it refuses to start instead.
"""
from __future__ import annotations

import logging
from dataclasses import asdict

import numpy as np
import torch

from ..device import resolve_device
from .params import TVL1Params
from .solver import plain_ops_reasons, tvl1

log = logging.getLogger(__name__)


class TorchTVL1:
    """Batched TV-L1 on CUDA (fused Triton kernels) or on the CPU (PyTorch ops, ``threads`` intra-op threads).

    ``require_triton``: the fused Triton kernels or nothing (the ``triton`` flow backend): RuntimeError where they
    cannot run, rather than a flow stage that is silently several times slower."""

    def __init__(self, params: TVL1Params | None = None, threads: int = 1, device: str = "auto",
                 require_triton: bool = False) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.name = "triton" if require_triton else "torch"
        self.tvl1 = params or TVL1Params()
        self.device = resolve_device(device)
        self.threads = threads
        self.plain_ops = plain_ops_reasons(self.device, self.tvl1)
        if require_triton and self.plain_ops:
            raise RuntimeError(f"flow backend 'triton' cannot run the fused Triton kernels: "
                               f"{'; '.join(self.plain_ops)}; flow.backend torch runs plain PyTorch ops instead")
        if self.device.type == "cuda" and self.plain_ops:
            log.warning("TV-L1 on %s runs as plain PyTorch ops, several times slower than the fused Triton kernels: "
                        "%s", self.device, "; ".join(self.plain_ops))
        if self.device.type == "cpu":
            torch.set_num_threads(threads)

    def describe(self) -> str:
        """The backend, its device and what runs there, for the flow job's log."""
        kernels = f"plain PyTorch ops ({'; '.join(self.plain_ops)})" if self.plain_ops else "fused Triton kernels"
        threads = f", {self.threads} thread(s)" if self.device.type == "cpu" else ""
        return f"{self.name}: the project's TV-L1 on {self.device}, {kernels}{threads}"

    def params(self) -> dict:
        """What to record in a flow shard to reproduce its flow."""
        return {"torch_version": torch.__version__, "device": self.device.type, "tvl1": asdict(self.tvl1)}

    def compute(self, frames: np.ndarray) -> np.ndarray:
        """T×H×W uint8 gray -> (T-1)×H×W×2 float32 flow (x, y) from frame t to t+1."""
        if frames.ndim != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected T×H×W uint8 frames, got {frames.dtype} {frames.shape}")
        if len(frames) < 2:
            return np.empty((0, *frames.shape[1:], 2), dtype=np.float32)
        return self.compute_pairs(frames[:-1], frames[1:])

    def compute_pairs(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """N×H×W uint8 gray frames -> N×H×W×2 float32 flow from ``first[i]`` to ``second[i]``: pairs of any clips in
        one solver batch (the flow stage packs short clips' pairs together); each pair's flow is the one it gets
        alone (the solver stops each pair on its own)."""
        if first.shape != second.shape or first.ndim != 3 or first.dtype != np.uint8 or second.dtype != np.uint8:
            raise ValueError(f"expected two N×H×W uint8 stacks, got {first.dtype} {first.shape} and "
                             f"{second.dtype} {second.shape}")
        prev, nxt = (torch.from_numpy(np.ascontiguousarray(f)).to(self.device) for f in (first, second))
        kwargs = {k: v for k, v in asdict(self.tvl1).items() if k != "use_initial_flow"}
        flow = tvl1(prev, nxt, **kwargs)
        return flow.permute(0, 2, 3, 1).contiguous().cpu().numpy()
