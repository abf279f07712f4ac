"""TV-L1 optical flow stage: pluggable backends, bound-20 uint8 quantization, RGB shard -> flow shard."""
from .backends import FlowBackend, available_backends, get_backend
from .quantize import dequantize, quantize, to_unit_range
from .shard import compute_flow_shard

__all__ = ["FlowBackend", "available_backends", "get_backend", "quantize", "dequantize", "to_unit_range",
           "compute_flow_shard"]
