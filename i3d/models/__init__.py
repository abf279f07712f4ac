"""Models of the paper, built by name through the registry: ``build("i3d", stream="rgb")``."""
from i3d.models.c3d import C3D
from i3d.models.fused import Fused3D
from i3d.models.i3d import InceptionI3d
from i3d.models.inception import InceptionV1
from i3d.models.inflate import load_imagenet
from i3d.models.lstm import ConvLSTM
from i3d.models.pretrained import from_pytorch_i3d
from i3d.models.registry import (
    ArchSpec,
    Sampling,
    build,
    count_parameters,
    get_spec,
    list_architectures,
)
from i3d.models.two_stream import TwoStream

__all__ = [
    "C3D",
    "ArchSpec",
    "ConvLSTM",
    "Fused3D",
    "InceptionI3d",
    "InceptionV1",
    "Sampling",
    "TwoStream",
    "build",
    "count_parameters",
    "from_pytorch_i3d",
    "get_spec",
    "list_architectures",
    "load_imagenet",
]
