"""I3D architecture, TF-SAME layers and the model registry.

Full-size (64x224x224) shapes are traced on the meta device; real forward passes use small stand-in
inputs, except one slow-marked check.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from i3d.models import (
    ArchSpec,
    InceptionI3d,
    TwoStream,
    build,
    count_parameters,
    get_spec,
    list_architectures,
)
from i3d.models.i3d import ENDPOINTS
from i3d.models.layers import (
    SMALL_MAP_POSITIONS,
    InceptionBlock,
    MaxPool3dSame,
    Unit3D,
    conv3d,
    same_padding,
)

# Re-derived counts from the reference notes (affine BN, 400 classes).
RGB_PARAMS = 12_697_264
FLOW_PARAMS = 12_675_312
TWO_STREAM_PARAMS = 25_372_576
LOGITS_400 = 1024 * 400 + 400


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def meta_model() -> InceptionI3d:
    """An I3D on the meta device: it propagates shapes without computing anything."""
    return InceptionI3d().to("meta").eval()


def _trace(model: InceptionI3d, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Output shape of every backbone endpoint."""
    x = torch.empty(shape, device="meta")
    shapes = {}
    for name in ENDPOINTS:
        x = getattr(model, name)(x)
        shapes[name] = tuple(x.shape)
    return shapes


def _reference_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int], value: float):
    """Pad the whole TF-SAME amount with F.pad: the plain formulation the layers must agree with."""
    pads = [same_padding(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride)]
    return F.pad(x, [p for pair in reversed(pads) for p in pair], value=value)


# --- SAME padding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_size", "kernel", "stride", "expected"),
    [
        (224, 7, 2, (2, 3)),  # conv1 spatially: 112 outputs, total 5
        (64, 7, 2, (2, 3)),  # conv1 in time
        (56, 3, 1, (1, 1)),
        (1, 3, 1, (1, 1)),
        (16, 2, 2, (0, 0)),  # MaxPool3d_5a on an even size
        (15, 2, 2, (0, 1)),  # ... on an odd size: the extra pad goes at the end
        (4, 3, 2, (0, 1)),
        (112, 3, 2, (0, 1)),
        (7, 1, 1, (0, 0)),
        (5, 1, 2, (0, 0)),  # kernel smaller than stride never pads
    ],
)
def test_same_padding(in_size: int, kernel: int, stride: int, expected: tuple[int, int]) -> None:
    assert same_padding(in_size, kernel, stride) == expected


@pytest.mark.parametrize("size", [(5, 9, 10), (8, 16, 16), (1, 7, 3)])
@pytest.mark.parametrize(("kernel", "stride"), [((7, 7, 7), (2, 2, 2)), ((3, 3, 3), (1, 1, 1)), ((1, 3, 3), (1, 2, 2))])
def test_unit3d_matches_full_same_padding(size, kernel, stride) -> None:
    torch.manual_seed(0)
    unit = Unit3D(3, 4, kernel, stride, activation=False, use_batch_norm=False).eval()
    x = torch.randn(2, 3, *size)
    expected = F.conv3d(_reference_same(x, kernel, stride, 0.0), unit.conv3d.weight, stride=stride)
    out = unit(x)
    assert out.shape[2:] == tuple(math.ceil(n / s) for n, s in zip(size, stride))
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize(("size", "kernel", "stride", "padding"), [
    ((1, 2, 2), (3, 3, 3), (1, 1, 1), (1, 1, 1)),   # the 3D-Fused head at stand-in size
    ((3, 5, 4), (3, 3, 3), (2, 2, 2), (1, 1, 0)),
    ((1, 3, 3), (1, 3, 3), (1, 1, 1), (0, 1, 1)),
    ((4, 8, 8), (3, 3, 3), (1, 1, 1), (1, 1, 1)),   # a larger map: oneDNN's own path
])
@pytest.mark.parametrize("bias", [False, True])
def test_conv3d_small_map_matches_conv3d_with_gradients(size, kernel, stride, padding, bias) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 6, *size, requires_grad=True)
    weight = torch.randn(5, 6, *kernel, requires_grad=True)
    b = torch.randn(5, requires_grad=True) if bias else None
    leaves = [t for t in (x, weight, b) if t is not None]
    ours = conv3d(x, weight, b, stride, padding)
    expected = F.conv3d(x, weight, b, stride, padding)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)
    grads = torch.autograd.grad((ours * expected.detach()).sum(), leaves)
    expected_grads = torch.autograd.grad((expected * expected.detach()).sum(), leaves)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert math.prod(ours.shape[2:]) <= SMALL_MAP_POSITIONS or size == (4, 8, 8)


@pytest.mark.parametrize(("kernel", "stride"), [((3, 3, 3), (2, 2, 2)), ((2, 2, 2), (2, 2, 2)), ((1, 3, 3), (1, 2, 2))])
def test_maxpool_same_ignores_padding(kernel, stride) -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 2, 5, 9, 8)
    pool = MaxPool3dSame(kernel, stride)
    expected = F.max_pool3d(_reference_same(x, kernel, stride, float("-inf")), kernel, stride)
    torch.testing.assert_close(pool(x), expected)
    # On post-ReLU inputs zero padding (piergiaj's choice) gives the same result.
    relu = x.relu()
    torch.testing.assert_close(pool(relu), F.max_pool3d(_reference_same(relu, kernel, stride, 0.0), kernel, stride))


def test_unit3d_options() -> None:
    logits = Unit3D(8, 5, activation=False, use_batch_norm=False, use_bias=True)
    assert logits.bn is None and logits.conv3d.bias is not None
    unit = Unit3D(8, 5, 3)
    assert unit.conv3d.bias is None and unit.bn.eps == pytest.approx(1e-3) and unit.bn.affine
    assert (unit(torch.randn(1, 8, 2, 4, 4)) >= 0).all()


def test_inception_block_temporal_kernel() -> None:
    block3d = InceptionBlock(192, 64, (96, 128), (16, 32), 32)
    block2d = InceptionBlock(192, 64, (96, 128), (16, 32), 32, temporal_kernel=1)
    assert block3d.b1b.conv3d.weight.shape == (128, 96, 3, 3, 3)
    assert block2d.b1b.conv3d.weight.shape == (128, 96, 1, 3, 3)
    assert block2d.b3a.kernel_size == (1, 3, 3)
    x = torch.randn(1, 192, 3, 5, 5)
    assert block2d(x).shape == (1, block2d.out_channels, 3, 5, 5) == (1, 256, 3, 5, 5)


# --- parameter counts ---------------------------------------------------------------------------------


def test_parameter_counts() -> None:
    assert count_parameters(build("i3d", stream="rgb")) == RGB_PARAMS
    assert count_parameters(build("i3d", stream="flow")) == FLOW_PARAMS
    assert count_parameters(build("i3d")) == TWO_STREAM_PARAMS == RGB_PARAMS + FLOW_PARAMS


def test_parameter_counts_other_class_count() -> None:
    logits_10 = 1024 * 10 + 10
    assert count_parameters(build("i3d", num_classes=10, stream="rgb")) == RGB_PARAMS - LOGITS_400 + logits_10
    assert count_parameters(build("i3d", num_classes=10, stream="flow")) == FLOW_PARAMS - LOGITS_400 + logits_10
    assert count_parameters(build("i3d", num_classes=10)) == TWO_STREAM_PARAMS - 2 * (LOGITS_400 - logits_10)


def test_per_layer_parameter_counts() -> None:
    model = InceptionI3d()
    expected = {
        "Conv3d_1a_7x7": 65_984,
        "Conv3d_2b_1x1": 4_224,
        "Conv3d_2c_3x3": 332_160,
        "Mixed_3b": 386_272,
        "Mixed_3c": 837_888,
        "Mixed_4b": 737_760,
        "Mixed_4c": 904_464,
        "Mixed_4d": 1_103_664,
        "Mixed_4e": 1_356_672,
        "Mixed_4f": 1_799_168,
        "Mixed_5b": 1_974_272,
        "Mixed_5c": 2_784_736,
        "logits": LOGITS_400,
    }
    assert {name: count_parameters(getattr(model, name)) for name in expected} == expected


def test_state_dict_names_match_piergiaj_layout() -> None:
    keys = set(InceptionI3d().state_dict())
    for key in [
        "Conv3d_1a_7x7.conv3d.weight",
        "Conv3d_1a_7x7.bn.running_var",
        "Conv3d_2c_3x3.bn.weight",
        "Mixed_3b.b0.conv3d.weight",
        "Mixed_4f.b1a.bn.bias",
        "Mixed_5b.b2b.conv3d.weight",
        "Mixed_5c.b3b.bn.running_mean",
        "logits.conv3d.weight",
        "logits.conv3d.bias",
    ]:
        assert key in keys
    assert not any(key.startswith("logits.bn") or ".b3a." in key for key in keys)
    assert "Conv3d_1a_7x7.conv3d.bias" not in keys


# --- shapes -------------------------------------------------------------------------------------------


def test_paper_shapes_at_64x224(meta_model: InceptionI3d) -> None:
    shapes = _trace(meta_model, (1, 3, 64, 224, 224))
    assert shapes["Conv3d_1a_7x7"] == (1, 64, 32, 112, 112)
    assert shapes["MaxPool3d_2a_3x3"] == (1, 64, 32, 56, 56)
    assert shapes["MaxPool3d_3a_3x3"] == (1, 192, 32, 28, 28)
    assert shapes["MaxPool3d_4a_3x3"] == (1, 480, 16, 14, 14)
    assert shapes["Mixed_4f"] == (1, 832, 16, 14, 14)
    assert shapes["Mixed_5c"] == (1, 1024, 8, 7, 7)


@pytest.mark.parametrize(
    ("t", "hw", "expected"),
    [
        (16, 112, (2, 4, 4)),
        (16, 56, (2, 2, 2)),
        (9, 224, (2, 7, 7)),  # the shortest clip the paper's 2x7x7 VALID pool accepts
        (9, 100, (2, 4, 4)),  # ceil rules: 100 -> 50 -> 25 -> 13 -> 7 -> 4
        (250, 224, (32, 7, 7)),
        (1, 32, (1, 1, 1)),
    ],
)
def test_mixed_5c_shape(meta_model: InceptionI3d, t: int, hw: int, expected: tuple[int, int, int]) -> None:
    assert _trace(meta_model, (1, 3, t, hw, hw))["Mixed_5c"] == (1, 1024, *expected)


@pytest.mark.parametrize(
    ("t", "hw", "steps"),
    [(64, 224, 7), (250, 224, 31), (16, 56, 1), (9, 112, 1), (8, 56, 1), (1, 32, 1), (50, 56, 6)],
)
def test_per_time_steps(meta_model: InceptionI3d, t: int, hw: int, steps: int) -> None:
    assert meta_model.forward_per_time(torch.empty(2, 3, t, hw, hw, device="meta")).shape == (2, 400, steps)


@pytest.mark.parametrize(("stream", "channels"), [("rgb", 3), ("flow", 2)])
def test_forward_shapes_small_input(stream: str, channels: int) -> None:
    model = build("i3d", num_classes=11, stream=stream).eval()
    x = torch.randn(2, channels, 16, 56, 56)
    with torch.no_grad():
        assert model(x).shape == (2, 11)


def test_rejects_wrong_channel_count() -> None:
    with pytest.raises(RuntimeError):
        build("i3d", stream="flow")(torch.randn(1, 3, 8, 32, 32))


# --- head semantics -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_model() -> InceptionI3d:
    torch.manual_seed(0)
    model = InceptionI3d(num_classes=5)
    torch.nn.init.normal_(model.logits.conv3d.weight, std=0.5)  # make logits differ visibly per time step
    return model.eval()


def test_forward_is_time_average_of_per_time_logits(small_model: InceptionI3d) -> None:
    x = torch.randn(2, 3, 24, 32, 32)  # 3 Mixed_5c steps -> 2 logit steps
    with torch.no_grad():
        per_time = small_model.forward_per_time(x)
        assert per_time.shape == (2, 5, 2)
        assert not torch.allclose(per_time[..., 0], per_time[..., 1])
        torch.testing.assert_close(per_time.mean(dim=2), small_model(x))


def test_eval_is_deterministic(small_model: InceptionI3d) -> None:
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(small_model(x), small_model(x), rtol=0, atol=0)


def test_initialisation_is_seeded() -> None:
    torch.manual_seed(3)
    a = InceptionI3d(num_classes=4).state_dict()
    torch.manual_seed(3)
    b = InceptionI3d(num_classes=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.all(a["Mixed_4c.b1b.bn.weight"] == 1) and torch.all(a["logits.conv3d.bias"] == 0)


def test_dropout_is_drop_probability() -> None:
    model = InceptionI3d(dropout=0.3)
    assert model.dropout.p == pytest.approx(0.3)
    assert InceptionI3d().dropout.p == pytest.approx(0.5)


def test_two_stream_returns_mean_of_logits() -> None:
    torch.manual_seed(0)
    model = build("i3d", num_classes=6).eval()
    assert isinstance(model, TwoStream)
    assert model.rgb.Conv3d_1a_7x7.conv3d.in_channels == 3
    assert model.flow.Conv3d_1a_7x7.conv3d.in_channels == 2
    rgb, flow = torch.randn(1, 3, 16, 32, 32), torch.randn(1, 2, 16, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(rgb, flow), (model.rgb(rgb) + model.flow(flow)) / 2)


# --- registry -----------------------------------------------------------------------------------------


def test_registry_lists_i3d() -> None:
    assert "i3d" in list_architectures()
    spec = get_spec("i3d")
    assert isinstance(spec, ArchSpec)
    assert spec.paper_name == "Two-Stream I3D"
    assert spec.streams == ("rgb", "flow")


def test_build_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="i3d"):
        build("c3d-typo")
    with pytest.raises(ValueError, match="rgb"):
        build("i3d", stream="depth")
    with pytest.raises(ValueError):
        get_spec("nope")


# --- full size (slow) ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_full_size_forward() -> None:
    model = InceptionI3d().eval()
    x = torch.randn(1, 3, 64, 224, 224)
    with torch.no_grad():
        assert model.backbone(x).shape == (1, 1024, 8, 7, 7)
        assert model.forward_per_time(x).shape == (1, 400, 7)
