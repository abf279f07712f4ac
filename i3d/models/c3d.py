"""3D-ConvNet (the paper's model (b), Table 1: 79M): a small variation of C3D, trained from scratch.

8 convs (3x3x3, TF-SAME, BN, ReLU), 5 max-pools, fc6 and fc7 (4096, BN, ReLU, dropout) and the
classifier. The paper's change to C3D is the first pool's temporal stride of 2 (C3D: 1), so a
16 x 112 x 112 clip leaves pool5 at 512 x 1 x 4 x 4 = 8192 features (SAME pools keep the 4x4; VALID
ones would give 65M parameters instead of 79M). With BN after them, the convs and FC layers have no bias.

Input (RGB only): B x 3 x 16 x 112 x 112, consecutive frames at 25 fps (0.64 s) in [-1, 1]. At test the
paper uses 240 frames: 15 clips of 16 frames whose logits are averaged (registry ``test`` sampling,
``samples=15``). On smaller stand-in inputs pool5's map is average-pooled (or repeated) to 1 x 4 x 4 so
that fc6 keeps its size.
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from i3d.models.layers import BN_EPS, MaxPool3dSame, Unit3D

CONVS: tuple[tuple[str, int], ...] = (
    ("conv1a", 64), ("pool1", 0), ("conv2a", 128), ("pool2", 0), ("conv3a", 256), ("conv3b", 256), ("pool3", 0),
    ("conv4a", 512), ("conv4b", 512), ("pool4", 0), ("conv5a", 512), ("conv5b", 512), ("pool5", 0),
)
"""Layers in forward order with their output channels (0 for pools); every pool is 2x2x2 stride 2 except
pool1, which C3D makes 1x2x2 and the paper makes 2x2x2."""

POOL5_MAP: tuple[int, int, int] = (1, 4, 4)
FC_DIM = 4096


class C3D(nn.Module):
    """The paper's C3D-like 3D ConvNet; ``forward`` returns B x num_classes logits for one clip."""

    CLASSIFIER: ClassVar[str] = "fc8"
    """The classifier's attribute name; fine-tuning re-initialises it."""

    def __init__(
        self, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.5, *, bn_momentum: float = 0.01
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        channels = in_channels
        for name, out in CONVS:
            if out:
                self.add_module(name, Unit3D(channels, out, 3, bn_momentum=bn_momentum))
                channels = out
            else:
                self.add_module(name, MaxPool3dSame(2, 2))
        features = channels * POOL5_MAP[0] * POOL5_MAP[1] * POOL5_MAP[2]
        self.fc6 = nn.Linear(features, FC_DIM, bias=False)
        self.bn6 = nn.BatchNorm1d(FC_DIM, eps=BN_EPS, momentum=bn_momentum)
        self.fc7 = nn.Linear(FC_DIM, FC_DIM, bias=False)
        self.bn7 = nn.BatchNorm1d(FC_DIM, eps=BN_EPS, momentum=bn_momentum)
        self.dropout = nn.Dropout(p=dropout)
        self.fc8 = nn.Linear(FC_DIM, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal convs and FCs, identity BN, small-normal classifier: trained from scratch."""
        for module in self.modules():
            if isinstance(module, (nn.Conv3d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            elif isinstance(module, (nn.BatchNorm3d, nn.BatchNorm1d)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.fc8.weight, std=0.01)
        nn.init.zeros_(self.fc8.bias)

    def backbone(self, x: torch.Tensor) -> torch.Tensor:
        """pool5's map, brought to 512 x 1 x 4 x 4 (already that size at 16 x 112 x 112)."""
        for name, _ in CONVS:
            x = getattr(self, name)(x)
        if tuple(x.shape[2:]) != POOL5_MAP:
            x = F.adaptive_avg_pool3d(x, POOL5_MAP)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """fc7's output (B x 4096), the classifier's input, for linear probes."""
        x = self.backbone(x).flatten(1)
        x = self.dropout(F.relu(self.bn6(self.fc6(x))))
        return F.relu(self.bn7(self.fc7(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc8(self.dropout(self.features(x)))

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        """fc8 on B x 4096 features; no dropout (test time)."""
        return self.fc8(features)
