"""Models of the paper, built by name through the registry: ``build("i3d", stream="rgb")``.

Names are imported on first use (PEP 562), so that ``i3d.models.registry`` can be read without torch
(the Snakefile and the config validation use it); ``from i3d.models import build`` works as usual.

May import: data (sampling), acquire (weights downloads), standin, flow and the top-level helpers.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_SOURCES = {
    "C3D": "c3d",
    "Fused3D": "fused",
    "InceptionI3d": "i3d",
    "InceptionV1": "inception",
    "load_imagenet": "inflate",
    "ConvLSTM": "lstm",
    "from_pytorch_i3d": "pretrained",
    "ArchSpec": "registry",
    "Sampling": "registry",
    "build": "registry",
    "count_parameters": "registry",
    "get_spec": "registry",
    "list_architectures": "registry",
    "TwoStream": "two_stream",
}

__all__ = [
    "C3D", "ArchSpec", "ConvLSTM", "Fused3D", "InceptionI3d", "InceptionV1", "Sampling", "TwoStream", "build",
    "count_parameters", "from_pytorch_i3d", "get_spec", "list_architectures", "load_imagenet",
]


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_SOURCES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_SOURCES])
