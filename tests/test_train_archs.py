"""The trainer and predictor follow each architecture's registry entry: per-step loss, joint RGB+Flow, ImageNet init.

Tiny shards (5 clips, 32x40 frames) and one epoch check the code paths; on 20 clips with unbalanced classes,
the accuracies training and predict report are checked against the predictions themselves (whether the
architectures learn is tests/test_learning.py's job).
"""
from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from i3d.data.shards import ShardWriter, encode_jpeg, stack_flow_image
from i3d.data.validation import carve_validation
from i3d.models.clip_outputs import clip_logits
from i3d.evaluate.predict import predict, read_predictions
from i3d.models import InceptionV1, build
from i3d.models.inception import to_torchvision
from i3d.train.checkpoints import load
from i3d.train.loop import TrainConfig, initialise, step_loss, train

CLIPS = [("c0", 0, "train"), ("c1", 1, "train"), ("c2", 0, "train"), ("c3", 1, "test"), ("c4", 0, "test")]
# 8 + 4 training clips: unbalanced, so that even a model that always answers one class has a validation
# top-1 (4/6 or 2/6) that a wrongly scored validation would not reproduce
EASY_CLIPS = [(f"e{k}", int(k >= 8), "train") for k in range(12)] + [(f"e{k}", k % 2, "test") for k in range(12, 20)]


class PerTime(nn.Module):
    """Fixed per-time logits B x 3 x 2, to check how the loss uses them."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward_per_time(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # never used by a per-step loss
        raise AssertionError("per-step training must not call forward")


def test_per_step_loss_is_the_mean_over_time_steps():
    logits = torch.randn(2, 3, 4)
    labels = torch.tensor([2, 0])
    loss, last = step_loss(PerTime(logits), [torch.zeros(2)], labels, "per_step")
    expected = torch.stack([F.cross_entropy(logits[:, :, t], labels) for t in range(4)]).mean()
    assert torch.allclose(loss, expected) and torch.equal(last, logits[:, :, -1])


def test_clip_loss_uses_forward():
    model = nn.Linear(5, 3)
    x, labels = torch.randn(4, 5), torch.tensor([0, 1, 2, 0])
    loss, logits = step_loss(model, [x], labels, "clip")
    assert torch.allclose(loss, F.cross_entropy(model(x), labels)) and logits.shape == (4, 3)


class Linear(nn.Linear):
    """A linear model split as the architectures are: identity features, then the classifier."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        return self(features)


def test_clip_logits_average_the_test_samples():
    model = Linear(2, 3)
    samples = torch.randn(5, 2)
    assert torch.allclose(clip_logits(model, [samples]), model(samples).mean(0))


def write_data(root, clips):
    """RGB and flow shards of ``clips`` (24 frames: brightness codes the class) and their manifest."""
    rgb, flow = ShardWriter(root / "rgb.h5", "rgb"), ShardWriter(root / "flow.h5", "flow")
    rng = np.random.default_rng(0)
    for clip_id, label, _ in clips:
        frames = [encode_jpeg(rng.integers(0, 60, (32, 40, 3), dtype=np.uint8) + 150 * label) for _ in range(24)]
        rgb.add_clip(clip_id, label, frames, 25.0, 32, 40)
        q = np.full((32, 40, 2), 128 + 40 * label, dtype=np.uint8)
        flow.add_clip(clip_id, label, [encode_jpeg(stack_flow_image(q))] * 23, 25.0, 32, 40)
    rgb.close()
    flow.close()
    manifest = root / "manifest.csv"
    pd.DataFrame([{"clip_id": c, "label_index": label, "split1": subset} for c, label, subset in clips]) \
        .to_csv(manifest, index=False)
    return root, manifest, {"rgb": [root / "rgb.h5"], "flow": [root / "flow.h5"]}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("data"), CLIPS)


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("easy"), EASY_CLIPS)


@pytest.mark.parametrize("threads", [1, 2])
def test_reported_accuracies_are_those_of_the_predictions(easy, tmp_path, threads):
    """predict's top-1 is its written logits' accuracy, and training's validation top-1 of the saved epoch is
    what predict scores on the validation clips (the same test sampling, center crop and eval mode)."""
    _, manifest, shards = easy
    cfg = TrainConfig(arch="two_stream", stream="rgb", num_classes=2, epochs=2, batch_size=2, frames_scale=0.1,
                      crop_size=32, val_fraction=0.5)
    model_path = train(cfg, manifest, shards, 1, tmp_path, threads=threads, progress=False)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    table = pd.read_csv(manifest)
    val = carve_validation(table, 1, cfg.val_fraction)
    val_as_test = tmp_path / "val_as_test.csv"
    table.assign(split1=np.where(table.clip_id.isin(val), "test", "none")).to_csv(val_as_test, index=False)
    scored = {}
    for name, clips in (("test", manifest), ("val", val_as_test)):
        out = tmp_path / f"{name}.h5"
        top1 = predict(model_path, clips, shards, 1, out, crop_size=32, threads=threads, progress=False)
        ids, labels, logits = read_predictions(out)
        assert top1 == 100.0 * float(np.mean(logits.argmax(1) == labels))
        scored[name] = (set(ids), top1)
    print(f"threads={threads}: val top-1 {metrics.val_top1.tolist()}, selected {metrics.selected.tolist()}, "
          f"predicted {scored}")
    assert scored["test"][0] == {c for c, _, subset in EASY_CLIPS if subset == "test"} and scored["val"][0] == val
    assert len(val) == 6 and metrics.val_top1[metrics.selected].item() == pytest.approx(scored["val"][1], abs=1e-9)


def test_joint_fused_model_trains_and_predicts_on_both_streams(data, tmp_path):
    _, manifest, shards = data
    cfg = TrainConfig(arch="fused", stream="rgb+flow", num_classes=2, epochs=1, batch_size=3, frames_scale=0.4,
                      crop_size=32, lr=0.01)
    model_path = train(cfg, manifest, shards, 1, tmp_path / "fused", progress=False)
    assert pd.read_csv(tmp_path / "fused" / "metrics.csv").val_top1.notna().all()  # validated on both streams
    state = load(model_path)
    assert state["config"]["stream"] == "rgb+flow" and "fusion.conv3d.weight" in state["model"]
    assert {k.split(".")[0] for k in state["model"]} >= {"rgb", "flow", "fusion", "fc"}
    out = tmp_path / "fused" / "predictions.h5"
    top1 = predict(model_path, manifest, shards, 1, out, crop_size=32, progress=False,
                   attrs={"dataset": "ucf101", "init": "scratch", "data": "stand-in"})
    ids, labels, logits = read_predictions(out)
    assert ids == ["c3", "c4"] and labels.tolist() == [1, 0] and logits.shape == (2, 2)
    assert top1 == 100.0 * float(np.mean(logits.argmax(1) == labels))
    with h5py.File(out) as f:
        assert f.attrs["stream"] == "rgb+flow" and f.attrs["frames_scale"] == 0.4 and f.attrs["input_size"] == 32


def fake_googlenet() -> dict[str, torch.Tensor]:
    """A state dict in torchvision GoogLeNet's layout (1000 classes), made from our own 2D Inception-V1."""
    torch.manual_seed(3)
    net = InceptionV1(1000)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.uniform_(-0.1, 0.1)
    return to_torchvision(net.state_dict())


def test_lstm_trains_per_step_from_imagenet(data, tmp_path):
    _, manifest, shards = data
    weights = tmp_path / "googlenet.pth"
    torch.save(fake_googlenet(), weights)
    cfg = TrainConfig(arch="lstm", stream="rgb", num_classes=2, epochs=1, batch_size=3, frames_scale=0.16,
                      crop_size=32, init="imagenet", val_fraction=0.0)
    model_path = train(cfg, manifest, shards, 1, tmp_path / "lstm", imagenet=weights, progress=False)
    metrics = pd.read_csv(tmp_path / "lstm" / "metrics.csv")
    assert metrics.clips.tolist() == [3] and np.isfinite(metrics.train_loss).all()
    assert load(model_path)["config"]["init"] == "imagenet"


def test_imagenet_init_loads_googlenet_and_needs_the_file(tmp_path):
    model = build("two_stream", num_classes=5, stream="rgb")
    state = fake_googlenet()
    with pytest.raises(ValueError, match="needs the torchvision GoogLeNet"):
        initialise(model, "imagenet", None)
    path = tmp_path / "g.pth"
    torch.save(state, path)
    initialise(model, "imagenet", path)
    assert torch.equal(model.Conv3d_1a_7x7.conv3d.weight[:, :, 0], state["conv1.conv.weight"])
    with pytest.raises(ValueError, match="no Inception-V1 part"):
        initialise(build("c3d", num_classes=5), "imagenet", path)
