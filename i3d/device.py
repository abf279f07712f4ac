"""The device a stage runs on, from its config or command line: one rule for the flow, training and prediction."""
from __future__ import annotations

import torch

from . import gpu_lease


def resolve_device(name: str) -> torch.device:
    """``auto`` means CUDA when PyTorch sees a GPU, else the CPU; any other name is passed to torch as is.

    On a machine with several GPUs, ``auto`` and ``cuda`` first lease one GPU of the machine for this process
    (``i3d.gpu_lease``: a lock file per GPU, so that jobs run side by side, ``snakemake --resources gpu=N``, each
    get their own); PyTorch then sees that GPU alone, as ``cuda:0``. Call this (or ``cuda_available``) before
    anything else asks CUDA, which reads ``CUDA_VISIBLE_DEVICES`` once. Nothing is leased under a scheduler that
    set ``CUDA_VISIBLE_DEVICES``, nor in a torchrun rank (``LOCAL_RANK`` set): its job leased the GPUs before torchrun
    started, and torchrun gives each rank its GPU.
    """
    gpu_lease.lease_for_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cuda_available() -> bool:
    """``torch.cuda.is_available()`` for a stage on ``auto`` that asks before it resolves its device (the flow
    backends): the lease comes first, as in ``resolve_device``."""
    gpu_lease.lease_for_device("auto")
    return torch.cuda.is_available()
