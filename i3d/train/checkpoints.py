"""Atomic checkpoints: a killed job leaves either the previous checkpoint or the new one, never half of one."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary name in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by this project (plain tensors and Python values only)."""
    return torch.load(path, map_location=device, weights_only=True)


def resolve_device(name: str) -> torch.device:
    """``auto`` means CUDA when present, else CPU; anything else is passed to torch as is."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
