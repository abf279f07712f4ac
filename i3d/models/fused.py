"""3D-Fused Two-Stream (the paper's model (d), Table 1: 39M), after Feichtenhofer et al. (CVPR 2016).

Two 2D Inception-V1 streams without their heads; their last feature maps before the average pool
(1024 x 5 x 7 x 7 each at the paper's input) are concatenated (2048 channels) and fused by a 3x3x3 3D
convolution with 512 outputs (BN, ReLU), a 3x3x3 3D max-pool and a fully connected layer on the
average-pooled 512-d vector. Concatenation, not a sum, is what gives the paper's 39M (a sum: ~25M). The
max-pool's stride is not stated in the paper; 2 (TF-SAME) is used. The new layers start from Gaussian
noise, as in the paper; the streams from ImageNet.

Input, aligned in time, frames in [-1, 1] at 25 fps:

- RGB: B x 3 x 5 x H x W, 5 frames 10 apart (2 s in training).
- Flow: B x 2 x 50 x H x W, the 50 consecutive flow frames of those 2 s; the k-th stack of 10 goes with
  the k-th RGB frame (10 stacked frames = 20 channels, as in the 2D Two-Stream flow stream).

At test, 5 such samples spread uniformly over the clip (25 RGB frames, 250 flow frames, 10 s; registry
``test`` sampling, ``samples=5``), logits averaged. ``forward(rgb, flow)`` for the fused model;
``build("fused", stream="rgb")`` builds one stream with the same head (1024 channels into the fusion conv),
whose ``forward(x)`` takes that stream alone. On small stand-in inputs the 3D pool and the final average
adapt to whatever map is left.
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from i3d.models.inception import FEATURE_DIM, InceptionV1
from i3d.models.layers import MaxPool3dSame, Unit3D
from i3d.models.two_stream import FLOW_STACK

FUSION_CHANNELS = 512
STREAM_INPUTS: dict[str, tuple[int, int]] = {"rgb": (3, 1), "flow": (2, FLOW_STACK)}
"""Per stream: (channels of one frame, frames stacked per 2D input)."""


class Fused3D(nn.Module):
    """2D Inception-V1 streams fused by conv3d(3x3x3, 512) -> max-pool 3x3x3 -> average -> dropout -> FC."""

    CLASSIFIER: ClassVar[str] = "fc"
    """The classifier's attribute name; fine-tuning re-initialises it."""

    def __init__(
        self,
        num_classes: int = 400,
        streams: tuple[str, ...] = ("rgb", "flow"),
        dropout: float = 0.5,
        *,
        bn_momentum: float = 0.01,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.streams = tuple(streams)
        for name in self.streams:
            channels, stack = STREAM_INPUTS[name]
            self.add_module(name, InceptionV1(None, channels, stack=stack, bn_momentum=bn_momentum))
        self.fusion = Unit3D(FEATURE_DIM * len(self.streams), FUSION_CHANNELS, 3, bn_momentum=bn_momentum)
        self.pool = MaxPool3dSame(3, 2)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(FUSION_CHANNELS, num_classes)
        nn.init.normal_(self.fusion.conv3d.weight, std=0.01)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def features(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The pooled 512-d fused feature (B x 512), the classifier's input; one input per stream, in order."""
        if len(inputs) != len(self.streams):
            raise ValueError(f"expected {len(self.streams)} inputs ({', '.join(self.streams)}), got {len(inputs)}")
        maps = [getattr(self, name).backbone(x) for name, x in zip(self.streams, inputs)]
        if len({m.shape[2:] for m in maps}) > 1:
            raise ValueError(f"stream maps differ in size: {[tuple(m.shape[2:]) for m in maps]}; give 10 flow "
                             "frames per RGB frame")
        return self.pool(self.fusion(torch.cat(maps, dim=1))).mean(dim=(2, 3, 4))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Logits, B x num_classes; ``forward(rgb, flow)`` (or one input for a single-stream model)."""
        return self.fc(self.dropout(self.features(*inputs)))

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        """The fully connected layer on B x 512 features; no dropout (test time)."""
        return self.fc(features)
