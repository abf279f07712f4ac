"""The ``gpu`` resource of the jobs that can run on CUDA (train, predict, torch flow), decided by the config.

Whether a job asks SLURM (or the local ``--resources gpu=N`` limit) for a GPU must not depend on the host that
parses the Snakefile: a login node has no GPU, a compute node does. So the config decides (``gpus``: the SLURM
profile sets 1), and only ``gpus: auto`` with ``device: auto`` looks for a local GPU, once, with a timeout.
Light: the Snakefile imports this (no torch).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any

DETECT_TIMEOUT_S = 10
"""nvidia-smi normally answers in well under a second; a hung driver must not hang the workflow's start."""


def gpus_per_job(config: dict[str, Any], detect: Callable[[], bool]) -> int:
    """GPUs a CUDA-capable job declares: 0 on ``device: cpu``, else ``gpus`` when set, else 1 for an
    explicit ``cuda`` device and ``detect()`` for ``auto`` (a validated config)."""
    if config["device"] == "cpu":
        return 0
    if config["gpus"] != "auto":
        return config["gpus"]
    return 1 if config["device"].startswith("cuda") else int(detect())


def local_gpu_present(timeout: float = DETECT_TIMEOUT_S) -> bool:
    """Whether ``nvidia-smi -L`` lists a GPU here; False when it is missing, fails or does not answer in time."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        probe = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"i3d: nvidia-smi did not answer in {timeout:g} s; jobs declare no GPU (set the config key "
              "'gpus' to decide)", file=sys.stderr)
        return False
    return probe.returncode == 0 and "GPU" in probe.stdout
