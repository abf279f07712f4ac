"""TV-L1 optical flow in PyTorch, batched, equal to OpenCV-contrib's CPU ``DualTVL1OpticalFlow`` (5.0).

The algorithm is OpenCV's, step for step (``tvl1flow.cpp``: ``calc`` and ``procOneScale``): a pyramid of
bilinear 0.8× levels without pre-blur; per level, ``warps`` re-linearisations around the current flow with a
bicubic warp; per warp up to ``outer_iterations`` × ``inner_iterations`` iterations of (soft threshold, primal
update, dual update), with a median filter of the flow at the start of every outer iteration; a warp stops when
the squared flow update summed over the level falls to ``epsilon² · W·H`` (checked after every iteration).

Batching: all pairs of a batch run in lock-step (every warp starts at iteration 0, so the median schedule stays
aligned) and each pair is frozen, exactly as OpenCV stops it, once *its* update is small enough. A batched result
is therefore the result of that pair computed alone. Batches are cut into chunks that fit the memory of the
device (:func:`max_pairs_per_chunk`).

Two implementations of the per-warp work (linearisation and iterations) share everything else: fused Triton
kernels on CUDA (:mod:`i3d.flow.tvl1_triton`; converged pairs skipped inside the kernels) and plain PyTorch ops
elsewhere (also the fallback when Triton is missing or ``gamma`` is non-zero: :func:`plain_ops_reasons`, which
the flow stage logs and the ``triton`` flow backend refuses).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

import torch

from . import tvl1_ops as ops
from .params import TVL1Params

#: float32 planes of H×W a pair needs at once (pyramids, warped images, flow, dual variables, temporaries):
#: 67 measured on an H200 with the PyTorch-ops warp (23.9 GB peak for 1024 pairs of 340×256), rounded up.
PLANES_PER_PAIR = 72
#: Host memory for one chunk of pairs. Larger batches do not help the CPU: 340×256 pairs/s on 2 threads were
#: 1.0–1.26 for batches of 2 to 32 and 0.73 for 64, which no longer fits the caches (10 pairs of 340×256).
CPU_CHUNK_BYTES = 256 << 20


def tvl1(prev: torch.Tensor, nxt: torch.Tensor, stats: dict | None = None, **params) -> torch.Tensor:
    """Flow from ``prev`` to ``nxt``: ``N×H×W`` grayscale (uint8, or float32 in 0..255) -> ``N×2×H×W`` (x, y).

    ``params`` are OpenCV's names and defaults (see :class:`~i3d.flow.params.TVL1Params`): ``tau=0.25,
    lambda_=0.15, theta=0.3, nscales=5, warps=5, epsilon=0.01, inner_iterations=30, outer_iterations=10,
    scale_step=0.8, gamma=0.0, median_filtering=5``. The result is on the inputs' device.
    If ``stats`` is a dict, it receives ``pixel_iterations``: iterations actually run, summed over pairs and
    weighted by the pixels of their level (what the memory traffic is proportional to; benchmarks use it).
    """
    p = TVL1Params(**params)
    if p.use_initial_flow:
        raise ValueError("use_initial_flow is not supported: every pair starts from zero flow")
    if prev.shape != nxt.shape or prev.dim() != 3:
        raise ValueError(f"expected two N×H×W tensors of one shape, got {tuple(prev.shape)} and {tuple(nxt.shape)}")
    if prev.shape[-1] < 3 or prev.shape[-2] < 3:
        raise ValueError(f"frames must be at least 3×3 pixels, got {tuple(prev.shape[-2:])}")
    n, h, w = prev.shape
    out = torch.empty((n, 2, h, w), dtype=torch.float32, device=prev.device)
    step = max_pairs_per_chunk(h, w, prev.device)
    for start in range(0, n, step):
        sl = slice(start, start + step)
        stepper = _stepper(prev.device, p, count=stats is not None)
        out[sl] = _solve(prev[sl].float(), nxt[sl].float(), p, stepper)
        if stats is not None:
            stats["pixel_iterations"] = stats.get("pixel_iterations", 0) + int(stepper.pixel_iterations)
    return out


def max_pairs_per_chunk(h: int, w: int, device: torch.device) -> int:
    """Pairs of H×W that fit in half the free memory of a CUDA device, or in ``CPU_CHUNK_BYTES`` of host memory."""
    budget = CPU_CHUNK_BYTES
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = free // 2
    return max(1, budget // (PLANES_PER_PAIR * 4 * h * w))


@dataclass
class _Level:
    """One pyramid level of a batch, linearised around the flow of the current warp.

    The tensors keep their storage for the whole level (warps refill them in place), so a stepper may keep
    state that refers to them in ``cache`` (the CUDA graphs of :mod:`i3d.flow.tvl1_triton`).
    """

    ix: torch.Tensor  # I1x warped by the flow (N×H×W)
    iy: torch.Tensor
    grad: torch.Tensor  # ix² + iy² (read by the PyTorch iteration; the Triton kernels recompute it)
    rho_c: torch.Tensor  # I1w - ix·u1 - iy·u2 - I0
    u: torch.Tensor  # N×C×H×W flow (C = 2, or 3 with the illumination term)
    p: torch.Tensor  # N×C×2×H×W dual variables, reset once per level
    cache: dict = field(default_factory=dict)


def _solve(i0: torch.Tensor, i1: torch.Tensor, p: TVL1Params, stepper) -> torch.Tensor:
    """The coarse-to-fine loop of ``OpticalFlowDual_TVL1::calc`` for one chunk."""
    n, h, w = i0.shape
    sizes = ops.pyramid_sizes(h, w, p.nscales, p.scale_step)
    down = (1.0 / p.scale_step, 1.0 / p.scale_step)
    i0s, i1s = [i0], [i1]
    for size in sizes[1:]:
        i0s.append(ops.resize_linear(i0s[-1], size, down))
        i1s.append(ops.resize_linear(i1s[-1], size, down))
    channels = 3 if p.gamma != 0 else 2
    u = torch.zeros((n, channels, *sizes[-1]), dtype=torch.float32, device=i0.device)
    for s in range(len(sizes) - 1, -1, -1):
        u = _solve_level(i0s[s], i1s[s], u, p, stepper)
        if s > 0:
            u = ops.resize_linear(u, sizes[s - 1])
            u[:, :2] *= 1.0 / p.scale_step  # the illumination term u3 is not a displacement: not scaled
    return u[:, :2]


def _solve_level(i0: torch.Tensor, i1: torch.Tensor, u: torch.Tensor, p: TVL1Params, stepper) -> torch.Tensor:
    """``procOneScale``: ``warps`` linearisations, each iterated until every pair converged (or 300 iterations)."""
    n, h, w = i0.shape
    i1x, i1y = ops.centered_gradient(i1)
    images = torch.stack((i1, i1x, i1y), dim=1)
    planes = torch.empty((4, n, h, w), dtype=torch.float32, device=i0.device)
    dual = torch.zeros((n, u.shape[1], 2, h, w), dtype=torch.float32, device=i0.device)
    level = _Level(*planes.unbind(0), u=u.contiguous(), p=dual)
    scaled_eps = torch.tensor(p.epsilon * p.epsilon * h * w, dtype=torch.float32).item()  # float, as OpenCV
    for _ in range(p.warps):
        stepper.linearise(level, images, i0)
        stepper.run_warp(level, scaled_eps)
    return level.u


def plain_ops_reasons(device: torch.device, p: TVL1Params) -> list[str]:
    """Why :func:`tvl1` on ``device`` with ``p`` runs plain PyTorch ops rather than the fused Triton kernels
    (none: it runs the kernels); what the flow stage logs and the ``triton`` flow backend insists on."""
    from . import tvl1_triton
    reasons = []
    if not tvl1_triton.available():
        reasons.append("Triton is not importable (it ships with PyTorch's CUDA wheels)")
    if device.type != "cuda":
        reasons.append(f"the device is {device}, not CUDA")
    if p.gamma != 0:
        reasons.append(f"gamma = {p.gamma:g}, and the Triton kernels implement gamma = 0 only")
    return reasons


def _stepper(device: torch.device, p: TVL1Params, count: bool = False):
    """The fused CUDA iteration when it applies, else the PyTorch one; ``count`` pixel-iterations."""
    if device.type == "cuda" and not plain_ops_reasons(device, p):
        from . import tvl1_triton
        return tvl1_triton.TritonStepper(p, device, count)
    return TorchStepper(p, count)


class TorchStepper:
    """TV-L1 iterations in PyTorch ops; converged pairs are left out of the computation.

    ``I3D_TVL1_COMPILE=1`` runs the iteration through ``torch.compile`` (see :func:`compiled_primal_dual_step`):
    worth it for a flow stage on the CPU, not for a few pairs.
    """

    def __init__(self, p: TVL1Params, count: bool = False) -> None:
        self.count = count
        self.pixel_iterations = 0
        self.l_t = p.lambda_ * p.theta
        self.taut = p.tau / p.theta
        self.theta = p.theta
        self.gamma = p.gamma
        self.median_size = p.median_filtering
        self.inner = p.inner_iterations
        self.total = p.inner_iterations * p.outer_iterations
        wants_compile = os.environ.get("I3D_TVL1_COMPILE", "0") == "1"
        self._step = compiled_primal_dual_step() if wants_compile else primal_dual_step

    def linearise(self, level: _Level, images: torch.Tensor, i0: torch.Tensor) -> None:
        """Warp I1 and its gradients by the level's flow and refresh the linearised data term."""
        ops.linearise_torch(level, images, i0)

    def run_warp(self, level: _Level, scaled_eps: float) -> None:
        """Iterate until every pair's update is small enough (or ``outer × inner`` iterations)."""
        n, _, h, w = level.u.shape
        active = torch.ones(n, dtype=torch.bool, device=level.u.device)
        for it in range(self.total):
            if it % self.inner == 0 and self.median_size > 1:
                self.median(level, active, self.median_size)
            if self.count:
                self.pixel_iterations += int(active.sum()) * h * w
            active &= self.iterate(level, active) > scaled_eps
            if not bool(active.any()):
                break

    def median(self, level: _Level, active: torch.Tensor, ksize: int) -> None:
        """Median-filter u1, u2 of the pairs still iterating (u3, if any, is not filtered)."""
        idx = active.nonzero().squeeze(1)
        if len(idx):
            level.u[idx, :2] = ops.median_blur(level.u[idx, :2], ksize)

    def iterate(self, level: _Level, active: torch.Tensor) -> torch.Tensor:
        """Threshold, primal and dual update of the active pairs; returns each pair's Σ|Δu|² (0 if frozen)."""
        idx = active.nonzero().squeeze(1)
        err = torch.zeros(active.shape, dtype=torch.float32, device=active.device)
        if len(idx) == 0:
            return err
        every = len(idx) == len(active)
        take = (lambda t: t) if every else (lambda t: t.index_select(0, idx))
        new_u, new_p, err_sub = self._step(take(level.u), take(level.p), take(level.ix), take(level.iy),
                                           take(level.grad), take(level.rho_c), self.l_t, self.theta, self.taut,
                                           self.gamma)
        if every:
            level.u, level.p = new_u, new_p
            return err_sub
        level.u = level.u.index_copy(0, idx, new_u)
        level.p = level.p.index_copy(0, idx, new_p)
        return err.index_copy(0, idx, err_sub)


def primal_dual_step(u: torch.Tensor, dual: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor, grad: torch.Tensor,
                     rho_c: torch.Tensor, l_t: float, theta: float, taut: float,
                     gamma: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One iteration (``estimateV``, ``divergence``, ``estimateU``, ``forwardGradient``, ``estimateDualVariables``)
    of pairs that all iterate: returns the new flow, the new dual variables and each pair's Σ|Δu|²."""
    rho = rho_c + (ix * u[:, 0] + iy * u[:, 1])
    if gamma != 0:
        rho = rho + gamma * u[:, 2]
    coef = ops.threshold_step(rho, grad, l_t)
    d = [coef * ix, coef * iy] + ([coef * gamma] if gamma != 0 else [])
    new_u = (u + torch.stack(d, dim=1)) + theta * ops.divergence(dual[:, :, 0], dual[:, :, 1])
    err = (new_u - u).square().sum(dim=(1, 2, 3))
    gx, gy = ops.forward_gradient(new_u)
    norm = 1.0 + taut * torch.hypot(gx, gy)
    new_p = torch.stack(((dual[:, :, 0] + taut * gx) / norm, (dual[:, :, 1] + taut * gy) / norm), dim=2)
    return new_u, new_p, err


@functools.cache
def compiled_primal_dual_step():
    """:func:`primal_dual_step` through ``torch.compile`` (one fused C++/OpenMP loop nest instead of ~40 passes
    over memory: ~4× faster per iteration on the CPU, after a compile of ~10-50 s per process, cached on disk)."""
    return torch.compile(primal_dual_step, dynamic=True)
