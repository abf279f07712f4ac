"""Architecture registry: adding a model is one ``ArchSpec`` entry in ``ARCHITECTURES`` plus its module.

The paper's own Table 1 figures (parameters, input frames, footprints) live with the paper's other numbers in
``i3d/tables/paper_table1.csv``; the registry holds what is needed to build, train and test a model: how each
stream's frames are sampled in training and at test (the paper's Table 1 inputs), how the training loss is
taken, whether RGB+Flow is one jointly trained network, and the paper's crop size and initialisation.

This module imports no torch at module level (builders import their model modules when called), so the
Snakefile and the config validation can read the registry cheaply: the workflow's architecture names,
streams and ImageNet support all come from here.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from i3d.data.sampling import Sampling

if TYPE_CHECKING:
    from torch import nn

STREAM_CHANNELS: Mapping[str, int] = {"rgb": 3, "flow": 2}
"""Input channels of one frame per stream (flow is x, y displacement)."""

FPS = 25.0
"""Frame rate the paper's frame counts and strides refer to."""

JOINT_STREAM = "rgb+flow"
"""Stream name of a jointly trained two-stream network (paths, predictions, tables)."""

REFERENCE_CROP = 224
"""The crop most of the paper's models take; run crops are given for it and scaled per architecture."""

Builder = Callable[..., "nn.Module"]


@dataclass(frozen=True)
class ArchSpec:
    """One architecture: how to build it, and how the training and prediction loops must feed it.

    ``builder(num_classes, stream, **options)`` gets a validated stream: one of ``streams``, or None for
    the whole model (for single-stream architectures None means that stream). Options every builder
    takes: ``dropout``, ``bn_momentum``.
    """

    name: str
    paper_name: str
    builder: Builder
    streams: tuple[str, ...]
    train: Mapping[str, Sampling]
    """Per stream, the training input of Table 1 (e.g. LSTM: 25 frames, every 5th)."""
    test: Mapping[str, Sampling]
    """Per stream, the test input of Table 1 (e.g. Two-Stream: 25 single frames / 25 flow stacks, averaged)."""
    loss: Literal["clip", "per_step"] = "clip"
    """``clip``: cross-entropy on ``model(x)``. ``per_step``: cross-entropy on every time step of
    ``model.forward_per_time(x)`` (B x classes x T), averaged; the paper's LSTM training."""
    fusion: Literal["late", "joint"] = "late"
    """How the paper obtains RGB+Flow. ``late``: the two streams are trained separately and their logits
    averaged at test (I3D), so the tables fuse the streams' predictions. ``joint``: RGB+Flow is one network
    (``build(arch)``, ``forward(rgb, flow)``) trained end to end on both streams with one loss and tested
    as a whole (Two-Stream, 3D-Fused); its RGB and Flow columns still come from single-stream models."""
    fused_by: str = "averaging the two streams' logits"
    """What combines the streams in the RGB+Flow model, for table captions."""
    crop_size: int = 224
    """The paper's spatial input (train crop and test center crop)."""
    imagenet_init: bool = True
    """Whether the paper starts the Inception-V1 parts from ImageNet (``inflate.load_imagenet``)."""

    def model_streams(self, streams: tuple[str, ...] | list[str] = ("rgb", "flow")) -> list[str]:
        """The separately trained models for the requested input ``streams``: each stream the
        architecture has and, for a joint architecture given both, ``rgb+flow`` (one network on both).
        A late-fusion architecture's RGB+Flow is not trained: it is the average of its streams."""
        own = [s for s in self.streams if s in streams]
        if self.fusion == "joint" and len(own) == len(self.streams) > 1:
            own.append(JOINT_STREAM)
        return own

    def inputs(self, stream: str) -> tuple[str, ...]:
        """Input streams that a model for ``stream`` (a single stream or ``rgb+flow``) takes, in forward order."""
        return self.streams if stream == JOINT_STREAM else (stream,)

    def crop_for(self, reference_crop: int) -> int:
        """This architecture's input side when a 224-input model gets ``reference_crop`` (C3D: half)."""
        return max(1, round(reference_crop * self.crop_size / REFERENCE_CROP))


def _build_i3d(num_classes: int, stream: str | None, **options) -> nn.Module:
    from i3d.models.i3d import InceptionI3d
    from i3d.models.two_stream import TwoStream

    if stream is None:
        return TwoStream(_build_i3d(num_classes, "rgb", **options), _build_i3d(num_classes, "flow", **options))
    return InceptionI3d(num_classes=num_classes, in_channels=STREAM_CHANNELS[stream], **options)


def _build_two_stream(num_classes: int, stream: str | None, **options) -> nn.Module:
    from i3d.models.two_stream import TwoStream, flow_stream, rgb_stream

    if stream is None:
        return TwoStream(rgb_stream(num_classes, **options), flow_stream(num_classes, **options))
    return (rgb_stream if stream == "rgb" else flow_stream)(num_classes, **options)


def _build_fused(num_classes: int, stream: str | None, **options) -> nn.Module:
    from i3d.models.fused import Fused3D

    return Fused3D(num_classes, ("rgb", "flow") if stream is None else (stream,), **options)


def _build_lstm(num_classes: int, stream: str | None, **options) -> nn.Module:
    from i3d.models.lstm import ConvLSTM

    return ConvLSTM(num_classes, **options)


def _build_c3d(num_classes: int, stream: str | None, **options) -> nn.Module:
    from i3d.models.c3d import C3D

    return C3D(num_classes, **options)


ARCHITECTURES: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec(
            name="lstm",
            paper_name="ConvNet+LSTM",
            builder=_build_lstm,
            streams=("rgb",),
            train={"rgb": Sampling(25, stride=5)},
            test={"rgb": Sampling(50, stride=5)},
            loss="per_step",
        ),
        ArchSpec(
            name="c3d",
            paper_name="3D-ConvNet",
            builder=_build_c3d,
            streams=("rgb",),
            train={"rgb": Sampling(16)},
            test={"rgb": Sampling(16, samples=15)},
            crop_size=112,
            imagenet_init=False,
        ),
        ArchSpec(
            name="two_stream",
            paper_name="Two-Stream",
            builder=_build_two_stream,
            streams=("rgb", "flow"),
            train={"rgb": Sampling(1), "flow": Sampling(10, stack=10)},
            test={"rgb": Sampling(1, samples=25), "flow": Sampling(10, samples=25, stack=10)},
            fusion="joint",  # paper §2.3: trained end to end, including the averaging of the two streams
        ),
        ArchSpec(
            name="fused",
            paper_name="3D-Fused",
            builder=_build_fused,
            streams=("rgb", "flow"),
            train={"rgb": Sampling(5, stride=10), "flow": Sampling(50, stack=10)},
            test={"rgb": Sampling(5, stride=10, samples=5), "flow": Sampling(50, samples=5, stack=10)},
            fusion="joint",
            fused_by="a 3D convolution over the two streams' feature maps",
        ),
        ArchSpec(
            name="i3d",
            paper_name="Two-Stream I3D",
            builder=_build_i3d,
            streams=("rgb", "flow"),
            train={"rgb": Sampling(64), "flow": Sampling(64)},
            test={"rgb": Sampling(0), "flow": Sampling(0)},
        ),
    )
}


def list_architectures() -> list[str]:
    """Registered architecture names, in the paper's Table 1 order."""
    return list(ARCHITECTURES)


def get_spec(arch: str) -> ArchSpec:
    """The spec of ``arch``; ValueError naming the registered ones if unknown."""
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {list_architectures()}") from None


def build(arch: str, num_classes: int = 400, stream: str | None = None, **options) -> nn.Module:
    """Build a freshly initialised model.

    ``stream`` picks one stream ("rgb" or "flow"); None (or ``"rgb+flow"``) builds the full model of the paper (for "i3d" and
    "two_stream", a ``TwoStream`` whose forward takes ``(rgb, flow)`` and returns the mean of the two
    streams' logits; for "fused", the jointly fused network, also ``forward(rgb, flow)``).
    ``options`` (e.g. ``dropout``, ``bn_momentum``) go to the architecture's constructor.
    """
    spec = get_spec(arch)
    if stream == JOINT_STREAM and len(spec.streams) > 1:
        stream = None
    if stream is not None and stream not in spec.streams:
        raise ValueError(f"unknown stream {stream!r} for {arch!r}; choose one of {[*spec.streams, None]}")
    return spec.builder(num_classes, stream, **options)


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameters (weights, biases, BN scale/shift; not BN running statistics)."""
    return sum(p.numel() for p in model.parameters())


def model_sampling(arch: str, stream: str, phase: str, frames_scale: float = 1.0) -> dict[str, Sampling]:
    """Per input stream, in forward order, the sampling of ``arch``'s model for ``stream`` (``rgb``,
    ``flow`` or ``rgb+flow``) in ``phase`` (``train`` or ``test``), with ``frames_scale`` times the
    registry's frames per sample (the stand-in runs' shorter clips; 1 is the paper's)."""
    spec = get_spec(arch)
    table = {"train": spec.train, "test": spec.test}[phase]
    return {s: table[s].scaled(frames_scale) for s in spec.inputs(stream)}
