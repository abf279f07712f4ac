"""Architecture registry: adding a model is one ``ArchSpec`` entry in ``ARCHITECTURES`` plus its module.

The paper's own Table 1 figures (parameters, input frames, footprints) live with the paper's other numbers in
``i3d/tables/paper_table1.csv``; the registry holds what is needed to build and name a model.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import nn

from i3d.models.i3d import InceptionI3d
from i3d.models.two_stream import TwoStream

STREAM_CHANNELS: Mapping[str, int] = {"rgb": 3, "flow": 2}
"""Input channels of one frame per stream (flow is x, y displacement)."""

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ArchSpec:
    """One architecture: how to build it and its row of the paper's Table 1.

    ``builder(num_classes, stream)`` gets a validated stream: one of ``streams``, or None for the whole
    model (for single-stream architectures None means that stream).
    """

    name: str
    paper_name: str
    builder: Builder
    streams: tuple[str, ...]


def _build_i3d(num_classes: int, stream: str | None, **options) -> nn.Module:
    if stream is None:
        return TwoStream(_build_i3d(num_classes, "rgb", **options), _build_i3d(num_classes, "flow", **options))
    return InceptionI3d(num_classes=num_classes, in_channels=STREAM_CHANNELS[stream], **options)


ARCHITECTURES: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec(
            name="i3d",
            paper_name="Two-Stream I3D",
            builder=_build_i3d,
            streams=("rgb", "flow"),
        ),
    )
}


def list_architectures() -> list[str]:
    """Registered architecture names, sorted."""
    return sorted(ARCHITECTURES)


def get_spec(arch: str) -> ArchSpec:
    """The spec of ``arch``; ValueError naming the registered ones if unknown."""
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {list_architectures()}") from None


def build(arch: str, num_classes: int = 400, stream: str | None = None, **options) -> nn.Module:
    """Build a freshly initialised model.

    ``stream`` picks one stream ("rgb" or "flow"); None builds the full model of the paper (for "i3d",
    a ``TwoStream`` whose forward takes ``(rgb, flow)`` and returns the mean of the two streams' logits).
    ``options`` (e.g. ``dropout``) go to the architecture's constructor.
    """
    spec = get_spec(arch)
    if stream is not None and stream not in spec.streams:
        raise ValueError(f"unknown stream {stream!r} for {arch!r}; choose one of {[*spec.streams, None]}")
    return spec.builder(num_classes, stream, **options)


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameters (weights, biases, BN scale/shift; not BN running statistics)."""
    return sum(p.numel() for p in model.parameters())
