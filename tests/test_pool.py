"""The max pools as 1-D maxes (``MaxPool3dSame.impl``) compute what PyTorch's 3-D pool computes.

Forward: exactly equal, in fp32 and bf16, channels-first and channels-last. Input gradients: equal up to the order
in which overlapping windows' gradients are summed (stride < kernel), on inputs without ties; at a tie the native
pool gives one position the whole gradient and ``separable`` splits it (see ``layers.POOL_IMPLS``). bf16 inputs
are a permutation of small integers (exact in bf16, so no two values in a window are equal), fp32 ones random.
"""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from small_i3d import small_i3d_batch

from i3d.models import InceptionI3d
from i3d.models.layers import POOL_IMPLS, MaxPool3dSame, same_padding

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHAPES = [(2, 3, 4, 7, 9), (1, 4, 4, 8, 8), (2, 2, 5, 6, 7)]  # <= 256 positions per channel (tie_free)
POOLS = [((3, 3, 3), (1, 1, 1)),  # each Inception module's branch-3 pool
         ((1, 3, 3), (1, 2, 2)),  # MaxPool3d_2a, 3a
         ((3, 3, 3), (2, 2, 2)),  # 4a
         ((2, 2, 2), (2, 2, 2)),  # 5a
         ((2, 3, 1), (1, 3, 2))]  # odd mixes: kernel < stride, even kernels, asymmetric SAME pads
SEPARABLE = ["separable", "separable_pool"]


def tie_free(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Distinct values: random floats in fp32, a shuffled 0..255 (exact in bf16) tiled per channel in bf16 (a
    window never spans two channels, and every shape here has <= 256 positions per channel)."""
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.float32:
        return torch.randn(shape, generator=g)
    positions = shape[2] * shape[3] * shape[4]
    assert positions <= 256
    values = torch.stack([torch.randperm(256, generator=g)[:positions] for _ in range(shape[0] * shape[1])])
    return (values.reshape(shape).float() / 16 - 8).to(dtype)


def run(impl: str, x: torch.Tensor, kernel, stride, grad: torch.Tensor | None = None):
    pool = MaxPool3dSame(kernel, stride)
    pool.impl = impl
    x = x.detach().clone().requires_grad_()
    y = pool(x)
    y.backward(grad if grad is not None else torch.ones_like(y))
    return y.detach(), x.grad


def reference(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    """TF SAME max pool written out: every SAME pad (before, after) with -inf, then a VALID pool."""
    pads = [same_padding(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride)]
    padded = F.pad(x, [p for before_after in reversed(pads) for p in before_after], value=float("-inf"))
    return F.max_pool3d(padded, kernel, stride)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("channels_last", [False, True])
def test_outputs_equal_the_native_pool_exactly(dtype, channels_last):
    for seed, (shape, (kernel, stride)) in enumerate(itertools.product(SHAPES, POOLS)):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dtype)  # ties allowed here
        if channels_last:
            x = x.to(memory_format=torch.channels_last_3d)
        expected = reference(x, kernel, stride)
        for impl in POOL_IMPLS:
            y, _ = run(impl, x, kernel, stride)
            assert y.dtype == dtype and torch.equal(y, expected), (impl, shape, kernel, stride)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_input_gradients_equal_the_native_pool(dtype):
    for seed, (shape, (kernel, stride)) in enumerate(itertools.product(SHAPES, POOLS)):
        x = tie_free(shape, dtype, seed)
        grad = torch.rand(reference(x, kernel, stride).shape, generator=torch.Generator().manual_seed(seed)) + 0.5
        _, expected = run("native", x, kernel, stride, grad.to(dtype))
        for impl in SEPARABLE:
            _, got = run(impl, x, kernel, stride, grad.to(dtype))
            # only the summation order of overlapping windows differs: a few roundings of sums of <= 27 terms
            # in [0.5, 1.5), i.e. a few ulps of at most ~40 (bf16: 0.25 each; fp32: 4e-6)
            atol = 1.0 if dtype == torch.bfloat16 else 1e-5
            torch.testing.assert_close(got, expected, rtol=0, atol=atol, msg=f"{impl} {shape} {kernel} {stride}")
            assert torch.equal(got != 0, expected != 0), (impl, shape, kernel, stride)  # the same positions win


def test_ties_go_where_the_native_pool_sends_them():
    """Many equal values (ReLU-like zeros and small integers): the first maximum in (t, h, w) raster order gets
    the gradient in each 1-D pass, which is the native 3-D pool's choice, so gradients still agree."""
    for seed, (shape, (kernel, stride)) in enumerate(itertools.product(SHAPES, POOLS)):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).relu().round()
        grad = torch.rand(reference(x, kernel, stride).shape, generator=torch.Generator().manual_seed(seed)) + 0.5
        _, expected = run("native", x, kernel, stride, grad)
        for impl in SEPARABLE:
            _, got = run(impl, x, kernel, stride, grad)
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-5, msg=f"{impl} {shape} {kernel} {stride}")


def test_the_whole_i3d_gives_the_same_logits_and_gradients(monkeypatch):
    """A small I3D, trained-mode BN, no dropout: logits and every parameter's gradient with the separable pools
    equal the native pools' (within fp32 summation order; the pools follow ReLUs, whose tied zeros get no
    gradient whichever way a tie is broken)."""
    model, x, labels = small_i3d_batch(5, 16, 64, [1, 3])
    results = {}
    for impl in ("native", "separable"):
        monkeypatch.setattr(MaxPool3dSame, "impl", impl)
        model.zero_grad()
        logits = model(x)
        F.cross_entropy(logits, labels).backward()
        results[impl] = logits.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}
    (logits_native, grads_native), (logits_sep, grads_sep) = results["native"], results["separable"]
    torch.testing.assert_close(logits_sep, logits_native, rtol=0, atol=1e-5)
    for name, grad in grads_native.items():
        torch.testing.assert_close(grads_sep[name], grad, rtol=1e-3, atol=1e-5 * grad.abs().max().item(),
                                   msg=name)


def test_the_pool_choice_changes_no_state_dict_key():
    keys = {}
    for impl in POOL_IMPLS:
        MaxPool3dSame.impl, old = impl, MaxPool3dSame.impl
        try:
            keys[impl] = list(InceptionI3d(num_classes=3).state_dict())
        finally:
            MaxPool3dSame.impl = old
    assert keys["separable"] == keys["native"] == keys["separable_pool"]


def test_an_unknown_impl_is_refused():
    pool = MaxPool3dSame(3, 1)
    pool.impl = "cudnn"
    with pytest.raises(ValueError, match="impl"):
        pool(torch.zeros(1, 1, 3, 3, 3))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_on_cuda_the_implementations_agree(dtype):
    """The same checks on CUDA, at an Inception module's size: outputs exact, gradients within summation order."""
    for kernel, stride in POOLS:
        x = torch.randn(4, 64, 16, 28, 28, device="cuda").relu().to(dtype).to(memory_format=torch.channels_last_3d)
        y_native, g_native = run("native", x, kernel, stride, None)
        for impl in SEPARABLE + ["auto"]:
            y, g = run(impl, x, kernel, stride, None)
            assert torch.equal(y, y_native), (impl, kernel, stride)
            torch.testing.assert_close(g, g_native, rtol=0, atol=1.0 if dtype == torch.bfloat16 else 1e-4)
