"""A clip's pre-classifier features and logits from its test samples: what prediction scores and what training's
validation pass scores, so that the two see the same thing (the evaluation module's docstring says why one code
path gives both).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .inception import InceptionV1
from .whole_clip import CHUNK_FRAMES, whole_clip_features


def clip_outputs(model: torch.nn.Module, inputs: Sequence[torch.Tensor],
                 chunk_frames: int = CHUNK_FRAMES) -> tuple[torch.Tensor, torch.Tensor]:
    """One clip's (pre-classifier features, logits) from its test samples (S x C x T x H x W per input): the
    samples' features averaged over S, and the classifier on them; I3D (one input, an inflated
    Inception-V1) over the whole clip in chunks of at most ``chunk_frames`` frames."""
    if len(inputs) == 1 and isinstance(model, InceptionV1) and model.inflated:
        features = whole_clip_features(model, inputs[0], chunk_frames).mean(dim=0)
    else:
        features = model.features(*inputs).mean(dim=0)
    return features, model.classifier(features[None])[0]


def clip_logits(model: torch.nn.Module, inputs: Sequence[torch.Tensor],
                chunk_frames: int = CHUNK_FRAMES) -> torch.Tensor:
    """One clip's logits (:func:`clip_outputs`), as predict scores a test clip."""
    return clip_outputs(model, inputs, chunk_frames)[1]
