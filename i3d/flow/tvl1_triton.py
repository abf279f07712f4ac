"""TV-L1 on CUDA as fused Triton kernels: the warp's linearisation, the inner iteration, the median filter.

* ``_linearise_kernel`` (once per warp): I1, I1x, I1y sampled at x + u with OpenCV's bicubic (16 taps each, zero
  outside), and from them the constant part of the residual, in one pass. Done with PyTorch ops it
  was ~60% of the GPU time (H200 profile in benchmarks/RESULTS.md).
* An iteration is two kernels by default, because the dual update needs the *new* flow of the right and lower
  neighbours:
  ``_primal_kernel`` (soft threshold, divergence of the dual variables, flow update, and each block's share of
  the pair's Σ|Δu|², written per block and summed afterwards so the sum does not depend on the batch) and
  ``_dual_kernel`` (forward gradient of the new flow, dual update). ~84 bytes of memory traffic per pixel and
  iteration (|∇I1w|² is recomputed, not loaded), the design of OpenCV's own CUDA port, which with the stored
  |∇I1w|² (88 B) ran at 2.8 TB/s on an H200. ``_iteration_kernel`` (``I3D_TVL1_FUSED_ITERATION=1``) does both
  in one pass, recomputing the neighbours' new flow and writing to a second set of buffers: ~60 bytes per
  pixel. It is tested in Triton's interpreter, not yet timed on a GPU.
* ``_decide_kernel`` (after every iteration, one program per pair): OpenCV's stopping rule on the pair's summed
  update, and the count of iterations each pair ran.
* ``_median_kernel`` (at the start of every outer iteration): the 25 taps of the 5×5 neighbourhood are loaded
  as separate vectors and reduced by a pruned sorting network (:func:`median_network`) to their middle value.

Pairs that have converged are masked out inside the kernels (no loads, no stores), so a frozen pair costs only
its share of the launches. With ``I3D_TVL1_GRAPHS=1`` blocks of iterations are captured once per pyramid level in
CUDA graphs; at batch 256 on the H200 that was slower (capture cost) than plain launches, so it is off by default.
"""
from __future__ import annotations

import functools
import math
import os

import torch

from .params import TVL1Params

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only PyTorch wheels do not ship Triton
    triton = None

BLOCK = 1024
MEDIAN_BLOCK = 256  # pixels per program of the median kernel (two per thread, their taps in registers)
#: Memory traffic per pixel and iteration, float32: the primal kernel reads u, p, Ix, Iy, ρ and writes u (44 B),
#: the dual kernel reads u, p and writes p (40 B); the fused kernel reads and writes each once (60 B).
#: Neighbours' loads hit the cache. benchmarks/flow.py turns it into achieved GB/s.
ITERATION_BYTES = {"two-kernel": 84, "fused": 60}
#: Warps per program. Compiled for sm_90 (Triton 3.6), the fused iteration and warp kernels at Triton's default
#: of 4 warps (8 pixels per thread) hit 255 registers and spill 304 / 208 bytes per thread to local memory;
#: 16 warps hold them at ~110 registers, no spill, the budget of the primal kernel (128 at 4 warps) whose pair
#: with the dual kernel ran at 2.8 TB/s. tests/test_tvl1.py compiles every kernel for sm_90 and checks this.
NUM_WARPS = {"_primal_kernel": 4, "_dual_kernel": 4, "_iteration_kernel": 16, "_linearise_kernel": 16,
             "_median_kernel": 4, "_decide_kernel": 1}


@functools.cache
def median_network(taps: int) -> tuple[tuple[int, int], ...]:
    """Comparators (low, high) after which position ``taps // 2`` holds the median of ``taps`` values.

    Batcher's odd-even merge sort for the next power of two, less the comparators that touch the absent
    inputs (think of them as +inf: they never move) and those that cannot reach the middle output: 113
    comparators (226 min/max instructions) for a 5×5 median, against ~650 compare/select instructions of a
    32-lane sort. Exhaustively checked over all 0-1 inputs in tests/test_tvl1.py."""
    size = 1 << (taps - 1).bit_length()
    pairs = []
    p = 1
    while p < size:  # merge sorted runs of length p
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    live, needed = {taps // 2}, []
    for lo, hi in reversed([(lo, hi) for lo, hi in pairs if hi < taps]):
        if lo in live or hi in live:
            needed.append((lo, hi))
            live |= {lo, hi}
    return tuple(reversed(needed))


def available() -> bool:
    """Triton is importable (it comes with PyTorch's CUDA wheels)."""
    return triton is not None


if triton is not None:
    FLT_EPSILON = tl.constexpr(1.1920928955078125e-07)  # a jit kernel may read only constexpr globals

    @triton.jit
    def _updated_flow(u_ptr, p_ptr, ix_ptr, iy_ptr, rho_ptr, img, offs, x, y, m, H, W, l_t, theta):
        """The primal step at flat offsets ``offs`` of one pair (``img`` = pair · H·W): soft threshold,
        divergence of the dual variables, new flow. Returns the old (u1, u2) and the new (n1, n2).
        |∇I1w|² is recomputed from Ix, Iy (two multiply-adds) rather than loaded: 4 bytes less per pixel."""
        hw = H * W
        u1p = u_ptr + 2 * img + offs
        pp = p_ptr + 4 * img + offs  # p11, p12, p21, p22 planes
        u1 = tl.load(u1p, mask=m, other=0.0)
        u2 = tl.load(u1p + hw, mask=m, other=0.0)
        ix = tl.load(ix_ptr + img + offs, mask=m, other=0.0)
        iy = tl.load(iy_ptr + img + offs, mask=m, other=0.0)
        grad = ix * ix + iy * iy
        rho = tl.load(rho_ptr + img + offs, mask=m, other=0.0) + (ix * u1 + iy * u2)
        lg = l_t * grad
        textured = grad > FLT_EPSILON
        fi = tl.where(textured, -rho / tl.where(textured, grad, 1.0), 0.0)
        c = tl.where(rho < -lg, l_t, tl.where(rho > lg, -l_t, fi))
        left = m & (x > 0)
        up = m & (y > 0)
        p11 = tl.load(pp, mask=m, other=0.0)
        p12 = tl.load(pp + hw, mask=m, other=0.0)
        p21 = tl.load(pp + 2 * hw, mask=m, other=0.0)
        p22 = tl.load(pp + 3 * hw, mask=m, other=0.0)
        div1 = (p11 - tl.load(pp - 1, mask=left, other=0.0)) + (p12 - tl.load(pp + hw - W, mask=up, other=0.0))
        div2 = (p21 - tl.load(pp + 2 * hw - 1, mask=left, other=0.0)) + \
            (p22 - tl.load(pp + 3 * hw - W, mask=up, other=0.0))
        return u1, u2, (u1 + c * ix) + theta * div1, (u2 + c * iy) + theta * div2

    @triton.jit
    def _dual_update(p_in, p_out, hw, m, u1x, u1y, u2x, u2y, taut):
        """p ← (p + τ/θ ∇u) / (1 + τ/θ |∇u|), per flow component (``p_in``/``p_out`` point at the pixels)."""
        ng1 = 1.0 + taut * tl.sqrt(u1x * u1x + u1y * u1y)
        ng2 = 1.0 + taut * tl.sqrt(u2x * u2x + u2y * u2y)
        tl.store(p_out, (tl.load(p_in, mask=m, other=0.0) + taut * u1x) / ng1, mask=m)
        tl.store(p_out + hw, (tl.load(p_in + hw, mask=m, other=0.0) + taut * u1y) / ng1, mask=m)
        tl.store(p_out + 2 * hw, (tl.load(p_in + 2 * hw, mask=m, other=0.0) + taut * u2x) / ng2, mask=m)
        tl.store(p_out + 3 * hw, (tl.load(p_in + 3 * hw, mask=m, other=0.0) + taut * u2y) / ng2, mask=m)

    @triton.jit
    def _block_pixels(active_ptr, H, W, BLOCK: tl.constexpr):
        """This program's pixels: flat offsets into its pair's plane, which of them are inside the image, which
        are to be updated (inside, and the pair still iterating), and the pair's plane offset (pair · H·W)."""
        pair = tl.program_id(1)
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        inside = offs < H * W
        return offs, inside, inside & (tl.load(active_ptr + pair) != 0), pair.to(tl.int64) * (H * W)

    @triton.jit
    def _store_block_error(err_ptr, m, u1, u2, n1, n2):
        """This block's share of its pair's Σ|Δu|², at err[pair, block] (summed afterwards in a fixed order)."""
        d1 = n1 - u1
        d2 = n2 - u2
        tl.store(err_ptr + tl.program_id(1) * tl.num_programs(0) + tl.program_id(0),
                 tl.sum(tl.where(m, d1 * d1 + d2 * d2, 0.0)))

    @triton.jit
    def _decide_kernel(err_ptr, active_ptr, copy_ptr, iters_ptr, nblocks, eps, BLOCKS: tl.constexpr):
        """OpenCV's stopping rule after an iteration, one program per pair: the pair goes on while its Σ|Δu|²
        (its blocks' shares, summed in a fixed order) is above ``eps``. Also counts the iterations each pair ran
        and flags a pair that stops now (``copy``, for the fused iteration). One launch per iteration in place
        of the three to six small PyTorch ops this was: launches, not bytes, are what such steps cost.
        ``BLOCKS`` is the power of two at or above ``nblocks``, the shares per pair."""
        pair = tl.program_id(0)
        ran = tl.load(active_ptr + pair) != 0
        k = tl.arange(0, BLOCKS)
        total = tl.sum(tl.load(err_ptr + pair * nblocks + k, mask=k < nblocks, other=0.0))
        keep = ran & (total > eps)
        tl.store(active_ptr + pair, keep.to(tl.uint8))
        tl.store(copy_ptr + pair, (ran & (keep == 0)).to(tl.uint8))
        tl.store(iters_ptr + pair, tl.load(iters_ptr + pair) + ran.to(tl.int32))

    @triton.jit
    def _primal_kernel(u_ptr, p_ptr, ix_ptr, iy_ptr, rho_ptr, active_ptr, err_ptr,
                       H, W, l_t, theta, BLOCK: tl.constexpr):
        offs, _, m, img = _block_pixels(active_ptr, H, W, BLOCK)
        u1, u2, n1, n2 = _updated_flow(u_ptr, p_ptr, ix_ptr, iy_ptr, rho_ptr, img, offs, offs % W,
                                       offs // W, m, H, W, l_t, theta)
        _store_block_error(err_ptr, m, u1, u2, n1, n2)
        tl.store(u_ptr + 2 * img + offs, n1, mask=m)
        tl.store(u_ptr + 2 * img + H * W + offs, n2, mask=m)

    @triton.jit
    def _dual_kernel(u_ptr, p_ptr, active_ptr, H, W, taut, BLOCK: tl.constexpr):
        offs, _, m, img = _block_pixels(active_ptr, H, W, BLOCK)
        hw = H * W
        x = offs % W
        y = offs // W
        u1p = u_ptr + 2 * img + offs
        u2p = u1p + hw
        right = m & (x < W - 1)
        down = m & (y < H - 1)
        u1 = tl.load(u1p, mask=m, other=0.0)
        u2 = tl.load(u2p, mask=m, other=0.0)
        u1x = tl.where(right, tl.load(u1p + 1, mask=right, other=0.0) - u1, 0.0)
        u1y = tl.where(down, tl.load(u1p + W, mask=down, other=0.0) - u1, 0.0)
        u2x = tl.where(right, tl.load(u2p + 1, mask=right, other=0.0) - u2, 0.0)
        u2y = tl.where(down, tl.load(u2p + W, mask=down, other=0.0) - u2, 0.0)
        pp = p_ptr + 4 * img + offs
        _dual_update(pp, pp, hw, m, u1x, u1y, u2x, u2y, taut)

    @triton.jit
    def _iteration_kernel(u_ptr, p_ptr, u_out_ptr, p_out_ptr, ix_ptr, iy_ptr, rho_ptr, active_ptr,
                          copy_ptr, err_ptr, H, W, l_t, theta, taut, BLOCK: tl.constexpr):
        """A whole iteration in one pass (I3D_TVL1_FUSED_ITERATION=1): the new flow of the block's pixels and of
        their right and lower neighbours (recomputed from the old state, which stays untouched: the results go
        to the other of two buffers), then the dual update. ~64 bytes of memory traffic per pixel instead of
        the two kernels' ~88. A pair that stopped at the previous iteration (``copy``) has its state copied to
        the other buffers once, so that both hold its final state while it is skipped."""
        offs, inside, m, img = _block_pixels(active_ptr, H, W, BLOCK)
        hw = H * W
        x = offs % W
        y = offs // W
        right = m & (x < W - 1)
        down = m & (y < H - 1)
        u1, u2, n1, n2 = _updated_flow(u_ptr, p_ptr, ix_ptr, iy_ptr, rho_ptr, img, offs, x, y, m,
                                       H, W, l_t, theta)
        _, _, r1, r2 = _updated_flow(u_ptr, p_ptr, ix_ptr, iy_ptr, rho_ptr, img, offs + 1, x + 1, y,
                                     right, H, W, l_t, theta)
        _, _, b1, b2 = _updated_flow(u_ptr, p_ptr, ix_ptr, iy_ptr, rho_ptr, img, offs + W, x, y + 1,
                                     down, H, W, l_t, theta)
        _store_block_error(err_ptr, m, u1, u2, n1, n2)
        uo = u_out_ptr + 2 * img + offs
        tl.store(uo, n1, mask=m)
        tl.store(uo + hw, n2, mask=m)
        _dual_update(p_ptr + 4 * img + offs, p_out_ptr + 4 * img + offs, hw, m,
                     tl.where(right, r1 - n1, 0.0), tl.where(down, b1 - n1, 0.0),
                     tl.where(right, r2 - n2, 0.0), tl.where(down, b2 - n2, 0.0), taut)
        c = inside & (tl.load(copy_ptr + tl.program_id(1)) != 0)
        for plane in tl.static_range(2):
            tl.store(uo + plane * hw, tl.load(u_ptr + (2 * img + plane * hw) + offs, mask=c, other=0.0), mask=c)
        for plane in tl.static_range(4):
            tl.store(p_out_ptr + (4 * img + plane * hw) + offs,
                     tl.load(p_ptr + (4 * img + plane * hw) + offs, mask=c, other=0.0), mask=c)

    @triton.jit
    def _cubic_weights(t):
        """OpenCV's interpolateCubic (Keys, A = -0.75) for taps at -1, 0, 1, 2."""
        w0 = ((-0.75 * (t + 1) + 3.75) * (t + 1) - 6.0) * (t + 1) + 3.0
        w1 = (1.25 * t - 2.25) * t * t + 1
        w2 = (1.25 * (1 - t) - 2.25) * (1 - t) * (1 - t) + 1
        return w0, w1, w2, 1 - w0 - w1 - w2

    @triton.jit
    def _tap_row(ptr, row, row_ok, x0, W, w0, w1, w2, w3):
        """Σ over the 4 taps of one image row (``row`` = plane base + clamped y·W); outside the image reads 0."""
        xa = x0 - 1
        xb = x0 + 1
        xc = x0 + 2
        v0 = tl.load(ptr + row + tl.minimum(tl.maximum(xa, 0), W - 1), mask=row_ok & (xa >= 0) & (xa < W), other=0.0)
        v1 = tl.load(ptr + row + tl.minimum(tl.maximum(x0, 0), W - 1), mask=row_ok & (x0 >= 0) & (x0 < W), other=0.0)
        v2 = tl.load(ptr + row + tl.minimum(tl.maximum(xb, 0), W - 1), mask=row_ok & (xb >= 0) & (xb < W), other=0.0)
        v3 = tl.load(ptr + row + tl.minimum(tl.maximum(xc, 0), W - 1), mask=row_ok & (xc >= 0) & (xc < W), other=0.0)
        return ((v0 * w0 + v1 * w1) + v2 * w2) + v3 * w3

    @triton.jit
    def _linearise_kernel(images_ptr, i0_ptr, u_ptr, ix_ptr, iy_ptr, rho_ptr, H, W, BLOCK: tl.constexpr):
        """One warp's linearisation: I1, I1x, I1y sampled bicubically at x + u (cv2.remap INTER_CUBIC, zero
        border), then the constant part of the residual, all in one pass (|∇I1w|² is left to the iteration)."""
        blk = tl.program_id(0)
        pair = tl.program_id(1)
        hw = H * W
        offs = blk * BLOCK + tl.arange(0, BLOCK)
        m = offs < hw
        img = pair.to(tl.int64) * hw
        u1 = tl.load(u_ptr + 2 * img + offs, mask=m, other=0.0)
        u2 = tl.load(u_ptr + 2 * img + hw + offs, mask=m, other=0.0)
        mx = (offs % W).to(tl.float32) + u1
        my = (offs // W).to(tl.float32) + u2
        fx0 = tl.floor(mx)
        fy0 = tl.floor(my)
        wx0, wx1, wx2, wx3 = _cubic_weights(mx - fx0)
        wy0, wy1, wy2, wy3 = _cubic_weights(my - fy0)
        x0 = tl.minimum(tl.maximum(fx0, -4.0), W + 4.0).to(tl.int32)  # far-off taps read zeros either way
        y0 = tl.minimum(tl.maximum(fy0, -4.0), H + 4.0).to(tl.int32)
        i1p = images_ptr + 3 * img
        i1xp = i1p + hw
        i1yp = i1p + 2 * hw
        acc_i = tl.zeros([BLOCK], dtype=tl.float32)
        acc_x = tl.zeros([BLOCK], dtype=tl.float32)
        acc_y = tl.zeros([BLOCK], dtype=tl.float32)
        for j in tl.static_range(4):
            yy = y0 + (j - 1)
            row_ok = m & (yy >= 0) & (yy < H)
            row = tl.minimum(tl.maximum(yy, 0), H - 1) * W
            wy = wy0 if j == 0 else (wy1 if j == 1 else (wy2 if j == 2 else wy3))
            acc_i += _tap_row(i1p, row, row_ok, x0, W, wx0, wx1, wx2, wx3) * wy
            acc_x += _tap_row(i1xp, row, row_ok, x0, W, wx0, wx1, wx2, wx3) * wy
            acc_y += _tap_row(i1yp, row, row_ok, x0, W, wx0, wx1, wx2, wx3) * wy
        i0 = tl.load(i0_ptr + img + offs, mask=m, other=0.0)
        tl.store(ix_ptr + img + offs, acc_x, mask=m)
        tl.store(iy_ptr + img + offs, acc_y, mask=m)
        tl.store(rho_ptr + img + offs, ((acc_i - acc_x * u1) - acc_y * u2) - i0, mask=m)

    @triton.jit
    def _compare_exchange(v, LO: tl.constexpr, HI: tl.constexpr):
        """One comparator of a network on a tuple of pixel vectors: the minimum to ``v[LO]``, the maximum to
        ``v[HI]`` (a comparator whose outputs are never read is removed by the compiler)."""
        return v[:LO] + (tl.minimum(v[LO], v[HI]),) + v[LO + 1:HI] + (tl.maximum(v[LO], v[HI]),) + v[HI + 1:]

    @triton.jit
    def _median_kernel(src_ptr, dst_ptr, active_ptr, H, W, KSIZE: tl.constexpr, NETWORK: tl.constexpr,
                       BLOCK: tl.constexpr):
        """dst = medianBlur(src) (replicate border) for active pairs, dst = src for the others; one plane per
        (program_id(1)) index of an N·C×H×W stack whose pair is plane // C (C = 2 flow components). The
        KSIZE² taps are loaded as separate vectors and reduced by ``NETWORK`` (:func:`median_network`)."""
        blk = tl.program_id(0)
        plane = tl.program_id(1)
        hw = H * W
        offs = blk * BLOCK + tl.arange(0, BLOCK)
        inside = offs < hw
        src = src_ptr + plane.to(tl.int64) * hw
        dst = dst_ptr + plane.to(tl.int64) * hw
        if tl.load(active_ptr + plane // 2) != 0:
            x = offs % W
            y = offs // W
            rows = ()
            cols = ()
            for d in tl.static_range(KSIZE):
                rows = rows + (tl.minimum(tl.maximum(y + (d - KSIZE // 2), 0), H - 1) * W,)
                cols = cols + (tl.minimum(tl.maximum(x + (d - KSIZE // 2), 0), W - 1),)
            taps = ()
            for k in tl.static_range(KSIZE * KSIZE):
                taps = taps + (tl.load(src + rows[k // KSIZE] + cols[k % KSIZE], mask=inside, other=0.0),)
            for c in tl.static_range(len(NETWORK)):
                taps = _compare_exchange(taps, NETWORK[c][0], NETWORK[c][1])
            tl.store(dst + offs, taps[KSIZE * KSIZE // 2], mask=inside)
        else:
            tl.store(dst + offs, tl.load(src + offs, mask=inside, other=0.0), mask=inside)


class TritonStepper:
    """Runs the iterations of one warp of one pyramid level on CUDA (see the module docstring)."""

    def __init__(self, p: TVL1Params, device: torch.device, count: bool = False,
                 fused_iteration: bool | None = None) -> None:
        if p.gamma != 0:
            raise ValueError("the Triton TV-L1 kernels implement gamma = 0 only")
        self.l_t = float(p.lambda_ * p.theta)
        self.taut = float(p.tau / p.theta)
        self.theta = float(p.theta)
        self.median_size = p.median_filtering if p.median_filtering > 1 else 0
        self.inner = p.inner_iterations
        self.total = p.inner_iterations * p.outer_iterations
        self.poll = math.gcd(p.inner_iterations, 10)
        self.use_graphs = os.environ.get("I3D_TVL1_GRAPHS", "0") == "1"
        if fused_iteration is None:
            fused_iteration = os.environ.get("I3D_TVL1_FUSED_ITERATION", "0") == "1"
        self.fused_iteration = fused_iteration
        self._count = torch.zeros((), dtype=torch.int64, device=device) if count else None

    @property
    def pixel_iterations(self) -> int:
        """Σ over iterations of (pairs still iterating × level pixels), if counting was asked for."""
        return int(self._count) if self._count is not None else 0

    def linearise(self, level, images: torch.Tensor, i0: torch.Tensor) -> None:
        """Fill ``level``'s ix, iy, rho_c around its current flow with one fused kernel; the iteration kernels
        recompute grad themselves. A kernel that fails raises: there is no fallback to PyTorch ops, since the
        iteration kernels, built by the same Triton for the same GPU, have none either, and a silent fallback
        would pass every parity test and show only as a slow GPU."""
        n, _, h, w = images.shape
        _linearise_kernel[(triton.cdiv(h * w, BLOCK), n)](
            images, i0, level.u, level.ix, level.iy, level.rho_c, h, w, BLOCK=BLOCK,
            num_warps=NUM_WARPS["_linearise_kernel"])

    def run_warp(self, level, scaled_eps: float) -> None:
        """Iterate until every pair's update is small enough (or ``outer × inner`` iterations)."""
        n, _, h, w = level.u.shape
        st = level.cache
        if not st:  # buffers at fixed addresses for the whole level, so its graphs stay valid
            st["scratch"] = torch.empty_like(level.u)
            st["active"] = torch.ones(n, dtype=torch.uint8, device=level.u.device)
            st["copy"] = torch.zeros(n, dtype=torch.uint8, device=level.u.device)  # fused iteration only
            if self.fused_iteration:  # the other buffers of the ping-pong
                st["u_alt"], st["p_alt"] = torch.empty_like(level.u), torch.empty_like(level.p)
            st["err"] = torch.empty((n, triton.cdiv(h * w, BLOCK)), dtype=torch.float32, device=level.u.device)
            st["iters"] = torch.zeros(n, dtype=torch.int32, device=level.u.device)  # iterations each pair ran
            st["eps"] = scaled_eps
            st["graphs"] = {}
        st["active"].fill_(1)
        st["copy"].zero_()
        st["iters"].zero_()
        for start in range(0, self.total, self.poll):
            self._block(level, with_median=self.median_size > 0 and start % self.inner == 0)
            if not bool(st["active"].any()):
                break
        if self._count is not None:
            self._count += st["iters"].sum() * (h * w)

    def _block(self, level, with_median: bool) -> None:
        st = level.cache
        if not (self.use_graphs and level.u.is_cuda):
            self._launch_block(level, with_median)
            return
        graph = st["graphs"].get(with_median)
        if graph is None:
            saved = st["active"].clone(), st["copy"].clone()
            st["active"].zero_()  # compile every kernel for these shapes with no effect on the state
            st["copy"].zero_()
            self._launch_block(level, with_median)
            torch.cuda.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._launch_block(level, with_median)
            st["active"].copy_(saved[0])
            st["copy"].copy_(saved[1])
            st["graphs"][with_median] = graph
        graph.replay()

    def _launch_block(self, level, with_median: bool) -> None:
        st = level.cache
        n, _, h, w = level.u.shape
        grid = (triton.cdiv(h * w, BLOCK), n)
        if with_median:
            _median_kernel[(triton.cdiv(h * w, MEDIAN_BLOCK), 2 * n)](
                level.u, st["scratch"], st["active"], h, w, KSIZE=self.median_size,
                NETWORK=median_network(self.median_size ** 2), BLOCK=MEDIAN_BLOCK,
                num_warps=NUM_WARPS["_median_kernel"])
            level.u.copy_(st["scratch"])
        u, p = level.u, level.p
        for _ in range(self.poll):
            if self.fused_iteration:
                u_out, p_out = (st["u_alt"], st["p_alt"]) if u is level.u else (level.u, level.p)
                _iteration_kernel[grid](u, p, u_out, p_out, level.ix, level.iy, level.rho_c, st["active"],
                                        st["copy"], st["err"], h, w, self.l_t, self.theta, self.taut, BLOCK=BLOCK,
                                        num_warps=NUM_WARPS["_iteration_kernel"])
                u, p = u_out, p_out
            else:
                _primal_kernel[grid](u, p, level.ix, level.iy, level.rho_c, st["active"], st["err"],
                                     h, w, self.l_t, self.theta, BLOCK=BLOCK, num_warps=NUM_WARPS["_primal_kernel"])
                _dual_kernel[grid](u, p, st["active"], h, w, self.taut, BLOCK=BLOCK,
                                   num_warps=NUM_WARPS["_dual_kernel"])
            _decide_kernel[(n,)](st["err"], st["active"], st["copy"], st["iters"], grid[0], st["eps"],
                                 BLOCKS=triton.next_power_of_2(grid[0]), num_warps=NUM_WARPS["_decide_kernel"])
        if u is not level.u:  # an odd number of iterations: the state is in the other buffers
            level.u.copy_(u)
            level.p.copy_(p)
