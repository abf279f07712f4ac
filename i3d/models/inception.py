"""Inception-V1 with batch norm (GoogLeNet widths, TF-slim style), 2D or inflated to 3D, from one definition.

The paper builds four of its five models on "Inception-V1 with batch normalization": per-frame 2D nets
(ConvNet+LSTM, Two-Stream, 3D-Fused) and the inflated I3D. Here the 2D net *is* the I3D layer list with
every temporal kernel and stride set to 1, applied to B x C x T x H x W: each frame goes through the
network independently, so "25 frames averaged" or "features per frame" need no reshaping. Sharing the
definition also means one key mapping serves both: module names are the TF endpoint names of
deepmind/kinetics-i3d (``Conv3d_1a_7x7``, ``Mixed_3b.b1b``, ...) in 2D as in 3D, and
:func:`to_torchvision` / :func:`from_torchvision` translate them to torchvision's GoogLeNet keys
(``conv1.conv.weight``, ``inception3a.branch2.1.bn.running_mean``, ``fc.weight``) so that
``googlenet-1378be20.pth`` can initialise every model (see ``inflate.py``).

Input: frames scaled to [-1, 1] (torchvision's ImageNet weights expect that, with its
``transform_input``; so do I3D's checkpoints). ``stack`` > 1 folds that many consecutive frames into
channels before conv1 (the 2D flow stream: 10 flow frames x (x, y) = 20 channels).
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import ClassVar

import torch
from torch import nn

from i3d.models.layers import (
    InceptionBlock,
    MaxPool3dSame,
    Triple,
    Unit3D,
    adaptive_avg_pool,
    stack_frames,
)

MIXED_CHANNELS: dict[str, tuple[int, int, tuple[int, int], tuple[int, int], int]] = {
    # name: (in, b0, (b1 1x1, b1 3x3), (b2 1x1, b2 3x3), b3); GoogLeNet widths.
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


def _kernel(t: int, hw: int, inflated: bool) -> Triple:
    return (t if inflated else 1, hw, hw)


class InceptionV1(nn.Module):
    """Inception-V1: conv1 ... Mixed_5c, then (with ``num_classes``) average pool -> dropout -> logits.

    ``inflated=False`` (2D): temporal kernels and strides 1, so each frame (or flow stack) goes through
    separately and the Mixed_5c map is B x 1024 x T/stack x ceil(H/32) x ceil(W/32). ``inflated=True``
    (I3D): temporal kernels 7 (conv1), 3 (conv 2c, the inception 3x3s and their pools), the paper's
    pools 1x3x3, 1x3x3, 3x3x3/2, 2x2x2/2, so T' = ceil(T/8). A 4-D input (B x C x H x W) is one frame.

    Head (absent when ``num_classes`` is None, for the LSTM and fused models that only need
    :meth:`backbone`): average pool 7x7 per frame in 2D (GoogLeNet's) or 2x7x7 stride 1 in I3D (the
    paper's), VALID at 224x224 input, its kernel clipped to the actual map so that small stand-in inputs
    get a global pool; dropout (``dropout`` is the *drop* probability); a 1x1x1 conv with bias, the
    logits. ``forward`` averages the per-time logits: for the 2D net that is Two-Stream's test-time
    average over frames (or flow stacks), for I3D the paper's average over time.
    """

    CLASSIFIER: ClassVar[str] = "logits"
    """The classifier's attribute name (absent without ``num_classes``); fine-tuning re-initialises it."""

    def __init__(
        self,
        num_classes: int | None = 400,
        in_channels: int = 3,
        dropout: float = 0.5,
        *,
        inflated: bool = False,
        stack: int = 1,
        bn_momentum: float = 0.01,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.inflated = inflated
        self.stack = stack
        self.final_pool: Triple = _kernel(2, 7, inflated)
        k = partial(_kernel, inflated=inflated)
        unit = partial(Unit3D, bn_momentum=bn_momentum)
        self.Conv3d_1a_7x7 = unit(in_channels * stack, 64, k(7, 7), k(2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = unit(64, 64, 1)
        self.Conv3d_2c_3x3 = unit(64, 192, k(3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.MaxPool3d_4a_3x3 = MaxPool3dSame(k(3, 3), k(2, 2))
        self.MaxPool3d_5a_2x2 = MaxPool3dSame(k(2, 2), k(2, 2))
        for name, (cin, b0, b1, b2, b3) in MIXED_CHANNELS.items():
            block = InceptionBlock(cin, b0, b1, b2, b3, temporal_kernel=k(3, 3)[0], bn_momentum=bn_momentum)
            self.add_module(name, block)
        if num_classes is not None:
            self.dropout = nn.Dropout(p=dropout)
            self.logits = Unit3D(FEATURE_DIM, num_classes, 1, activation=False, use_batch_norm=False,
                                 use_bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal convs, identity BN, small-normal zero-bias logits: a from-scratch start
        (``inflate.load_imagenet`` puts ImageNet weights in instead)."""
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if self.num_classes is not None:
            nn.init.normal_(self.logits.conv3d.weight, std=0.01)
            nn.init.zeros_(self.logits.conv3d.bias)

    def backbone(self, x: torch.Tensor) -> torch.Tensor:
        """The Mixed_5c feature map."""
        if x.dim() == 4:
            x = x.unsqueeze(2)
        x = stack_frames(x, self.stack)
        for name in ENDPOINTS:
            x = getattr(self, name)(x)
        return x

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        return adaptive_avg_pool(self.backbone(x), self.final_pool)

    def forward_per_time(self, x: torch.Tensor) -> torch.Tensor:
        """Logits per remaining time step (2D: per frame or flow stack), B x num_classes x T''."""
        logits = self.logits(self.dropout(self._pooled(x)))
        return logits.mean(dim=(3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits averaged over time, B x num_classes (softmax comes after the averaging)."""
        return self.forward_per_time(x).mean(dim=2)

    def features_per_time(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled Mixed_5c per remaining time step, B x 1024 x T'' (spatial positions averaged)."""
        return self._pooled(x).mean(dim=(3, 4))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-classifier features, B x 1024: the pooled Mixed_5c averaged over time. The logits conv is
        affine, so in eval mode ``classifier(features(x))`` is ``forward(x)`` (up to float rounding)."""
        return self.features_per_time(x).mean(dim=2)

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        """The logits layer (1x1x1 conv) on B x 1024 features, B x num_classes; no dropout (test time)."""
        return self.logits(features[:, :, None, None, None]).flatten(1)


def frame_features(net: InceptionV1, x: torch.Tensor) -> torch.Tensor:
    """Per-frame 1024-d features after GoogLeNet's last (7x7, clipped) average pool: B x 1024 x T'."""
    return adaptive_avg_pool(net.backbone(x), (1, 7, 7)).mean(dim=(3, 4))


# --- torchvision GoogLeNet key layout -------------------------------------------------------------------

_TV_UNITS = {"Conv3d_1a_7x7": "conv1", "Conv3d_2b_1x1": "conv2", "Conv3d_2c_3x3": "conv3"}
_TV_BLOCKS = dict(zip(MIXED_CHANNELS, ("inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
                                       "inception4d", "inception4e", "inception5a", "inception5b")))
_TV_BRANCHES = {"b0": "branch1", "b1a": "branch2.0", "b1b": "branch2.1", "b2a": "branch3.0", "b2b": "branch3.1",
                "b3b": "branch4.1"}


def _unit_prefixes() -> dict[str, str]:
    """Our unit prefix -> torchvision's BasicConv2d prefix."""
    pairs = dict(_TV_UNITS)
    for ours, tv in _TV_BLOCKS.items():
        pairs.update({f"{ours}.{b}": f"{tv}.{tb}" for b, tb in _TV_BRANCHES.items()})
    return pairs


TORCHVISION_UNITS: Mapping[str, str] = _unit_prefixes()
"""Each conv+BN unit's name here and in torchvision's GoogLeNet (e.g. ``Mixed_5b.b2b`` -> ``inception5a.branch3.1``)."""


def to_torchvision(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A 2D Inception-V1 state dict (temporal kernels 1) in torchvision GoogLeNet's key names and shapes.

    ``X.conv3d.weight`` (O x I x 1 x k x k) -> ``tv(X).conv.weight`` (O x I x k x k); ``X.bn.*`` ->
    ``tv(X).bn.*``; ``logits.conv3d.*`` -> ``fc.*``. Keys of other modules are not part of the layout and
    raise KeyError.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        prefix, layer, param = _split(key)
        if prefix == "logits":
            out[f"fc.{param}"] = value.flatten(1) if param == "weight" else value
            continue
        unit = TORCHVISION_UNITS[prefix]
        if layer == "conv3d":
            if value.shape[2] != 1:
                raise ValueError(f"{key} has temporal size {value.shape[2]}; only 2D weights have a torchvision layout")
            out[f"{unit}.conv.{param}"] = value.squeeze(2)
        else:
            out[f"{unit}.bn.{param}"] = value
    return out


def from_torchvision(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision GoogLeNet keys -> this module's 2D keys (the inverse of :func:`to_torchvision`).

    ``aux1.*`` / ``aux2.*`` (the auxiliary classifiers, which torchvision says are not pretrained) are
    dropped; any other unknown key raises KeyError, so a wrong file fails loudly.
    """
    inverse = {tv: ours for ours, tv in TORCHVISION_UNITS.items()}
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith(("aux1.", "aux2.")):
            continue
        if key in ("fc.weight", "fc.bias"):
            out[f"logits.conv3d.{key[3:]}"] = value[:, :, None, None, None] if value.dim() == 2 else value
            continue
        head, layer, param = key.rsplit(".", 2)
        if head not in inverse or layer not in ("conv", "bn"):
            raise KeyError(f"{key!r} is not a key of torchvision's GoogLeNet")
        if layer == "conv":
            out[f"{inverse[head]}.conv3d.{param}"] = value.unsqueeze(2)
        else:
            out[f"{inverse[head]}.bn.{param}"] = value
    return out


def _split(key: str) -> tuple[str, str, str]:
    """``Mixed_3b.b1a.bn.running_mean`` -> (``Mixed_3b.b1a``, ``bn``, ``running_mean``)."""
    prefix, layer, param = key.rsplit(".", 2)
    if layer not in ("conv3d", "bn"):
        raise KeyError(f"{key!r} is not a conv or batch-norm parameter of Inception-V1")
    return prefix, layer, param
