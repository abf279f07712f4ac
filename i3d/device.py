"""The device a stage runs on, from its config or command line: one rule for the flow, training and prediction."""
from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` means CUDA when PyTorch sees a GPU, else the CPU; any other name is passed to torch as is."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
