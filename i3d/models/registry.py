"""Architecture registry: adding a model is one ``ArchSpec`` entry in ``ARCHITECTURES`` plus its module.

The paper's own Table 1 figures (parameters, input frames, footprints) live with the paper's other numbers in
``i3d/tables/paper_table1.csv``; the registry holds what is needed to build, train and test a model: how each
stream's frames are sampled in training and at test (the paper's Table 1 inputs), how the training loss is
taken, whether RGB+Flow is one jointly trained network, and the paper's crop size and initialisation.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from torch import nn

from i3d.models.c3d import C3D
from i3d.models.fused import Fused3D
from i3d.models.i3d import InceptionI3d
from i3d.models.lstm import ConvLSTM
from i3d.models.two_stream import TwoStream, flow_stream, rgb_stream

STREAM_CHANNELS: Mapping[str, int] = {"rgb": 3, "flow": 2}
"""Input channels of one frame per stream (flow is x, y displacement)."""

FPS = 25.0
"""Frame rate the paper's frame counts and strides refer to."""

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class Sampling:
    """How one stream's frames are taken from a 25 fps clip for one forward pass of the model.

    A *sample* is ``frames`` frames, every ``stride``-th frame of the stream (flow: flow fields), so it
    spans ``frames * stride`` frames of video; ``frames=0`` means the whole clip at that stride. In
    training, one sample at a random start (loop short clips). At test, ``samples`` samples whose starts
    are spread uniformly over the clip; the model runs on each (they can go through as one batch) and
    their logits are averaged; within a sample the model's own ``forward`` already does the paper's test
    behaviour (I3D: average over time; LSTM: last step). The streams of one model share the start, so
    e.g. the fused model's k-th RGB frame sits at the start of its k-th flow stack.
    """

    frames: int
    stride: int = 1
    samples: int = 1

    @property
    def span(self) -> int:
        """Video frames one sample covers (0 for the whole clip)."""
        return self.frames * self.stride


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
    """``late``: RGB+Flow is the average of the two streams' logits, so streams can be trained and tested
    separately and their predictions fused afterwards. ``joint``: RGB+Flow is one network
    (``build(arch)``, ``forward(rgb, flow)``) that must be trained and tested on both streams together."""
    crop_size: int = 224
    """The paper's spatial input (train crop and test center crop)."""
    imagenet_init: bool = True
    """Whether the paper starts the Inception-V1 parts from ImageNet (``inflate.load_imagenet``)."""


def _build_i3d(num_classes: int, stream: str | None, **options) -> nn.Module:
    if stream is None:
        return TwoStream(_build_i3d(num_classes, "rgb", **options), _build_i3d(num_classes, "flow", **options))
    return InceptionI3d(num_classes=num_classes, in_channels=STREAM_CHANNELS[stream], **options)


def _build_two_stream(num_classes: int, stream: str | None, **options) -> nn.Module:
    if stream is None:
        return TwoStream(rgb_stream(num_classes, **options), flow_stream(num_classes, **options))
    return (rgb_stream if stream == "rgb" else flow_stream)(num_classes, **options)


def _build_fused(num_classes: int, stream: str | None, **options) -> nn.Module:
    return Fused3D(num_classes, ("rgb", "flow") if stream is None else (stream,), **options)


def _build_lstm(num_classes: int, stream: str | None, **options) -> nn.Module:
    return ConvLSTM(num_classes, **options)


def _build_c3d(num_classes: int, stream: str | None, **options) -> nn.Module:
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
            train={"rgb": Sampling(1), "flow": Sampling(10)},
            test={"rgb": Sampling(1, samples=25), "flow": Sampling(10, samples=25)},
        ),
        ArchSpec(
            name="fused",
            paper_name="3D-Fused",
            builder=_build_fused,
            streams=("rgb", "flow"),
            train={"rgb": Sampling(5, stride=10), "flow": Sampling(50)},
            test={"rgb": Sampling(5, stride=10, samples=5), "flow": Sampling(50, samples=5)},
            fusion="joint",
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

    ``stream`` picks one stream ("rgb" or "flow"); None builds the full model of the paper (for "i3d" and
    "two_stream", a ``TwoStream`` whose forward takes ``(rgb, flow)`` and returns the mean of the two
    streams' logits; for "fused", the jointly fused network, also ``forward(rgb, flow)``).
    ``options`` (e.g. ``dropout``, ``bn_momentum``) go to the architecture's constructor.
    """
    spec = get_spec(arch)
    if stream is not None and stream not in spec.streams:
        raise ValueError(f"unknown stream {stream!r} for {arch!r}; choose one of {[*spec.streams, None]}")
    return spec.builder(num_classes, stream, **options)


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameters (weights, biases, BN scale/shift; not BN running statistics)."""
    return sum(p.numel() for p in model.parameters())
