"""A throwaway one-node SLURM cluster on this machine, for tests/test_slurm.py (and by hand).

Debian's ``slurmctld slurmd munge`` (22.05), run as root without systemd and without cgroups, as in
/work/shared/reference/snakemake-and-slurm.md §3.2, but with everything in one folder so that nothing in /etc or
/var is touched and two clusters can run side by side: its own munge key and munged socket, its own ports,
state, spool, logs and pid files. Clients find it by ``SLURM_CONF`` (:meth:`OneNodeCluster.env`), and by the
wrappers in its ``bin/`` (first on that PATH), which set it: snakemake-executor-plugin-slurm-jobstep (0.6.1)
removes every ``SLURM_*`` variable but a few from the environment of the ``srun`` it runs inside a job, so a bare
``srun`` there would look for /etc/slurm/slurm.conf.

- No accounting (no slurmdbd): ``sacct`` says "accounting storage is disabled", so a Snakemake run needs the
  squeue status command (the SLURM profile sets it); ``MinJobAge=3600`` keeps finished jobs in ``squeue`` (the
  plugin needs 120 s; a test reads every job's allocation at its end).
- The node claims at least the CPUs, memory and GPUs that the SLURM profile asks for one job
  (``SlurmdParameters=config_overrides``: slurmd takes the configured counts instead of the hardware's), so the
  profile's own requests are what the test submits, unchanged, on a small machine. Nothing enforces them here
  (no cgroups), and the GPUs are fake (``File=/dev/null``, ``/dev/zero``): a job gets ``CUDA_VISIBLE_DEVICES``, no CUDA.
- The daemons run at nice 19, and so do the jobs (they inherit slurmd's nice value).

By hand:  python3 tests/slurm_cluster.py DIR   (starts one, prints what to export, stops on Ctrl-C or SIGTERM)
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("srun", "sbatch", "squeue", "scancel", "sinfo", "scontrol", "sacct")
NODE = "localnode"
FAKE_GPUS = ("/dev/null", "/dev/zero")  # any device file will do: nothing opens them
GPUS = len(FAKE_GPUS)
PARTITION = "debug"
CPUS, MEMORY_MB = 16, 128000  # at least the SLURM profile's largest request (train: 8 CPUs, 64 GB, 1 GPU)


def missing() -> list[str]:
    """The programs this needs that are not installed (apt-get install slurmctld slurmd munge)."""
    names = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
    return [name for name in names if _exe(name) is None]


def _exe(name: str, skip: Path | None = None) -> str | None:
    dirs = [d for d in f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin".split(":") if d and Path(d) != skip]
    return shutil.which(name, path=":".join(dirs))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie does not (the daemons fork away from us, and a container's PID 1 may never
    reap them)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class OneNodeCluster:
    """Start with :meth:`start`, stop with :meth:`stop` (or use it as a context manager)."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.pids: dict[str, int] = {}

    def env(self) -> dict[str, str]:
        """os.environ plus what SLURM's commands (and Snakemake's plugin, which calls them) need to find it."""
        return {**os.environ, "SLURM_CONF": str(self.conf),
                "PATH": f"{self.root / 'bin'}:{os.environ.get('PATH', '')}:/usr/sbin:/sbin"}

    def _write_config(self) -> None:
        for sub in ("munge", "state", "spool", "log", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for name in CLIENTS:
            exe = _exe(name, skip=self.root / "bin")
            if exe:
                wrapper = self.root / "bin" / name
                wrapper.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {exe} "$@"\n')
                wrapper.chmod(0o755)
        (self.root / "munge").chmod(0o755)  # munged wants its socket's folder searchable by all
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            subprocess.run([_exe("mungekey"), "--create", f"--keyfile={key}"], check=True)
        key.chmod(0o600)
        (self.root / "gres.conf").write_text("".join(f"NodeName={NODE} Name=gpu File={dev}\n" for dev in FAKE_GPUS))
        r = self.root
        self.conf.write_text(f"""\
ClusterName=i3dtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=3600
KillWait=5
SlurmdParameters=config_overrides
PropagatePrioProcess=0
MailProg=/bin/true
GresTypes=gpu
NodeName={NODE} NodeAddr=127.0.0.1 CPUs={CPUS} RealMemory={MEMORY_MB} Gres=gpu:{GPUS} State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
""")

    def _daemon(self, name: str, args: list[str], pidfile: Path) -> None:
        with open(self.root / "log" / f"{name}.out", "ab") as log:
            subprocess.run(["nice", "-n", "19", _exe(name), *args], stdout=log, stderr=subprocess.STDOUT,
                           env=self.env(), check=True, timeout=60)  # each forks into the background
        for _ in range(100):
            if pidfile.exists() and pidfile.read_text().strip():
                self.pids[name] = int(pidfile.read_text().split()[0])
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} wrote no pid file {pidfile}; see {self.root / 'log'}")

    def start(self, timeout: float = 60) -> OneNodeCluster:
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> OneNodeCluster:
        self._write_config()
        m = self.root / "munge"
        self._daemon("munged", ["--force", f"--socket={self.munge_socket}", f"--key-file={m / 'munge.key'}",
                                f"--pid-file={m / 'munged.pid'}", f"--seed-file={m / 'munged.seed'}",
                                f"--log-file={self.root / 'log' / 'munged.log'}"], m / "munged.pid")
        self._daemon("slurmctld", ["-f", str(self.conf)], self.root / "slurmctld.pid")
        self._daemon("slurmd", ["-f", str(self.conf), "-N", NODE], self.root / "slurmd.pid")
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=self.env(),
                                 check=False, timeout=30)
            state = out.stdout.strip() or out.stderr.strip()
            if state == "idle":
                return self
            time.sleep(0.5)
        raise RuntimeError(f"the node is not idle after {timeout:g} s (sinfo: {state!r}); see {self.root / 'log'}")

    def cancel_all(self, timeout: float = 60) -> None:
        """scancel every job, and wait (bounded) until none runs: SLURM kills their processes (KillWait)."""
        env = self.env()
        for _ in range(int(timeout / 0.5)):
            try:
                out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, env=env,
                                     check=False, timeout=30)  # without -t all: pending, running and completing jobs
            except subprocess.TimeoutExpired:
                return
            live = out.stdout.split()
            if out.returncode != 0 or not live:
                return
            subprocess.run(["scancel", *live], capture_output=True, env=env, check=False, timeout=30)
            time.sleep(0.5)

    def stop(self, timeout: float = 20) -> None:
        """Cancel the jobs; SIGTERM each daemon this started, by its pid, then SIGKILL what is left after
        ``timeout``."""
        if "slurmctld" in self.pids and "slurmd" in self.pids:
            self.cancel_all()
        for name in reversed(DAEMONS):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not _alive(pid):
                    break
                time.sleep(0.2)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("By hand:")[1].strip())
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill PID stops the cluster too
    cluster = OneNodeCluster(Path(sys.argv[1])).start()
    print(f"export PATH={cluster.root / 'bin'}:$PATH SLURM_CONF={cluster.conf}   # Ctrl-C stops the cluster",
          flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
