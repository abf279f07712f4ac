"""Unit level of the TV-L1 port: each piece against the OpenCV routine it mirrors (float32, ~1e-5), the warp
against the definition of bicubic sampling (cv2.remap *is* the CPU warp)."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from i3d.flow import tvl1_ops as ops


def _img(h: int = 37, w: int = 53, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 1.2)


def _t(*arrays: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays))


def test_centered_gradient_matches_opencv_definition_including_borders():
    img = _img()
    dx, dy = ops.centered_gradient(_t(img))
    ex = np.empty_like(img)
    ex[:, 1:-1] = 0.5 * (img[:, 2:] - img[:, :-2])
    ex[:, 0], ex[:, -1] = 0.5 * (img[:, 1] - img[:, 0]), 0.5 * (img[:, -1] - img[:, -2])
    ey = np.empty_like(img)
    ey[1:-1] = 0.5 * (img[2:] - img[:-2])
    ey[0], ey[-1] = 0.5 * (img[1] - img[0]), 0.5 * (img[-1] - img[-2])
    np.testing.assert_allclose(dx[0].numpy(), ex, atol=1e-5)
    np.testing.assert_allclose(dy[0].numpy(), ey, atol=1e-5)


def test_forward_gradient_zero_on_last_column_and_row():
    u = _t(_img())
    dx, dy = ops.forward_gradient(u)
    np.testing.assert_allclose(dx[0, :, :-1].numpy(), np.diff(u[0].numpy(), axis=1), atol=1e-5)
    np.testing.assert_allclose(dy[0, :-1].numpy(), np.diff(u[0].numpy(), axis=0), atol=1e-5)
    assert not dx[0, :, -1].any() and not dy[0, -1].any()


def test_divergence_is_the_negative_adjoint_of_the_forward_gradient():
    rng = np.random.default_rng(1)
    u = torch.from_numpy(rng.normal(size=(2, 19, 23))).double()
    p1, p2 = (torch.from_numpy(rng.normal(size=(2, 19, 23))).double() for _ in range(2))
    p1[:, :, -1] = 0  # the dual variables live where the forward gradient is defined
    p2[:, -1, :] = 0
    ux, uy = ops.forward_gradient(u)
    lhs = (ux * p1 + uy * p2).sum()
    rhs = -(u * ops.divergence(p1, p2)).sum()
    assert torch.isclose(lhs, rhs, rtol=1e-12)


def test_threshold_step_covers_all_four_branches():
    l_t = 0.045
    ix = torch.tensor([[[2.0, 2.0, 2.0, 0.0]]])
    iy = torch.tensor([[[1.0, 1.0, 1.0, 0.0]]])
    grad = ix * ix + iy * iy  # 5, 5, 5, 0
    rho = torch.tensor([[[-1.0, 1.0, 0.1, 0.0]]])  # below -l_t·5 = -0.225, above +0.225, inside, flat pixel
    coef = ops.threshold_step(rho, grad, l_t)
    np.testing.assert_allclose(coef[0, 0].numpy(), [l_t, -l_t, -0.1 / 5, 0.0], rtol=1e-6)


def _keys(d: float) -> float:
    """Keys' cubic convolution kernel at distance ``d``, in its textbook piecewise form."""
    a = -0.75  # OpenCV's choice (cv::interpolateCubic); many libraries use -0.5
    d = abs(d)
    if d <= 1:
        return ((a + 2) * d - (a + 3)) * d * d + 1
    if d < 2:
        return ((d - 5) * d + 8) * d * a - 4 * a
    return 0.0


def _bicubic_reference(img: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """``img`` sampled at each ``(mx, my)``, point by point in float64: the 4×4 taps around the point weighted by
    :func:`_keys` of their distance, taps outside the image reading 0 (remap's BORDER_CONSTANT, as the solver
    calls it). Written from the definition, not from OpenCV's code or ours."""
    h, w = img.shape
    out = np.zeros((h, w))
    for y, x in np.ndindex(h, w):
        sx, sy = float(mx[y, x]), float(my[y, x])
        for j in range(math.floor(sy) - 1, math.floor(sy) + 3):
            for i in range(math.floor(sx) - 1, math.floor(sx) + 3):
                if 0 <= j < h and 0 <= i < w:
                    out[y, x] += img[j, i] * _keys(sx - i) * _keys(sy - j)
    return out


@pytest.mark.parametrize("warp", ["warp_cubic", "warp_cubic_gather"])
def test_warp_cubic_matches_a_direct_bicubic_reference_with_zero_border(warp):
    """Both warps (cv2.remap on the CPU, the PyTorch ops elsewhere; the Triton kernel is checked against the
    former in test_tvl1.py's interpreter test) against the definition, on noise, where a wrong kernel (A = -0.5:
    20 gray levels off) or a coordinate off by 1/32 px (10 levels) is far outside the 1e-3 tolerance."""
    h, w = 12, 15
    rng = np.random.default_rng(2)
    img = rng.uniform(0, 255, (h, w)).astype(np.float32)
    u1 = rng.uniform(-4, 4, (h, w)).astype(np.float32)  # reaches past every border
    u2 = rng.uniform(-4, 4, (h, w)).astype(np.float32)
    u1[0, 0], u2[1, 1], u1[2, 2], u2[2, 2] = 50.0, -3.0, 0.0, 1.0  # far outside; integer coordinates
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    expected = _bicubic_reference(img, xs + u1, ys + u2)  # float32 coordinates, as the solver forms them
    got = getattr(ops, warp)(_t(img)[:, None], _t(u1), _t(u2))[0, 0].numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-3)  # 255-scale: float32 rounding is ~1e-4


@pytest.mark.parametrize("shape", [(256, 340), (205, 272), (37, 53)])
def test_pyramid_resize_matches_cv2_resize_with_factor(shape):
    img = _img(*shape)
    expected = cv2.resize(img, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_LINEAR)
    size = ops.pyramid_sizes(*shape, 2, 0.8)[1]
    assert size == expected.shape
    got = ops.resize_linear(_t(img), size, (1 / 0.8, 1 / 0.8))[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_upsampling_resize_matches_cv2_resize_with_size():
    flow = np.random.default_rng(3).normal(size=(105, 139)).astype(np.float32)
    expected = cv2.resize(flow, (174, 131), interpolation=cv2.INTER_LINEAR)
    got = ops.resize_linear(_t(flow), (131, 174))[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_pyramid_sizes_at_340x256_and_the_16_px_floor():
    assert ops.pyramid_sizes(256, 340, 5, 0.8) == [(256, 340), (205, 272), (164, 218), (131, 174), (105, 139)]
    assert ops.pyramid_sizes(24, 40, 5, 0.8) == [(24, 40), (19, 32)]  # 15 px would be too small


@pytest.mark.parametrize("ksize", [3, 5])
def test_median_blur_matches_cv2_median_blur(ksize):
    u = np.random.default_rng(4).normal(size=(31, 45)).astype(np.float32)
    np.testing.assert_array_equal(ops.median_blur(_t(u), ksize)[0].numpy(), cv2.medianBlur(u, ksize))
