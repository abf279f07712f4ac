"""Data-parallel training (DDP): the process group one training job runs in, from its launcher's environment.

One code path for every launch:

- a plain ``i3d train``: nothing set, a single process, no process group (:func:`process_group` yields a
  world of one and every collective below is a no-op);
- ``torchrun --nproc-per-node N -m i3d.cli train ...`` (one node, or several with a c10d rendezvous): torchrun
  sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
- SLURM, one task per GPU (``srun --ntasks-per-node G i3d train ...``): ``SLURM_PROCID``, ``SLURM_NTASKS`` and
  ``SLURM_LOCALID`` give the ranks; ``MASTER_ADDR`` defaults to the first host of ``SLURM_JOB_NODELIST`` and
  ``MASTER_PORT`` to a port derived from ``SLURM_JOB_ID`` (two jobs sharing a node then rarely collide); both
  may be exported instead. A single SLURM task (the usual one-GPU job) is a plain single process.

Each rank runs on ``cuda:LOCAL_RANK`` with NCCL when the requested device is CUDA (or ``auto`` and a GPU is
present), else on the CPU with gloo.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

DEFAULT_PORT = 29500


@dataclass(frozen=True)
class Launch:
    """Where this process stands in a multi-process launch (from the environment)."""
    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: ``gpu[03-05,9],cpu1`` -> ``gpu03`` (``scontrol show hostnames``'s first)."""
    match = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if match is None:
        raise ValueError(f"cannot read the SLURM node list {nodelist!r}")
    prefix, ranges = match.groups()
    return prefix if ranges is None else prefix + ranges.split(",")[0].split("-")[0]


def launch_from_env(env: Mapping[str, str] | None = None) -> Launch | None:
    """The launch this process belongs to: torchrun's variables first, then SLURM's (only with more than one
    task); None for a single process."""
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        rank, world, local = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", env["RANK"]))
    elif "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
        rank, world, local = int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), int(env.get("SLURM_LOCALID", "0"))
    else:
        return None
    addr = env.get("MASTER_ADDR") or (first_host(env["SLURM_JOB_NODELIST"]) if "SLURM_JOB_NODELIST" in env
                                      else "127.0.0.1")
    port = int(env.get("MASTER_PORT") or (20000 + int(env["SLURM_JOB_ID"]) % 20000 if "SLURM_JOB_ID" in env
                                          else DEFAULT_PORT))
    return Launch(rank, world, local, addr, port)


def rank_device(name: str, local_rank: int) -> torch.device:
    """This rank's device for the requested ``name``: ``cpu`` stays the CPU; ``cuda``/``cuda:N`` and ``auto`` with a
    GPU present become ``cuda:LOCAL_RANK`` (one GPU per process; the launcher decides which GPUs are visible)."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if name == "auto" or name.startswith("cuda"):
        return torch.device("cuda", local_rank)
    raise ValueError(f"device {name!r}: data-parallel training runs on cpu or cuda")


@dataclass(frozen=True)
class Dist:
    """The process group of one training job (a world of one without a launcher)."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that prints and writes files."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def sum(self, values: Sequence[float], device: torch.device) -> list[float]:
        """Each value summed over the ranks (float64, so counts stay exact)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(list(values), dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether ``flag`` is set on some rank (every rank gets the same answer, so all stop at the same step)."""
        if not self.enabled:
            return flag
        t = torch.tensor([int(flag)], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        """Rank 0's buffers (BN running statistics) on every rank: DDP syncs them before each forward, and each
        rank's last training forward then moves its own copy."""
        if self.enabled:
            for buffer in module.buffers():
                dist.broadcast(buffer, 0)


@contextmanager
def process_group(device: str = "auto", env: Mapping[str, str] | None = None) -> Iterator[tuple[Dist, torch.device | None]]:
    """``(Dist, device)`` for this process: under a launcher the process group is initialised (NCCL on CUDA, gloo
    on the CPU) and destroyed on exit, and the device is this rank's; without one, ``(Dist(), None)``: the
    caller resolves its device as it always has."""
    launch = launch_from_env(env)
    if launch is None or launch.world_size == 1:
        yield Dist(), None
        return
    target = rank_device(device, launch.local_rank)
    if target.type == "cuda":
        torch.cuda.set_device(target)
    os.environ.setdefault("MASTER_ADDR", launch.master_addr)  # env:// reads them; SLURM sets neither
    os.environ.setdefault("MASTER_PORT", str(launch.master_port))
    dist.init_process_group("nccl" if target.type == "cuda" else "gloo", rank=launch.rank,
                            world_size=launch.world_size)
    try:
        yield Dist(launch.rank, launch.world_size, launch.local_rank), target
    finally:
        dist.destroy_process_group()
