"""TV-L1 optical flow stage: the project's batched PyTorch TV-L1 (:func:`tvl1`), pluggable backends, bound-20
uint8 quantization, RGB shard -> flow shard.

May import: data (shards, clip status) and the top-level helpers.
"""
from .backends import FlowBackend, get_backend
from .params import TVL1Params
from .quantize import dequantize, quantize
from .shard import compute_flow_shard
from .solver import tvl1

__all__ = [
           "FlowBackend",
           "TVL1Params",
           "compute_flow_shard",
           "dequantize",
           "get_backend",
           "quantize",
           "tvl1",
]
