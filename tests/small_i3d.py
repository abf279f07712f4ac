"""A seeded small I3D and a random channels-last batch for it: the setup of the tests that compare two ways of
running one forward/backward pass (pool implementations, precisions)."""
from __future__ import annotations

import torch

from i3d.models import InceptionI3d


def small_i3d_batch(classes: int, frames: int, size: int,
                    labels: list[int]) -> tuple[InceptionI3d, torch.Tensor, torch.Tensor]:
    """(model without dropout, a len(labels) × 3 × frames × size² input, the labels), all from seed 0."""
    torch.manual_seed(0)
    model = InceptionI3d(num_classes=classes, dropout=0.0).to(memory_format=torch.channels_last_3d)
    x = torch.randn(len(labels), 3, frames, size, size).to(memory_format=torch.channels_last_3d)
    return model, x, torch.tensor(labels)
