"""Models of the paper, built by name through the registry: ``build("i3d", stream="rgb")``."""
from i3d.models.i3d import InceptionI3d
from i3d.models.registry import ArchSpec, build, count_parameters, get_spec, list_architectures
from i3d.models.two_stream import TwoStream

__all__ = [
    "ArchSpec",
    "InceptionI3d",
    "TwoStream",
    "build",
    "count_parameters",
    "get_spec",
    "list_architectures",
]
