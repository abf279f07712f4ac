"""Late fusion of an RGB and a flow network that were trained separately."""
from __future__ import annotations

import torch
from torch import nn


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
