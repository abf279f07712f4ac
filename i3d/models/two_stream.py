"""Two-stream models: the generic late-fusion wrapper, and the paper's 2D Two-Stream (model (c), 12M).

:class:`TwoStream` averages the logits of an RGB and a flow network; it is the RGB+Flow model of both
``two_stream`` (2D Inception-V1 streams, trained as one network) and ``i3d`` (the two I3D streams, trained
separately and averaged at test, as in the paper).

The 2D Two-Stream (Simonyan & Zisserman with Inception-V1, Table 1):

- RGB stream: :func:`rgb_stream`, a 2D Inception-V1 on single frames, B x 3 x T x H x W in [-1, 1].
  Training: T = 1 frame. Test: 25 frames sampled uniformly over the clip (registry ``test`` sampling,
  ``samples=25``), logits averaged. The network classifies every frame separately and ``forward``
  averages over T, so a B x 3 x 25 x H x W input gives the same average.
- Flow stream: :func:`flow_stream`, a 2D Inception-V1 whose conv1 takes 10 stacked flow frames
  (20 channels, x/y interleaved per frame), B x 2 x 10S x H x W. Training: one stack of 10 consecutive
  flow frames (0.4 s). Test: 25 stacks sampled uniformly (250 flow frames), logits averaged.

RGB+Flow is trained as the paper trains it (§2.3): end to end, including the averaging, i.e. one
cross-entropy on the mean of the two streams' logits (registry ``fusion="joint"``; ``build`` with
``stream="rgb+flow"``). The RGB and Flow columns of Table 2 come from single-stream models of the same
design, trained on their own.
"""
from __future__ import annotations

import torch
from torch import nn

from i3d.models.inception import InceptionV1

FLOW_STACK = 10
"""Flow frames stacked into one 2D flow-stream input (20 channels)."""


class TwoStream(nn.Module):
    """Holds ``rgb`` and ``flow`` networks; ``forward(rgb, flow)`` returns the mean of their logits.

    DeepMind's evaluation adds the two streams' logits with equal weight (``rgb_logits + flow_logits``);
    the mean is that sum halved, so it ranks classes identically while staying on one stream's logit
    scale. Softmax, if wanted, is applied by the caller to the fused logits.
    """

    def __init__(self, rgb: nn.Module, flow: nn.Module) -> None:
        super().__init__()
        self.rgb = rgb
        self.flow = flow

    def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return (self.rgb(rgb) + self.flow(flow)) / 2

    def features(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """The two streams' features side by side, B x (D_rgb + D_flow): all the fused logits depend on."""
        return torch.cat([self.rgb.features(rgb), self.flow.features(flow)], dim=1)

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        """The mean of the streams' classifiers, each on its half of :meth:`features` (one linear map)."""
        rgb, flow = features.tensor_split(2, dim=1)  # both streams are Inception-V1s: 1024 + 1024
        return (self.rgb.classifier(rgb) + self.flow.classifier(flow)) / 2


def rgb_stream(num_classes: int = 400, dropout: float = 0.5, *, bn_momentum: float = 0.01) -> InceptionV1:
    """2D Inception-V1 on RGB frames (6.01M parameters at 400 classes)."""
    return InceptionV1(num_classes, 3, dropout, bn_momentum=bn_momentum)


def flow_stream(num_classes: int = 400, dropout: float = 0.5, *, bn_momentum: float = 0.01) -> InceptionV1:
    """2D Inception-V1 on stacks of 10 flow frames, 20 input channels (6.06M parameters at 400 classes)."""
    return InceptionV1(num_classes, 2, dropout, stack=FLOW_STACK, bn_momentum=bn_momentum)
