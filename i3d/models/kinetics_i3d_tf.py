"""Import of DeepMind's TensorFlow I3D checkpoints (deepmind/kinetics-i3d ``data/checkpoints``).

``rgb_imagenet``, ``rgb_scratch``, ``flow_imagenet`` and ``flow_scratch`` hold 230 float32 variables under
``RGB/inception_i3d/`` or ``Flow/inception_i3d/``: per unit ``<scope>/conv_3d/w`` (DHWIO) and
``<scope>/batch_norm/{beta,moving_mean,moving_variance}`` (Sonnet's BatchNorm with ``scale=False``: no gamma),
and the classifier's ``Logits/Conv3d_0c_1x1/conv_3d/{w,b}``. ``rgb_scratch_kin600`` (600 classes) keeps the same
scopes at the root with no stream prefix, shapes its batch-norm vectors 1x1x1x1xC, and also holds the optimizer's
``.../Momentum`` slots, which are not weights and are skipped. All of them name Mixed_5b's Branch_2 3x3 conv
``Conv3d_0a_3x3`` (TF-slim's typo for ``Conv3d_0b_3x3``).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from i3d.models.i3d import InceptionI3d
from i3d.models.registry import STREAM_CHANNELS
from i3d.models.released_names import LOGITS_UNIT, load_deepmind_layout, unit_scopes

STREAM_SCOPES = {"rgb": "RGB/inception_i3d/", "flow": "Flow/inception_i3d/"}
STEM_KERNEL = "Conv3d_1a_7x7/conv_3d/w"
QUIRKS = {"Mixed_5b/Branch_2/Conv3d_0b_3x3": "Mixed_5b/Branch_2/Conv3d_0a_3x3"}
"""Our (and DeepMind's code's) scope -> the name in DeepMind's checkpoints."""
BN_STATS = {"bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def is_optimizer_slot(name: str) -> bool:
    """The momentum optimizer's per-variable slots that rgb_scratch_kin600 was saved with."""
    return name.endswith("/Momentum")


def _tf_names() -> dict[str, str]:
    """Checkpoint name (without the stream prefix) -> our state-dict key."""
    names = {}
    for ours, scope in unit_scopes():
        scope = QUIRKS.get(scope, scope)
        names[f"{scope}/conv_3d/w"] = f"{ours}.conv3d.weight"
        names.update({f"{scope}/batch_norm/{tf}": f"{ours}.bn.{key}" for key, tf in BN_STATS.items()})
    ours, scope = LOGITS_UNIT
    names[f"{scope}/conv_3d/w"] = f"{ours}.conv3d.weight"
    names[f"{scope}/conv_3d/b"] = f"{ours}.conv3d.bias"
    return names


def _vector(value: np.ndarray) -> np.ndarray:
    """kin600's 1x1x1x1xC batch-norm vectors as C; any other shape as it is, for the shape check to report."""
    return value.reshape(-1) if value.ndim > 1 and value.size == value.shape[-1] else value


def _prefix(names: list[str]) -> str:
    """The scope the model lies under: ``RGB/inception_i3d/``, ``Flow/inception_i3d/`` or '' (kin600)."""
    prefixes = sorted({name.removesuffix(STEM_KERNEL) for name in names if name.endswith(STEM_KERNEL)})
    if not prefixes:
        raise ValueError(f"not an I3D checkpoint of deepmind/kinetics-i3d: no variable '.../{STEM_KERNEL}'")
    if len(prefixes) > 1:
        raise ValueError(f"the checkpoint holds several I3D models (under {prefixes}); import one stream's file")
    return prefixes[0]


def from_kinetics_i3d_tf(tensors: Mapping[str, np.ndarray], stream: str) -> InceptionI3d:
    """An ``InceptionI3d`` in eval mode holding a deepmind/kinetics-i3d checkpoint's variables for ``stream``.

    Kernels go from DHWIO to OIDHW, batch-norm gets weight 1 (Sonnet's has no scale), the class count comes from
    the logits. ValueError for a checkpoint of the other stream, missing or unexpected variables, wrong shapes.
    """
    if stream not in STREAM_CHANNELS:
        raise ValueError(f"unknown stream {stream!r}; choose one of {list(STREAM_CHANNELS)}")
    tensors = {name: value for name, value in tensors.items() if not is_optimizer_slot(name)}
    prefix = _prefix(list(tensors))
    other = [s for s, scope in STREAM_SCOPES.items() if prefix == scope and s != stream]
    if other:
        raise ValueError(f"a checkpoint of the {other[0]} stream (variables under {prefix!r}) imported as {stream}: "
                         "wrong file for this stream?")
    stem, logits = (tensors.get(prefix + name) for name in (STEM_KERNEL, f"{LOGITS_UNIT[1]}/conv_3d/w"))
    for name, value in ((STEM_KERNEL, stem), (f"{LOGITS_UNIT[1]}/conv_3d/w", logits)):
        if value is None or value.ndim != 5:
            raise ValueError(f"not an I3D checkpoint of deepmind/kinetics-i3d: no 5-d kernel '{prefix}{name}'")
    if stem.shape[3] != STREAM_CHANNELS[stream]:
        raise ValueError(f"the weights take {stem.shape[3]} input channels, the {stream} stream "
                         f"{STREAM_CHANNELS[stream]}: wrong file for this stream?")
    names = {prefix + tf: key for tf, key in _tf_names().items()}
    given = {name: _vector(value) if name in names and not names[name].endswith("conv3d.weight") else value
             for name, value in tensors.items()}
    return load_deepmind_layout(given, names, stem.shape[3], logits.shape[-1],
                                f"not a deepmind/kinetics-i3d {stream} checkpoint")
