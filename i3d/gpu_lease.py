"""One GPU per job on a multi-GPU machine without a cluster: a lease taken by a lock file, before CUDA starts.

``snakemake --cores all --resources gpu=N`` runs at most N jobs that declare ``gpu=1`` at once, but Snakemake
tells no job *which* GPU to use (it sets no ``CUDA_VISIBLE_DEVICES``), so every job would land on GPU 0. Here a
job that will run on CUDA leases a free GPU for its lifetime: it lists the machine's GPUs with ``nvidia-smi``,
takes an exclusive non-blocking ``flock`` on one lock file per GPU (in order, the first free one wins), and sets
``CUDA_VISIBLE_DEVICES`` to that GPU's UUID, so the job then sees it alone, as ``cuda:0``. The kernel releases a
``flock`` when the process that holds it exits, however it exits (SIGKILL, OOM killer), so a dead job never
leaves a stale lease. When every GPU is held the job waits, polling, for up to ``I3D_GPU_LEASE_TIMEOUT`` seconds
and then fails with a message that says why.

Nothing is leased when:

- ``CUDA_VISIBLE_DEVICES`` is already set: a scheduler (SLURM's ``--gpus``) or you chose the GPUs; that is
  respected as is (``export CUDA_VISIBLE_DEVICES=0`` is also how to let jobs share a card on purpose);
- the process is one rank of a multi-process job (``LOCAL_RANK`` set, or ``WORLD_SIZE`` above 1): torchrun
  starts one process per GPU and each picks ``cuda:LOCAL_RANK``, so a rank must not narrow what it sees;
  its job leased them before torchrun started (below);
- the device is ``cpu`` or names a GPU (``cuda:1``): the command line decided;
- ``nvidia-smi`` is missing or lists fewer than two GPUs: with one there is nothing to choose, and jobs that
  declare no ``gpu`` resource (config ``gpus: 0``) keep sharing it, as documented, instead of queueing on a lock.

A data-parallel job of N GPUs leases them all before its ranks exist: the train rule runs
``python3 -m i3d.gpu_lease --gpus N --device D -- torchrun --nproc-per-node N ...``, which takes N locks at once
(all or none: a job holding some while it waits for the rest could deadlock with another such job), sets
``CUDA_VISIBLE_DEVICES`` to the N UUIDs and becomes torchrun (``exec``, keeping the locks for its lifetime), whose
ranks then see those N GPUs alone, as ``cuda:0`` to ``cuda:N-1``.

The lease must come before anything initialises CUDA in the process (``torch.cuda.is_available()`` does): CUDA
reads ``CUDA_VISIBLE_DEVICES`` once, at start-up. The stages take it where they resolve their device
(``i3d.device.resolve_device``, and ``i3d.device.cuda_available`` for the flow backends, which ask first). This
module imports no torch.

Environment:

- ``I3D_GPU_LOCK_DIR``: the folder of the lock files (default ``<tmp>/i3d-gpu-locks-<uid>``); it must be on a
  local file system of the machine, the same for every job that shares its GPUs;
- ``I3D_GPU_LEASE_TIMEOUT``: seconds to wait for a free GPU (default 600);
- ``I3D_FAKE_GPUS``: for tests, a number N to stand for N GPUs (``GPU-fake-0`` ...) instead of asking nvidia-smi.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

LEASE_TIMEOUT_S = 600.0
"""How long a job waits for a GPU by default: long enough for a job that is finishing, short enough to say that
more jobs ask for GPUs than the machine has (``--resources gpu=N`` above the GPU count, or jobs outside it)."""

POLL_S = 0.5
LIST_TIMEOUT_S = 10

_held: dict[str, list] = {}
"""The lease of this process: the open lock files (kept open, since closing one releases its lock) and the GPUs."""


def list_gpus(timeout: float = LIST_TIMEOUT_S) -> list[tuple[str, str]]:
    """The machine's GPUs as (index, UUID) pairs in nvidia-smi's order; ``I3D_FAKE_GPUS=N`` fakes N of them.
    Empty when nvidia-smi is missing, fails or does not answer in time."""
    fake = os.environ.get("I3D_FAKE_GPUS")
    if fake is not None:
        return [(str(i), f"GPU-fake-{i}") for i in range(int(fake))]
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=index,uuid", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return []
    if out.returncode != 0:
        return []
    gpus = []
    for line in out.stdout.splitlines():
        index, _, uuid = (part.strip() for part in line.partition(","))
        if index and uuid.startswith("GPU-"):
            gpus.append((index, uuid))
    return gpus


def lock_dir() -> Path:
    """Where the lock files are: ``I3D_GPU_LOCK_DIR``, else a folder of this user's in the temporary folder."""
    chosen = os.environ.get("I3D_GPU_LOCK_DIR")
    return Path(chosen) if chosen else Path(tempfile.gettempdir()) / f"i3d-gpu-locks-{os.getuid()}"


def wants_lease(device: str, environ: dict[str, str] | os._Environ = os.environ) -> bool:
    """Whether a job on ``device`` should lease a GPU here (see the module's docstring for when it does not)."""
    if device not in ("auto", "cuda"):
        return False
    if "CUDA_VISIBLE_DEVICES" in environ:
        return False
    return "LOCAL_RANK" not in environ and int(environ.get("WORLD_SIZE") or 1) <= 1


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive ``flock`` on ``path``, or None when another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the file was removed or replaced between open and lock: lock the one now there


def lease_gpus(count: int = 1, timeout: float | None = None,
               gpus: Callable[[], list[tuple[str, str]]] = list_gpus,
               log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> list[str] | None:
    """Lease ``count`` free GPUs for the rest of this process and set ``CUDA_VISIBLE_DEVICES`` to their UUIDs.

    Returns the UUIDs, or None when there is nothing to choose: no GPU, or one GPU for a one-GPU job. All or
    none: while fewer than ``count`` are free the job holds none of them. Call before CUDA starts, and only when
    ``wants_lease``. Waits up to ``timeout`` seconds (default ``I3D_GPU_LEASE_TIMEOUT``, else 600) while too few
    are free, then raises RuntimeError; so it does at once when the machine has fewer than ``count``. A second call
    in the same process returns the first lease.
    """
    if "uuids" in _held:
        return list(_held["uuids"])
    if count < 1:
        raise ValueError(f"a GPU lease is for 1 or more GPUs, not {count}")
    found = gpus()
    if not found or (count == 1 and len(found) == 1):  # one GPU: jobs share it as the gpu resource limit allows
        return None
    if len(found) < count:
        raise RuntimeError(f"i3d: the job asks for {count} GPUs and this machine has {len(found)} "
                           f"({', '.join(uuid for _, uuid in found)}): lower train.gpus_per_model")
    if timeout is None:
        timeout = float(os.environ.get("I3D_GPU_LEASE_TIMEOUT", LEASE_TIMEOUT_S))
    folder = lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    waiting = False
    while True:
        taken: list[tuple[str, str, int]] = []
        for index, uuid in found:
            fd = _try_lock(folder / f"{uuid}.lock")
            if fd is not None:
                taken.append((index, uuid, fd))
                if len(taken) == count:
                    break
        if len(taken) == count:
            for _, _, fd in taken:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for a person; the lock is the flock
            _held.update(fds=[fd for _, _, fd in taken], uuids=[uuid for _, uuid, _ in taken])
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(_held["uuids"])
            log(f"i3d: leased GPU{'s' if count > 1 else ''} {', '.join(i for i, _, _ in taken)} "
                f"({', '.join(_held['uuids'])}) for this job; locks in {folder}")
            return list(_held["uuids"])
        for _, _, fd in taken:  # all or none
            os.close(fd)
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"i3d: the job needs {count} of the {len(found)} GPUs of this machine and they stayed held by other "
                f"jobs for {timeout:g} s (locks in {folder}). Run at most as many GPU jobs at once as there are GPUs "
                f"(snakemake --resources gpu={len(found)}), wait longer (I3D_GPU_LEASE_TIMEOUT), or choose the "
                "GPUs yourself (CUDA_VISIBLE_DEVICES).")
        if not waiting:
            log(f"i3d: {len(found) - len(taken)} of the {len(found)} GPUs are held by other jobs; waiting up to "
                f"{timeout:g} s for {'one' if count == 1 else f'{count} at once'}")
            waiting = True
        time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))


def lease_gpu(timeout: float | None = None, gpus: Callable[[], list[tuple[str, str]]] = list_gpus,
              log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> str | None:
    """:func:`lease_gpus` of one GPU: its UUID, or None when the machine has fewer than two GPUs."""
    leased = lease_gpus(1, timeout, gpus, log)
    return leased[0] if leased else None


def lease_for_device(device: str) -> str | None:
    """Lease a GPU when a job on ``device`` should (``wants_lease``); the UUID leased, or None. Not once CUDA has
    started in this process (a caller inside a larger program): it would not see the change any more."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return None
    return lease_gpu() if wants_lease(device) else None


def main(argv: list[str] | None = None) -> None:
    """``python3 -m i3d.gpu_lease --gpus N --device D -- COMMAND ...``: lease N GPUs for a data-parallel job (when
    ``wants_lease(D)``), then become COMMAND, which holds the locks until it exits."""
    parser = argparse.ArgumentParser(prog="python3 -m i3d.gpu_lease",
                                     description="lease GPUs by lock file, then run a command that sees them alone")
    parser.add_argument("--gpus", type=int, required=True, help="how many GPUs the command uses")
    parser.add_argument("--device", default="auto", help="the job's device (auto, cuda, cpu, cuda:N)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command and its arguments")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run after --")
    if wants_lease(args.device):
        try:
            lease_gpus(args.gpus)
        except RuntimeError as err:
            sys.exit(str(err))
    for fd in _held.get("fds", []):
        os.set_inheritable(fd, True)  # the locks go on with the command (Python opens files non-inheritable)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
