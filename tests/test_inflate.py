"""ImageNet initialisation: torchvision GoogLeNet key mapping and inflation into I3D (boring-video fixed point)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from i3d.models import InceptionI3d, InceptionV1, build, layers
from i3d.models.inception import from_torchvision, to_torchvision
from i3d.models.inflate import inflate_weight, load_imagenet
from i3d.models.layers import same_padding

# torchvision GoogLeNet's module names, written out here independently of the mapping under test
TV_BLOCKS = ["inception3a", "inception3b", "inception4a", "inception4b", "inception4c", "inception4d", "inception4e",
             "inception5a", "inception5b"]
TV_BRANCHES = ["branch1", "branch2.0", "branch2.1", "branch3.0", "branch3.1", "branch4.1"]
BN_KEYS = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


def torchvision_keys() -> set[str]:
    units = ["conv1", "conv2", "conv3"] + [f"{b}.{br}" for b in TV_BLOCKS for br in TV_BRANCHES]
    keys = {f"{u}.conv.weight" for u in units} | {f"{u}.bn.{k}" for u in units for k in BN_KEYS}
    return keys | {"fc.weight", "fc.bias"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def net2d() -> InceptionV1:
    """A 2D Inception-V1 (1000 classes, like ImageNet) with realistic BN statistics from one calibration batch."""
    torch.manual_seed(0)
    net = InceptionV1(1000)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.momentum = None  # cumulative average: one batch sets the statistics
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.normal_(module.bias, std=0.1)
    torch.nn.init.normal_(net.logits.conv3d.weight, std=0.1)
    with torch.no_grad():
        net.train()(torch.randn(4, 3, 32, 32))
    return net.eval()


@pytest.fixture(scope="module")
def torchvision_state(net2d: InceptionV1) -> dict[str, torch.Tensor]:
    return to_torchvision(net2d.state_dict())


# --- key mapping --------------------------------------------------------------------------------------


def test_to_torchvision_gives_googlenet_keys_and_shapes(torchvision_state) -> None:
    assert set(torchvision_state) == torchvision_keys()
    shapes = {
        "conv1.conv.weight": (64, 3, 7, 7),
        "conv2.conv.weight": (64, 64, 1, 1),
        "conv3.conv.weight": (192, 64, 3, 3),
        "inception3a.branch1.conv.weight": (64, 192, 1, 1),
        "inception3a.branch2.1.conv.weight": (128, 96, 3, 3),
        "inception3a.branch3.1.conv.weight": (32, 16, 3, 3),  # torchvision's "5x5" branch is 3x3
        "inception3a.branch4.1.conv.weight": (32, 192, 1, 1),
        "inception4e.branch3.0.bn.running_var": (32,),
        "inception5b.branch2.1.conv.weight": (384, 192, 3, 3),
        "fc.weight": (1000, 1024),
        "fc.bias": (1000,),
    }
    assert {k: tuple(torchvision_state[k].shape) for k in shapes} == shapes


def test_torchvision_round_trip_is_exact(net2d, torchvision_state) -> None:
    ours = net2d.state_dict()
    back = from_torchvision(torchvision_state)
    assert set(back) == set(ours)
    assert all(torch.equal(back[k], ours[k]) for k in ours)
    assert set(to_torchvision(back)) == set(torchvision_state)


def test_from_torchvision_drops_aux_heads_and_rejects_strangers(torchvision_state) -> None:
    with_aux = dict(torchvision_state)
    with_aux["aux1.conv.conv.weight"] = torch.zeros(128, 512, 1, 1)
    with_aux["aux2.fc2.weight"] = torch.zeros(1000, 1024)
    assert set(from_torchvision(with_aux)) == set(from_torchvision(torchvision_state))
    with pytest.raises(KeyError):
        from_torchvision({**torchvision_state, "inception6a.branch1.conv.weight": torch.zeros(1)})


def test_torchvision_weights_load_into_a_fresh_2d_net(net2d, torchvision_state) -> None:
    fresh = InceptionV1(1000)
    assert load_imagenet(fresh, torchvision_state) == [""]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fresh.eval()(x), net2d(x), rtol=0, atol=0)


def test_to_torchvision_rejects_3d_kernels() -> None:
    with pytest.raises(ValueError, match="2D"):
        to_torchvision(InceptionI3d(num_classes=2).state_dict())


# --- inflation ----------------------------------------------------------------------------------------


def test_inflate_weight_repeats_and_divides() -> None:
    w = torch.randn(4, 3, 5, 5)
    inflated = inflate_weight(w, (4, 3, 7, 5, 5))
    assert inflated.shape == (4, 3, 7, 5, 5)
    torch.testing.assert_close(inflated.sum(dim=2), w)
    assert all(torch.equal(inflated[:, :, t], w / 7) for t in range(7))
    flow = inflate_weight(w, (4, 2, 7, 5, 5), average_channels=True)
    torch.testing.assert_close(flow[:, 1, 3], w.mean(dim=1) / 7)
    with pytest.raises(ValueError):
        inflate_weight(w, (4, 2, 7, 5, 5))  # only conv1 may change its input channels
    with pytest.raises(ValueError):
        inflate_weight(w, (4, 3, 3, 3, 3))


def test_inflated_i3d_takes_every_2d_tensor(net2d, torchvision_state) -> None:
    i3d = InceptionI3d(num_classes=1000)
    load_imagenet(i3d, torchvision_state)
    ours2d, ours3d = net2d.state_dict(), i3d.state_dict()
    assert set(ours2d) == set(ours3d)
    for key, w3 in ours3d.items():
        w2 = ours2d[key]
        if key.endswith("conv3d.weight"):
            torch.testing.assert_close(w3.sum(dim=2, keepdim=True), w2)  # each kernel divided by its depth
        else:
            assert torch.equal(w3, w2), key  # BN and the 1000-way logits copied
    assert i3d.Conv3d_1a_7x7.conv3d.weight.shape[2] == 7 and i3d.Mixed_4c.b2b.conv3d.weight.shape[2] == 3


def test_flow_conv1_is_the_channel_mean_of_the_rgb_kernel(torchvision_state) -> None:
    rgb = torchvision_state["conv1.conv.weight"]  # 64 x 3 x 7 x 7
    i3d_flow = InceptionI3d(num_classes=7, in_channels=2)
    load_imagenet(i3d_flow, torchvision_state)
    w = i3d_flow.Conv3d_1a_7x7.conv3d.weight
    assert w.shape == (64, 2, 7, 7, 7)
    torch.testing.assert_close(w, (rgb.mean(dim=1) / 7)[:, None, None].expand(-1, 2, 7, -1, -1))
    flow2d = build("two_stream", num_classes=7, stream="flow")
    load_imagenet(flow2d, torchvision_state)
    assert flow2d.Conv3d_1a_7x7.conv3d.weight.shape == (64, 20, 1, 7, 7)
    torch.testing.assert_close(flow2d.Conv3d_1a_7x7.conv3d.weight[:, 13, 0], rgb.mean(dim=1))
    assert torch.count_nonzero(i3d_flow.logits.conv3d.bias) == 0  # 7 classes: the head keeps its init


@pytest.mark.parametrize(("arch", "parts"), [("lstm", ["cnn"]), ("two_stream", ["rgb", "flow"]),
                                             ("fused", ["rgb", "flow"]), ("i3d", ["rgb", "flow"])])
def test_every_inception_architecture_takes_imagenet(arch, parts, torchvision_state) -> None:
    with torch.device("meta"):
        model = build(arch, num_classes=5)
    model.to_empty(device="cpu")
    assert load_imagenet(model, torchvision_state) == parts


def test_c3d_has_nothing_to_take() -> None:
    with torch.device("meta"):
        model = build("c3d")
    with pytest.raises(ValueError, match="no Inception-V1"):
        load_imagenet(model, {})


# --- boring-video fixed point -------------------------------------------------------------------------


def _pad_time_by_replication(x, kernel, stride, value):
    """TF-SAME padding, but time is padded by repeating the end frames (space as before)."""
    (tb, ta), (hb, ha), (wb, wa) = (same_padding(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride))
    x = F.pad(x, (0, 0, 0, 0, tb, ta), mode="replicate")
    return F.pad(x, (wb, wa, hb, ha), value=value), (0, 0, 0)


def _boring(frame: torch.Tensor, frames: int) -> torch.Tensor:
    return frame.unsqueeze(2).expand(-1, -1, frames, -1, -1).contiguous()


def test_boring_video_fixed_point_with_replicate_padding(net2d, torchvision_state, monkeypatch) -> None:
    """A video of one repeated frame gives the 2D net's response to that frame, at every time step."""
    i3d = InceptionI3d(num_classes=1000)
    load_imagenet(i3d, torchvision_state)
    i3d.eval()
    monkeypatch.setattr(layers, "_pad_same", _pad_time_by_replication)
    torch.manual_seed(1)
    frame = torch.randn(1, 3, 40, 40)
    with torch.no_grad():
        maps2d, logits2d = net2d.backbone(frame), net2d(frame)
        video = _boring(frame, 16)
        maps3d, logits3d = i3d.backbone(video), i3d(video)
    assert maps3d.shape[2] == 2
    scale = maps2d.abs().max().item()
    for t in range(maps3d.shape[2]):
        torch.testing.assert_close(maps3d[:, :, t:t + 1], maps2d, rtol=1e-4, atol=1e-4 * scale)
    torch.testing.assert_close(logits3d, logits2d, rtol=1e-4, atol=1e-4 * logits2d.abs().max().item())


def test_boring_video_fixed_point_in_the_interior_with_zero_padding(net2d, torchvision_state) -> None:
    """With the model's own zero (SAME) padding, time steps whose receptive field misses the padding are exact."""
    i3d = InceptionI3d(num_classes=1000)
    load_imagenet(i3d, torchvision_state)
    i3d.eval()
    stem = ("Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3")
    torch.manual_seed(2)
    x2d = torch.randn(1, 3, 1, 24, 24)
    x3d = _boring(x2d[:, :, 0], 16)
    with torch.no_grad():
        for name in stem:
            x2d, x3d = getattr(net2d, name)(x2d), getattr(i3d, name)(x3d)
    # conv1 (k7, s2, 2 frames padded before, 3 after) leaves 8 steps, 1..5 unpadded; conv 2c (k3) then 2..4
    assert x3d.shape[2] == 8
    for t in (2, 3, 4):
        torch.testing.assert_close(x3d[:, :, t:t + 1], x2d, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(x3d[:, :, :1], x2d, rtol=1e-2, atol=1e-2)  # the end steps see the zeros
