"""The pieces of OpenCV's CPU TV-L1 as batched PyTorch ops on ``N×H×W`` float32 tensors (any device).

Each function mirrors one routine of ``opencv_contrib/modules/optflow/src/tvl1flow.cpp`` (5.x) or the OpenCV
imgproc call it makes, including the border rules, because the flow only matches OpenCV's where they match:

* :func:`centered_gradient` — ``centeredGradient``: central differences, half one-sided differences at borders
  (the same as replicate padding).
* :func:`forward_gradient` — ``forwardGradient``: ``u[x+1] - u[x]``, zero in the last column/row.
* :func:`divergence` — ``divergence``: backward differences with zero outside the top/left border; it is the
  negative adjoint of :func:`forward_gradient`.
* :func:`threshold_step` — ``estimateV``: the point-wise soft threshold of the data term.
* :func:`warp_cubic` — ``remap(..., INTER_CUBIC, BORDER_CONSTANT)``: Keys cubic convolution, A = -0.75, taps
  outside the image read 0 (OpenCV 5 no longer rounds map coordinates to 1/32 px). On the CPU it calls
  ``cv2.remap``; :func:`warp_cubic_gather` is the same in PyTorch ops for other devices.
* :func:`resize_linear` — ``resize(..., INTER_LINEAR)`` on float images: half-pixel centres, the scale taken from
  ``fx``/``fy`` (not from the rounded sizes), coordinates clamped at the borders.
* :func:`median_blur` — ``medianBlur`` on float32 (aperture 3 or 5, replicate border).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

FLT_EPSILON = float(np.finfo(np.float32).eps)


def centered_gradient(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(d/dx, d/dy) of ``...×H×W`` images: ``0.5·(I[x+1] - I[x-1])``, replicate border."""
    h, w = img.shape[-2:]
    p = F.pad(img.reshape(-1, 1, h, w), (1, 1, 1, 1), mode="replicate").view(*img.shape[:-2], h + 2, w + 2)
    dx = 0.5 * (p[..., 1:-1, 2:] - p[..., 1:-1, :-2])
    dy = 0.5 * (p[..., 2:, 1:-1] - p[..., :-2, 1:-1])
    return dx, dy


def forward_gradient(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(d/dx, d/dy) of ``...×H×W`` by forward differences; 0 in the last column (dx) and last row (dy)."""
    dx = F.pad(u[..., 1:] - u[..., :-1], (0, 1))
    dy = F.pad(u[..., 1:, :] - u[..., :-1, :], (0, 0, 0, 1))
    return dx, dy


def divergence(p1: torch.Tensor, p2: torch.Tensor) -> torch.Tensor:
    """``(p1[x] - p1[x-1]) + (p2[y] - p2[y-1])`` with ``p[-1] = 0`` (OpenCV's order of float operations)."""
    return (p1 - F.pad(p1[..., :-1], (1, 0))) + (p2 - F.pad(p2[..., :-1, :], (0, 0, 1, 0)))


def threshold_step(rho: torch.Tensor, grad: torch.Tensor, l_t: float) -> torch.Tensor:
    """The factor ``c`` of ``estimateV``'s soft threshold: ``v = u + c·(Ix, Iy)`` (and ``v3 = u3 + c·gamma``).

    ``rho < -l_t·|∇I|²`` gives ``c = l_t``, ``rho > l_t·|∇I|²`` gives ``-l_t``, otherwise ``v`` lands on the zero
    of the linearised residual (``c = -rho/|∇I|²``), and on flat pixels (``|∇I|² <= FLT_EPSILON``) ``c = 0``.
    """
    lg = l_t * grad
    textured = grad > FLT_EPSILON
    fi = torch.where(textured, -rho / torch.where(textured, grad, 1.0), 0.0)
    return torch.where(rho < -lg, l_t, torch.where(rho > lg, -l_t, fi))


def _cubic_weights(t: torch.Tensor, a: float = -0.75) -> list[torch.Tensor]:
    """OpenCV's ``interpolateCubic``: Keys weights of the taps at -1, 0, 1, 2 for a fractional offset t."""
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    return [w0, w1, w2, 1 - w0 - w1 - w2]


def warp_cubic(images: torch.Tensor, u1: torch.Tensor, u2: torch.Tensor) -> torch.Tensor:
    """Sample ``N×C×H×W`` images at ``(x + u1, y + u2)`` with bicubic A = -0.75, zero outside the image.

    On the CPU this *is* ``cv2.remap`` per plane: the 16 gathers of :func:`warp_cubic_gather` cost ~50 ms per
    340×256 pair and warp (a quarter of the CPU solver's time), ``cv2.remap`` ~1 ms per plane.
    """
    if images.device.type != "cpu":
        return warp_cubic_gather(images, u1, u2)
    n, c, h, w = images.shape
    src = images.detach().contiguous().numpy()
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    u1, u2 = u1.detach().numpy(), u2.detach().numpy()
    out = np.empty_like(src)
    for k in range(n):
        mx, my = xs + u1[k], ys + u2[k]
        for ch in range(c):
            out[k, ch] = cv2.remap(src[k, ch], mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT,
                                   borderValue=0)
    return torch.from_numpy(out)


def warp_cubic_gather(images: torch.Tensor, u1: torch.Tensor, u2: torch.Tensor) -> torch.Tensor:
    """:func:`warp_cubic` in PyTorch ops, for any device: the 16 taps are gathered at the exact coordinates
    rather than through ``grid_sample``, whose normalised coordinates cost ~1e-5 px of rounding: ~10× further
    from ``cv2.remap`` (max 8e-4 vs 8e-5 on 0..255 images)."""
    n, c, h, w = images.shape
    ys = torch.arange(h, device=u1.device, dtype=u1.dtype).view(1, h, 1)
    xs = torch.arange(w, device=u1.device, dtype=u1.dtype).view(1, 1, w)
    mx, my = xs + u1, ys + u2
    x0, y0 = torch.floor(mx), torch.floor(my)
    wx, wy = _cubic_weights(mx - x0), _cubic_weights(my - y0)
    x0 = x0.clamp(-4, w + 4).long()  # far-off coordinates read only zeros either way
    y0 = y0.clamp(-4, h + 4).long()
    flat = images.reshape(n, c, h * w)
    out = torch.zeros_like(images)
    for j in range(4):
        yy = y0 + (j - 1)
        row_ok = (yy >= 0) & (yy < h)
        row_base = yy.clamp(0, h - 1) * w
        row = torch.zeros_like(images)
        for i in range(4):
            xx = x0 + (i - 1)
            ok = row_ok & (xx >= 0) & (xx < w)
            idx = (row_base + xx.clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
            taps = flat.gather(2, idx).view(n, c, h, w) * ok.unsqueeze(1)
            row += taps * wx[i].unsqueeze(1)
        out += row * wy[j].unsqueeze(1)
    return out


def _linear_taps(src: int, dst: int, scale: float, device: torch.device) -> tuple[torch.Tensor, ...]:
    """OpenCV's INTER_LINEAR taps along one axis: source indices i0, i1 and their weights 1 - f, f."""
    c = (np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5  # float64, as measured against cv2.resize
    i0 = np.floor(c).astype(np.int64)
    f = c - i0
    f[(i0 < 0) | (i0 >= src - 1)] = 0.0
    i0 = np.clip(i0, 0, src - 1)
    i1 = np.minimum(i0 + 1, src - 1)
    as_t = lambda a: torch.from_numpy(a).to(device)
    return as_t(i0), as_t(i1), as_t(f.astype(np.float32)), as_t((1.0 - f).astype(np.float32))


def resize_linear(img: torch.Tensor, size: tuple[int, int], scale: tuple[float, float] | None = None) -> torch.Tensor:
    """Bilinear resize of ``N×H×W`` (or ``N×C×H×W``) to ``size = (h, w)`` exactly as ``cv2.resize`` INTER_LINEAR.

    ``scale = (sy, sx)`` is the source step per output pixel; OpenCV uses ``1/fy`` when called with a factor
    (the pyramid) and ``H/h`` when called with a size (flow upsampling), so both are needed.
    """
    h, w = size
    sh, sw = img.shape[-2:]
    sy, sx = scale if scale is not None else (sh / h, sw / w)
    y0, y1, fy, gy = _linear_taps(sh, h, sy, img.device)
    x0, x1, fx, gx = _linear_taps(sw, w, sx, img.device)
    rows = img.index_select(-1, x0) * gx + img.index_select(-1, x1) * fx  # horizontal pass first, like OpenCV
    return rows.index_select(-2, y0) * gy.view(-1, 1) + rows.index_select(-2, y1) * fy.view(-1, 1)


def pyramid_sizes(h: int, w: int, nscales: int, scale_step: float) -> list[tuple[int, int]]:
    """Level sizes, finest first: each level is the previous one times ``scale_step`` (rounded like OpenCV's
    ``saturate_cast``), stopping before a level narrower or lower than 16 px."""
    sizes = [(h, w)]
    for _ in range(1, nscales):
        ph, pw = sizes[-1]
        nh, nw = round(ph * scale_step), round(pw * scale_step)  # cvRound: nearest, ties to even
        if nh < 16 or nw < 16:
            break
        sizes.append((nh, nw))
    return sizes


def median_blur(u: torch.Tensor, ksize: int = 5) -> torch.Tensor:
    """``cv2.medianBlur`` of ``...×H×W`` float32 with a ``ksize``×``ksize`` aperture and replicate border.

    On the CPU this *is* ``cv2.medianBlur`` per plane (the sorting-network original; ``torch.median`` over the
    unfolded windows took 84% of the CPU solver's time); elsewhere the windows are unfolded and sorted.
    """
    if u.device.type == "cpu":
        planes = u.detach().reshape(-1, *u.shape[-2:]).contiguous().numpy()
        return torch.from_numpy(np.stack([cv2.medianBlur(plane, ksize) for plane in planes])).view_as(u)
    r = ksize // 2
    h, w = u.shape[-2:]
    p = F.pad(u.reshape(-1, 1, h, w), (r, r, r, r), mode="replicate")
    patches = F.unfold(p, ksize)  # N × k² × (H·W)
    return patches.median(dim=1).values.view_as(u)


def linearise_torch(level, images: torch.Tensor, i0: torch.Tensor) -> None:
    """Fill ``level.ix, iy, grad, rho_c`` (``calcGradRho`` after the three ``remap`` calls) around ``level.u``.

    ``images`` is N×3×H×W: I1 and its centred gradients. ``rho_c = I1w - Ix·u1 - Iy·u2 - I0``.
    """
    u1, u2 = level.u[:, 0], level.u[:, 1]
    i1w, ix, iy = warp_cubic(images, u1, u2).unbind(1)
    level.ix.copy_(ix)
    level.iy.copy_(iy)
    torch.add(ix * ix, iy * iy, out=level.grad)
    torch.sub(i1w - ix * u1 - iy * u2, i0, out=level.rho_c)
