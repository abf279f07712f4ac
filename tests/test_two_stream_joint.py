"""The paper's Two-Stream is trained end to end through the averaging of its streams (§2.3); I3D's streams are not."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from i3d.data.sampling import eval_indices, frame_indices, train_start
from i3d.models.registry import model_sampling
from i3d.models import TwoStream, build, get_spec
from i3d.models.registry import JOINT_STREAM
from i3d.train.loop import step_loss


def test_registry_trains_two_stream_rgb_flow_as_one_network_and_i3d_streams_apart() -> None:
    two_stream, i3d = get_spec("two_stream"), get_spec("i3d")
    assert two_stream.fusion == "joint" and two_stream.model_streams() == ["rgb", "flow", JOINT_STREAM]
    assert i3d.fusion == "late" and i3d.model_streams() == ["rgb", "flow"]
    assert isinstance(build("two_stream", num_classes=3, stream=JOINT_STREAM), TwoStream)


@pytest.mark.parametrize("threads", [1, 2])
def test_joint_two_stream_step_backpropagates_one_loss_into_both_streams(threads: int) -> None:
    """The extra model the workflow trains for two_stream takes both inputs; its one loss is the
    cross-entropy of the mean of the two streams' logits, and it reaches both streams' first layers."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    spec = get_spec("two_stream")
    (joint,) = set(spec.model_streams()) - set(spec.streams)
    model = build("two_stream", num_classes=3, stream=joint, dropout=0.0).train()
    sampling = model_sampling("two_stream", joint, "train")
    inputs = [torch.randn(2, {"rgb": 3, "flow": 2}[s], sampling[s].frames, 32, 32) for s in spec.inputs(joint)]
    labels = torch.tensor([0, 2])
    loss, logits = step_loss(model, inputs, labels, spec.loss)
    loss.backward()
    with torch.no_grad():  # train-mode BN on the same batch, no dropout: the same logits again
        mean = (model.rgb(inputs[0]) + model.flow(inputs[1])) / 2
    torch.testing.assert_close(logits, mean)
    torch.testing.assert_close(loss, F.cross_entropy(mean, labels))
    for stream in (model.rgb, model.flow):
        assert stream.Conv3d_1a_7x7.conv3d.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("frames_scale", [1.0, 0.25])
def test_joint_two_stream_inputs_share_their_starts(frames_scale: float) -> None:
    """Training: one RGB frame at the start of its 10-frame flow stack. Test: 25 RGB frames and 25 flow
    stacks at the same 25 starts over the clip (flow field j lies between RGB frames j and j + 1)."""
    lengths = {"rgb": 250, "flow": 249}
    train = model_sampling("two_stream", JOINT_STREAM, "train", frames_scale)
    start = train_start(lengths, train, np.random.default_rng(0))
    rgb, flow = (frame_indices(start, train[s], lengths[s]) for s in ("rgb", "flow"))
    assert rgb.tolist() == [start] and flow.tolist() == list(range(start, start + 10))
    test = eval_indices(lengths, model_sampling("two_stream", JOINT_STREAM, "test", frames_scale))
    assert test["rgb"].shape == (25, 1) and test["flow"].shape == (25, 10)
    assert np.array_equal(test["rgb"][:, 0], test["flow"][:, 0])
    assert np.all(np.diff(test["flow"], axis=1) == 1) and test["flow"].max() < lengths["flow"]
