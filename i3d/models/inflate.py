"""ImageNet initialisation: torchvision's 2D GoogLeNet weights into any Inception-V1 part, inflated where 3D.

The paper's "bootstrapping 3D filters from 2D filters" (§2.4): every 2D kernel is repeated N times along
time and divided by N, so a "boring" video (one image repeated) gives each layer the 2D network's
response to that image at every time step, and the inflated net starts out as the ImageNet classifier.
BN parameters and running statistics are copied unchanged. 2D parts (the LSTM's, Two-Stream's and
3D-Fused's streams) take N = 1, a plain copy.

Flow streams have a different conv1 input (I3D: 2 channels; 2D Two-Stream / 3D-Fused: 20 = 10 stacked
frames x 2). The paper does not say how these were initialised (deepmind/kinetics-i3d#102 is
unanswered); here, as in TSN's "cross-modality pre-training", the RGB conv1 kernel is averaged over its
3 input channels and that mean is used for every flow input channel (then inflated in time as above).

The fixed point holds exactly away from the clip ends: the nets pad time with zeros (TF "SAME"), so
the first and last few output steps differ; with replicate temporal padding it would hold everywhere.
The logits are copied only when the class counts match (1000, ImageNet); otherwise the head keeps its
fresh initialisation.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from i3d.models.inception import InceptionV1, from_torchvision

FIRST_CONV = "Conv3d_1a_7x7.conv3d.weight"


def inflate_weight(weight: torch.Tensor, shape: Sequence[int], *, average_channels: bool = False) -> torch.Tensor:
    """A 2D kernel (O x I x k x k, or O x I x 1 x k x k) as an O x I' x T x k x k kernel.

    Repeated T times along time and divided by T. If ``average_channels`` and I' != I, the kernel is
    first averaged over its I input channels and the mean used for each of the I' channels (flow conv1).
    """
    if weight.dim() == 4:
        weight = weight.unsqueeze(2)
    out, cin, t, kh, kw = shape
    if weight.shape[2] != 1 or (weight.shape[0], weight.shape[3], weight.shape[4]) != (out, kh, kw):
        raise ValueError(f"cannot inflate a {tuple(weight.shape)} kernel to {tuple(shape)}")
    if weight.shape[1] != cin:
        if not average_channels:
            raise ValueError(f"input channels differ ({weight.shape[1]} vs {cin}) in a kernel that is not conv1")
        weight = weight.mean(dim=1, keepdim=True).expand(-1, cin, -1, -1, -1)
    return weight.repeat(1, 1, t, 1, 1) / t


def imagenet_state(net: InceptionV1, torchvision_state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``net``'s state dict with every backbone tensor taken from torchvision's GoogLeNet (inflated as needed)."""
    source = from_torchvision(torchvision_state)
    state = {}
    for key, current in net.state_dict().items():
        src = source.get(key)
        if src is None and (key.endswith("num_batches_tracked") or key.startswith("logits.")):
            state[key] = current  # not in every checkpoint / a head for other classes: keep ours
            continue
        if src is None:
            raise KeyError(f"torchvision state dict has no tensor for {key!r}")
        if key.startswith("logits.") and src.shape[0] != current.shape[0]:
            state[key] = current
        elif key.endswith("conv3d.weight"):
            state[key] = inflate_weight(src, current.shape, average_channels=key == FIRST_CONV).to(current.dtype)
        elif src.shape != current.shape:
            raise ValueError(f"{key}: torchvision has {tuple(src.shape)}, the model {tuple(current.shape)}")
        else:
            state[key] = src.to(current.dtype).clone()
    return state


def load_imagenet(model: nn.Module, torchvision_state: Mapping[str, torch.Tensor]) -> list[str]:
    """Initialise every Inception-V1 part of ``model`` from torchvision GoogLeNet weights; returns their names.

    Works for each registered Inception-based architecture and stream (``lstm``, ``two_stream``,
    ``fused``, ``i3d``); layers that are not Inception-V1 (LSTM, fusion conv, classifiers) keep their
    initialisation. ValueError if the model has no Inception-V1 part (``c3d``, trained from scratch).
    """
    names = []
    for name, module in model.named_modules():
        if isinstance(module, InceptionV1):
            module.load_state_dict(imagenet_state(module, torchvision_state))
            names.append(name)
    if not names:
        raise ValueError(f"{type(model).__name__} has no Inception-V1 part to initialise from ImageNet")
    return names
