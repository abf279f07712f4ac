"""The paper's five architectures: parameter counts (Table 1), registry entries, forward on small inputs.

Parameter counts need no forward pass; full-size shapes are traced on the meta device; real forward
passes use small stand-in inputs (48x48 crops, few frames).
"""
from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from i3d.models import (
    C3D,
    ArchSpec,
    ConvLSTM,
    Fused3D,
    InceptionV1,
    Sampling,
    TwoStream,
    build,
    count_parameters,
    get_spec,
    list_architectures,
)
from i3d.models.layers import stack_frames
from i3d.tables.assemble import paper_numbers

# Counts that faithful designs give (reference notes §2.6, §3), 400 classes, PyTorch affine BN.
TARGETS = {"lstm": 8_950_000, "c3d": 79_650_000, "two_stream": 12_070_000, "fused": 39_770_000, "i3d": 25_370_000}
EXACT = {
    ("c3d", None): 79_645_520,
    ("two_stream", "rgb"): 6_009_904,
    ("two_stream", "flow"): 6_063_216,
    ("two_stream", None): 12_073_120,
    ("fused", None): 39_770_896,
    ("i3d", None): 25_372_576,
}
BACKBONE_2D = 5_599_904  # 2D Inception-V1 without its classifier


def _meta(arch: str, **kwargs) -> torch.nn.Module:
    """Build on the meta device: parameters have shapes but no memory and no initialisation cost."""
    with torch.device("meta"):
        return build(arch, **kwargs)


@functools.cache
def _count(arch: str, stream: str | None = None, num_classes: int = 400) -> int:
    return count_parameters(_meta(arch, stream=stream, num_classes=num_classes))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- parameter counts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(TARGETS))
def test_parameter_count_within_half_a_percent(arch: str) -> None:
    params = _count(arch)
    assert abs(params / TARGETS[arch] - 1) < 0.005, params


@pytest.mark.parametrize(("arch", "stream"), list(EXACT))
def test_parameter_counts_of_the_faithful_designs(arch: str, stream: str | None) -> None:
    assert _count(arch, stream=stream) == EXACT[(arch, stream)]


def test_parameter_count_parts() -> None:
    with torch.device("meta"):
        assert count_parameters(InceptionV1(None)) == BACKBONE_2D
        lstm, fused = ConvLSTM(), Fused3D()
    assert count_parameters(lstm.fc) == 512 * 400 + 400
    # LSTM(1024 -> 512) weights without biases, plus BN scale/shift (its input BN shift is the gate bias)
    assert count_parameters(lstm.lstm) == 4 * 512 * (1024 + 512) + 2 * (2 * 2048) + 2 * 512
    assert count_parameters(fused.fusion) == 27 * 2048 * 512 + 2 * 512
    assert _count("fused", stream="rgb") == BACKBONE_2D + 27 * 1024 * 512 + 2 * 512 + 512 * 400 + 400


def test_parameter_counts_scale_with_classes() -> None:
    for arch, head_in in (("lstm", 512), ("c3d", 4096), ("fused", 512)):
        diff = _count(arch) - _count(arch, num_classes=10)
        assert diff == head_in * 390 + 390


# --- registry -----------------------------------------------------------------------------------------


def test_registry_has_the_five_in_table1_order() -> None:
    assert list_architectures() == ["lstm", "c3d", "two_stream", "fused", "i3d"]
    assert [get_spec(a).paper_name for a in list_architectures()] == [
        "ConvNet+LSTM", "3D-ConvNet", "Two-Stream", "3D-Fused", "Two-Stream I3D"]
    for arch in list_architectures():
        spec = get_spec(arch)
        assert isinstance(spec, ArchSpec)
        assert set(spec.train) == set(spec.test) == set(spec.streams)


@pytest.mark.parametrize("arch", ["lstm", "c3d", "two_stream", "fused", "i3d"])
def test_sampling_reproduces_table1_footprints(arch: str) -> None:
    """Training span at 25 fps is the paper's train footprint; test frames are the paper's test input."""
    paper = paper_numbers("table1").set_index("architecture").loc[arch]
    spec = get_spec(arch)
    assert max(s.span for s in spec.train.values()) / 25 == pytest.approx(paper.train_footprint_s)
    train_input = ", ".join(f"{spec.train[s].frames} {s}" for s in spec.streams)
    assert train_input == paper.train_input
    test_frames = {s: spec.test[s].frames * spec.test[s].samples for s in spec.streams}
    expected = {s: int(n) for n, s in (part.split() for part in paper.test_input.split(", "))}
    if arch == "i3d":  # the whole clip, convolutionally (250 frames for 10 s)
        assert all(spec.test[s] == Sampling(0) for s in spec.streams)
    else:
        assert test_frames == expected


def test_spec_training_and_test_behaviour() -> None:
    assert get_spec("lstm").loss == "per_step" and get_spec("lstm").test["rgb"] == Sampling(50, stride=5)
    assert all(get_spec(a).fusion == "joint" for a in ("two_stream", "fused")) and get_spec("i3d").fusion == "late"
    assert get_spec("c3d").crop_size == 112 and not get_spec("c3d").imagenet_init
    assert all(get_spec(a).imagenet_init for a in ("lstm", "two_stream", "fused", "i3d"))


def test_builders_take_the_training_options() -> None:
    for arch in ("lstm", "c3d", "two_stream", "fused"):
        model = _meta(arch, num_classes=3, stream=get_spec(arch).streams[-1], dropout=0.2, bn_momentum=0.1)
        bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        assert bns and all(m.momentum == 0.1 and m.eps == pytest.approx(1e-3) for m in bns)
        assert all(m.p == 0.2 for m in model.modules() if isinstance(m, torch.nn.Dropout))


def test_whole_models() -> None:
    assert isinstance(_meta("two_stream"), TwoStream)
    assert isinstance(_meta("fused"), Fused3D) and _meta("fused").streams == ("rgb", "flow")
    assert isinstance(_meta("lstm"), ConvLSTM) and isinstance(_meta("c3d", stream="rgb"), C3D)
    with pytest.raises(ValueError, match="rgb"):
        build("lstm", stream="flow")


# --- forward on small inputs --------------------------------------------------------------------------

SMALL = {
    ("lstm", "rgb"): [(2, 3, 4, 48, 48)],
    ("c3d", "rgb"): [(2, 3, 8, 32, 32)],
    ("two_stream", "rgb"): [(2, 3, 1, 48, 48)],
    ("two_stream", "flow"): [(2, 2, 10, 48, 48)],
    ("two_stream", None): [(2, 3, 1, 48, 48), (2, 2, 10, 48, 48)],
    ("fused", None): [(2, 3, 2, 32, 32), (2, 2, 20, 32, 32)],
    ("i3d", "flow"): [(2, 2, 16, 48, 48)],
}


@pytest.mark.parametrize(("arch", "stream"), list(SMALL))
def test_forward_and_backward_on_small_inputs(arch: str, stream: str | None) -> None:
    torch.manual_seed(0)
    model = build(arch, num_classes=5, stream=stream)
    xs = [torch.randn(shape) for shape in SMALL[(arch, stream)]]
    with torch.no_grad():
        out = model.eval()(*xs)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    model.train()(*xs).logsumexp(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_lstm_training_on_every_step_learns() -> None:
    """The paper's LSTM loss: cross-entropy at every time step (registry ``loss="per_step"``)."""
    torch.manual_seed(0)
    model = build("lstm", num_classes=3, dropout=0.0).train()
    x, y = torch.randn(2, 3, 3, 32, 32), torch.tensor([0, 2])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    losses = []
    for _ in range(3):
        per_step = model.forward_per_time(x)
        loss = F.cross_entropy(per_step, y[:, None].expand(-1, per_step.shape[2]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_lstm_outputs_every_step_and_tests_on_the_last() -> None:
    torch.manual_seed(0)
    model = ConvLSTM(num_classes=4).eval()
    torch.nn.init.normal_(model.fc.weight, std=0.5)
    x = torch.randn(2, 3, 5, 32, 32)
    with torch.no_grad():
        per_step = model.forward_per_time(x)
        assert per_step.shape == (2, 4, 5)
        torch.testing.assert_close(model(x), per_step[:, :, -1])
        # causal: the first steps do not depend on later frames
        x2 = x.clone()
        x2[:, :, -1] = 0
        torch.testing.assert_close(model.forward_per_time(x2)[:, :, :4], per_step[:, :, :4])


def test_c3d_pool5_map_at_the_paper_input() -> None:
    with torch.device("meta"):
        model = C3D()
    assert model.backbone(torch.empty(1, 3, 16, 112, 112, device="meta")).shape == (1, 512, 1, 4, 4)
    x = torch.empty(1, 3, 16, 112, 112, device="meta")
    for name in ("conv1a", "pool1"):
        x = getattr(model, name)(x)
    assert x.shape == (1, 64, 8, 56, 56)  # pool1 halves time: the paper's change to C3D


def test_stack_frames_interleaves_x_and_y_per_frame() -> None:
    x = torch.arange(2 * 6).float().reshape(1, 2, 6, 1, 1)  # channel c, frame t -> 6c + t
    stacked = stack_frames(x, 3)
    assert stacked.shape == (1, 6, 2, 1, 1)
    assert stacked[0, :, 0, 0, 0].tolist() == [0, 6, 1, 7, 2, 8]  # x1 y1 x2 y2 x3 y3 of the first stack
    assert stacked[0, :, 1, 0, 0].tolist() == [3, 9, 4, 10, 5, 11]
    with pytest.raises(ValueError):
        stack_frames(x, 4)


def test_two_stream_averages_frames_and_flow_stacks() -> None:
    torch.manual_seed(0)
    model = build("two_stream", num_classes=4).eval()
    torch.nn.init.normal_(model.rgb.logits.conv3d.weight, std=0.5)
    torch.nn.init.normal_(model.flow.logits.conv3d.weight, std=0.5)
    assert model.flow.Conv3d_1a_7x7.conv3d.weight.shape == (64, 20, 1, 7, 7)
    rgb, flow = torch.randn(1, 3, 3, 32, 32), torch.randn(1, 2, 20, 32, 32)
    with torch.no_grad():
        frames = torch.stack([model.rgb(rgb[:, :, i]) for i in range(3)]).mean(0)
        torch.testing.assert_close(model.rgb(rgb), frames, rtol=1e-4, atol=1e-5)
        stacks = (model.flow(flow[:, :, :10]) + model.flow(flow[:, :, 10:])) / 2
        torch.testing.assert_close(model.flow(flow), stacks, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model(rgb, flow), (frames + stacks) / 2, rtol=1e-4, atol=1e-5)


def test_fused_maps_at_the_paper_input_and_alignment() -> None:
    with torch.device("meta"):
        model = Fused3D()
    rgb = model.rgb.backbone(torch.empty(1, 3, 5, 224, 224, device="meta"))
    flow = model.flow.backbone(torch.empty(1, 2, 50, 224, 224, device="meta"))
    assert rgb.shape == flow.shape == (1, 1024, 5, 7, 7)  # the paper's 5x7x7 grids
    assert model.fusion(torch.cat([rgb, flow], 1)).shape == (1, 512, 5, 7, 7)
    with pytest.raises(ValueError, match="10 flow"):
        model(torch.empty(1, 3, 5, 64, 64, device="meta"), torch.empty(1, 2, 40, 64, 64, device="meta"))
    with pytest.raises(ValueError, match="2 inputs"):
        model(torch.empty(1, 3, 5, 64, 64, device="meta"))


# --- Table 1 ------------------------------------------------------------------------------------------


def test_table1_lists_our_counts_and_inputs_beside_the_papers(tmp_path) -> None:
    from i3d.tables.table1 import write_table1

    df = write_table1(tmp_path / "table1", ["lstm", "two_stream", "c3d"], frames_scale={"lstm": 0.25},
                      crop_size=48).set_index("architecture")
    assert df.loc["two_stream", "params"] == 12_073_120 and df.loc["two_stream", "paper_params_m"] == 12
    assert abs(df.loc["lstm", "params_vs_rederived_pct"]) < 0.5
    assert df.loc["lstm", "train_input"] == "25 rgb (1 frame in 5)" and df.loc["lstm", "train_footprint_s"] == 5.0
    assert df.loc["two_stream", "test_input"] == "25 rgb (25 x 1), 250 flow (25 x 10)"
    # this run: the LSTM's clips shortened to a quarter, flow stacks kept whole, C3D at half the crop
    assert df.loc["lstm", "run_train_input"] == "6 rgb (1 frame in 5)" and df.loc["lstm", "run_train_footprint_s"] == 1.2
    assert df.loc["two_stream", "run_train_input"] == "1 rgb, 10 flow"
    assert df.loc["c3d", "run_crop"] == 24 and df.loc["c3d", "paper_crop"] == 112
    md = (tmp_path / "table1.md").read_text()
    assert "| Two-Stream | 12.07 | 12 |" in md and "ConvNet+LSTM" in md and "shortens clips" in md
