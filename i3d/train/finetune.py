"""Start a model from another trained one: the paper's Kinetics pre-training, fine-tuned end to end
("Full-FT", Table 4) on UCF-101 / HMDB-51.

Every parameter and BN buffer comes from a ``model.pt`` of the same architecture and stream except the
classifier, which keeps its fresh initialisation for the new classes. Each model class names its
classifier in ``CLASSIFIER`` (Inception-V1: ``logits``, LSTM and 3D-Fused: ``fc``, C3D: ``fc8``); a
Two-Stream network has one per stream, found the same way inside each.

A fine-tuned ``model.pt`` records where it started (:func:`start_record`), so that "ImageNet, then
Kinetics, then UCF-101" can be told from "Kinetics from scratch, then UCF-101" (:func:`lineage`).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..digest import sha256_of
from ..models.pretrained import check_fits
from .checkpoints import load


def classifier_prefixes(model: nn.Module) -> tuple[str, ...]:
    """State-dict key prefixes (``"rgb.logits."``) of every classifier layer in ``model``."""
    prefixes = []
    for name, module in model.named_modules():
        attribute = getattr(module, "CLASSIFIER", None)
        if attribute is not None and hasattr(module, attribute):  # a headless Inception-V1 has none
            prefixes.append(f"{name}.{attribute}." if name else f"{attribute}.")
    return tuple(prefixes)


def file_digest(path: str | Path) -> str:
    """16 hex digits of the file's SHA-256: a retrained starting model changes it, a moved one does not."""
    return sha256_of(path)[:16]


def read_source(path: str | Path, arch: str, stream: str) -> dict[str, Any]:
    """The ``model.pt`` at ``path``; ValueError unless ``i3d train`` (or ``i3d weights import``: released weights)
    wrote it for ``arch`` and ``stream``."""
    state = load(path)
    config = state.get("config") if isinstance(state, dict) else None
    if not isinstance(config, dict) or "model" not in state or not ("selected_epoch" in state or "source" in state):
        raise ValueError(f"{path} is not a model.pt written by `i3d train` or `i3d weights import` (a checkpoint.pt "
                         "or other weights?)")
    if (config["arch"], config["stream"]) != (arch, stream):
        raise ValueError(f"{path} holds a {config['arch']}-{config['stream']} model; fine-tuning {arch}-{stream} "
                         "needs one of the same architecture and stream")
    return state


def load_body(model: nn.Module, source: Mapping[str, torch.Tensor]) -> tuple[str, ...]:
    """Copy every tensor of the state dict ``source`` into ``model`` except the classifier's, which is left
    as it is; returns the classifier prefixes. ValueError on any other missing, extra or reshaped tensor."""
    head = classifier_prefixes(model)
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(head)}
    body = {k: v for k, v in source.items() if not k.startswith(head)}
    check_fits(own, body, "the starting model does not fit")
    model.load_state_dict(body, strict=False)
    return head


def start_record(path: str | Path, source: Mapping[str, Any], digest: str) -> dict[str, Any]:
    """What a fine-tuned ``model.pt`` keeps under ``start``: the starting file (as given, and its digest),
    its classes, where it came from if it was imported (``source``: released weights), and how it started itself
    (its ``init`` and, if fine-tuned too, its own ``start``)."""
    imported = {"source": source["source"]} if source.get("source") is not None else {}
    return dict(path=str(path), sha256=digest, num_classes=source["config"]["num_classes"],
                init=source["config"]["init"], **imported, start=source.get("start"))


def lineage(model_state: Mapping[str, Any]) -> list[str]:
    """A ``model.pt``'s chain of inits, the first start first: ``["imagenet", "kinetics"]`` for ImageNet,
    then Kinetics, then this model's data; ``["scratch", "kinetics"]`` for Kinetics from scratch."""
    chain, start = [model_state["config"]["init"]], model_state.get("start")
    while start is not None:
        chain.insert(0, start["init"])
        start = start["start"]
    return chain
