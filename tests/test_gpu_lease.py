"""One GPU per job without a cluster (i3d.gpu_lease): faked GPU lists, real processes, real flock, real Snakemake."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from i3d import gpu_lease

ROOT = Path(__file__).resolve().parents[1]

HOLDER = textwrap.dedent("""
    import os, pathlib, sys, time
    from i3d.gpu_lease import lease_for_device
    lease_for_device(sys.argv[1])
    print(os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
    release, end = pathlib.Path(sys.argv[2]), time.monotonic() + 60
    while not release.exists() and time.monotonic() < end:
        time.sleep(0.05)
""")


def lease_env(tmp_path: Path, gpus: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "LOCAL_RANK", "WORLD_SIZE")}
    env.update(PYTHONPATH=str(ROOT), I3D_FAKE_GPUS=str(gpus), I3D_GPU_LOCK_DIR=str(tmp_path / "locks"),
               I3D_GPU_LEASE_TIMEOUT="60", **extra)
    return env


def holder(tmp_path: Path, env: dict[str, str], name: str, device: str = "auto") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOLDER, device, str(tmp_path / f"release-{name}")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def leased(proc: subprocess.Popen, timeout: float) -> str | None:
    """The GPU the holder printed once leased, or None when it printed nothing within ``timeout`` seconds."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().strip() if ready else None


@pytest.fixture
def procs():
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_concurrent_jobs_get_distinct_gpus_and_a_fourth_waits_for_a_freed_one(tmp_path, procs):
    env = lease_env(tmp_path, gpus=3)
    procs += [holder(tmp_path, env, str(i)) for i in range(3)]
    got = [leased(p, timeout=30) for p in procs]
    assert sorted(got) == ["GPU-fake-0", "GPU-fake-1", "GPU-fake-2"]

    procs.append(holder(tmp_path, env, "3"))
    assert leased(procs[3], timeout=1.5) is None  # all three held: it waits
    (tmp_path / "release-1").touch()
    procs[1].wait(timeout=30)
    assert leased(procs[3], timeout=30) == got[1]  # the one freed
    for name in "023":
        (tmp_path / f"release-{name}").touch()
    assert [p.wait(timeout=30) for p in procs] == [0, 0, 0, 0]
    assert "waiting up to 60 s" in procs[3].stderr.read()


def test_a_killed_holder_frees_its_gpu_at_once(tmp_path, procs):
    env = lease_env(tmp_path, gpus=2)
    procs.append(holder(tmp_path, env, "a"))
    assert leased(procs[0], timeout=30) == "GPU-fake-0"
    procs.append(holder(tmp_path, env, "c"))
    assert leased(procs[1], timeout=30) == "GPU-fake-1"

    now = {**env, "I3D_GPU_LEASE_TIMEOUT": "0"}
    busy = subprocess.run([sys.executable, "-c", HOLDER, "auto", str(tmp_path / "none")], env=now, timeout=30,
                          check=False, capture_output=True, text=True)
    assert busy.returncode != 0 and "stayed held by other jobs" in busy.stderr

    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait(timeout=30)
    (tmp_path / "release-b").touch()
    after = subprocess.run([sys.executable, "-c", HOLDER, "auto", str(tmp_path / "release-b")], env=now, timeout=30,
                           check=False, capture_output=True, text=True)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == "GPU-fake-0"


@pytest.mark.parametrize("env, device", [
    ({"CUDA_VISIBLE_DEVICES": "3"}, "auto"),   # a scheduler's (or your) choice
    ({"CUDA_VISIBLE_DEVICES": ""}, "cuda"),    # no GPU, on purpose
    ({"LOCAL_RANK": "1", "WORLD_SIZE": "2"}, "auto"),  # a torchrun rank uses cuda:LOCAL_RANK
    ({"WORLD_SIZE": "4"}, "cuda"),
    ({}, "cpu"),
    ({}, "cuda:1"),                             # the command line named the GPU
])
def test_no_lease_where_the_gpu_is_already_decided(tmp_path, monkeypatch, env, device):
    for key in ("CUDA_VISIBLE_DEVICES", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {**env, "I3D_FAKE_GPUS": "2", "I3D_GPU_LOCK_DIR": str(tmp_path / "locks")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(gpu_lease, "_held", {})
    assert gpu_lease.lease_for_device(device) is None
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == env.get("CUDA_VISIBLE_DEVICES")
    assert not (tmp_path / "locks").exists()


def test_a_lease_in_process_sets_the_visible_gpu_once(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("I3D_FAKE_GPUS", "2")
    monkeypatch.setenv("I3D_GPU_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setattr(gpu_lease, "_held", {})
    try:
        assert gpu_lease.lease_for_device("cuda") == "GPU-fake-0"
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "GPU-fake-0"
        assert gpu_lease.lease_gpu() == "GPU-fake-0"  # the same lease, not a second GPU
        assert (tmp_path / "locks" / "GPU-fake-0.lock").read_text().strip() == str(os.getpid())
    finally:
        for fd in gpu_lease._held.get("fds", []):
            os.close(fd)


def test_no_lease_without_a_choice_of_gpus(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_lease, "_held", {})
    monkeypatch.setenv("I3D_GPU_LOCK_DIR", str(tmp_path / "locks"))
    assert gpu_lease.lease_gpu(gpus=list) is None
    assert gpu_lease.lease_gpu(gpus=lambda: [("0", "GPU-only")]) is None  # one GPU: shared, as the limit allows
    assert "CUDA_VISIBLE_DEVICES" not in os.environ or os.environ["CUDA_VISIBLE_DEVICES"] != "GPU-only"
    assert not (tmp_path / "locks").exists()


RANK = textwrap.dedent("""
    import os, pathlib, sys, time
    from i3d.gpu_lease import lease_for_device
    lease_for_device("auto")  # what a rank's i3d train does first: nothing here, torchrun set LOCAL_RANK
    out = pathlib.Path(sys.argv[1])
    (out / f"rank{os.environ['LOCAL_RANK']}.tmp").write_text(os.environ.get("CUDA_VISIBLE_DEVICES", "none"))
    (out / f"rank{os.environ['LOCAL_RANK']}.tmp").rename(out / f"rank{os.environ['LOCAL_RANK']}.txt")
    release, end = out / "release", time.monotonic() + 60
    while not release.exists() and time.monotonic() < end:
        time.sleep(0.05)
""")


def data_parallel(env: dict[str, str], gpus: int, command: list[str]) -> subprocess.Popen:
    """What the train rule runs for a model on ``gpus`` GPUs, with ``command`` for its torchrun command."""
    return subprocess.Popen([sys.executable, "-m", "i3d.gpu_lease", "--gpus", str(gpus), "--device", "auto", "--",
                             *command], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_data_parallel_job_leases_its_gpus_before_torchrun_starts_its_ranks(tmp_path, procs):
    """3 GPUs, one leased by a one-GPU job: a 2-GPU torchrun job gets the other two, each rank sees both (and
    leases nothing more), and they stay leased while torchrun runs: a further job waits until it ends."""
    env = lease_env(tmp_path, gpus=3)
    procs.append(holder(tmp_path, env, "single"))
    assert leased(procs[0], timeout=30) == "GPU-fake-0"
    (tmp_path / "rank.py").write_text(RANK)
    ranks = tmp_path / "ranks"
    ranks.mkdir()
    procs.append(data_parallel(env, 2, ["torchrun", "--standalone", "--nproc-per-node", "2", str(tmp_path / "rank.py"),
                                        str(ranks)]))
    deadline = time.monotonic() + 120  # torchrun's start, on a busy machine
    while len(list(ranks.glob("rank*.txt"))) < 2 and procs[1].poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    seen = {f.name: f.read_text() for f in ranks.glob("rank*.txt")}
    assert seen == {"rank0.txt": "GPU-fake-1,GPU-fake-2", "rank1.txt": "GPU-fake-1,GPU-fake-2"}, \
        (seen, procs[1].poll() is not None and procs[1].stderr.read()[-2000:])

    procs.append(holder(tmp_path, env, "next"))
    assert leased(procs[2], timeout=1.5) is None  # all three held: by the one-GPU job and by torchrun
    (ranks / "release").touch()
    assert procs[1].wait(timeout=60) == 0
    assert leased(procs[2], timeout=30) == "GPU-fake-1"  # freed when torchrun exited
    for name in ("single", "next"):
        (tmp_path / f"release-{name}").touch()


def test_a_data_parallel_job_holds_no_gpu_while_it_waits_for_enough(tmp_path, procs):
    """All or none: a 2-GPU job waiting for a second free GPU leaves the free one to a one-GPU job (holding it
    while waiting could deadlock two such jobs), and starts once both are free."""
    env = lease_env(tmp_path, gpus=2)
    procs.append(holder(tmp_path, env, "first"))
    assert leased(procs[0], timeout=30) == "GPU-fake-0"
    procs.append(data_parallel(env, 2, [sys.executable, "-c", HOLDER, "auto", str(tmp_path / "release-ddp")]))
    assert leased(procs[1], timeout=1.5) is None
    procs.append(holder(tmp_path, env, "second"))
    assert leased(procs[2], timeout=30) == "GPU-fake-1"
    for name in ("first", "second"):
        (tmp_path / f"release-{name}").touch()
    assert leased(procs[1], timeout=30) == "GPU-fake-0,GPU-fake-1"
    (tmp_path / "release-ddp").touch()
    assert procs[1].wait(timeout=30) == 0
    assert "1 of the 2 GPUs are held by other jobs; waiting up to 60 s for 2 at once" in procs[1].stderr.read()


def test_a_data_parallel_job_takes_no_lease_under_a_scheduler_and_fails_on_too_few_gpus(tmp_path):
    show = [sys.executable, "-c", "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"]
    chosen = subprocess.run([sys.executable, "-m", "i3d.gpu_lease", "--gpus", "2", "--", *show], timeout=60,
                            env=lease_env(tmp_path, gpus=4, CUDA_VISIBLE_DEVICES="2,3"), capture_output=True,
                            text=True, check=False)
    assert (chosen.returncode, chosen.stdout.strip()) == (0, "2,3")  # SLURM's --gpus chose them
    assert not (tmp_path / "locks").exists()
    short = subprocess.run([sys.executable, "-m", "i3d.gpu_lease", "--gpus", "3", "--", *show], timeout=60,
                           env=lease_env(tmp_path, gpus=2), capture_output=True, text=True, check=False)
    assert short.returncode == 1 and "asks for 3 GPUs and this machine has 2" in short.stderr, short.stderr


def test_gpus_are_listed_by_nvidia_smi_index_and_uuid(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/bash\nprintf '0, GPU-aaa\\n1, GPU-bbb\\n'\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    monkeypatch.delenv("I3D_FAKE_GPUS", raising=False)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert gpu_lease.list_gpus() == [("0", "GPU-aaa"), ("1", "GPU-bbb")]
    (bin_dir / "nvidia-smi").write_text("#!/bin/bash\necho 'No devices were found'; exit 6\n")
    assert gpu_lease.list_gpus() == []


def test_the_stages_lease_where_they_resolve_their_device_before_asking_cuda(monkeypatch):
    import torch

    from i3d.device import cuda_available, resolve_device
    from i3d.flow.backends import get_backend

    calls = []

    def lease(device):  # record the order: the lease, then CUDA's answer
        calls.append(device)

    monkeypatch.setattr(gpu_lease, "lease_for_device", lease)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: calls.append("asked") or False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)  # passed on; lease_for_device declines it
    assert cuda_available() is False
    get_backend("auto", device="auto")  # the flow backends ask CUDA before they resolve a device
    assert calls[:7] == ["auto", "asked", "cuda:1", "auto", "asked", "auto", "asked"]


SNAKEFILE = """
rule all:
    input: expand("done/{{i}}.txt", i=range(6))

rule job:
    output: "done/{{i}}.txt"
    resources: gpu=1
    shell: "{python} job.py {{output}}"
"""

JOB = """
import os, sys, time
from i3d.gpu_lease import lease_for_device
lease_for_device("auto")
start = time.time()
time.sleep(2)
open(sys.argv[1], "w").write(f"{start} {time.time()} {os.environ['CUDA_VISIBLE_DEVICES']}\\n")
"""


def test_snakemake_runs_gpu_jobs_on_distinct_gpus_at_most_n_at_once(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(python=sys.executable))
    (tmp_path / "job.py").write_text(JOB)
    env = lease_env(tmp_path, gpus=2)
    env.pop("SNAKEMAKE_PROFILE", None)
    out = subprocess.run(["snakemake", "--cores", "4", "--resources", "gpu=2", "--quiet", "all"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = []
    for f in sorted((tmp_path / "done").iterdir()):
        start, end, gpu = f.read_text().split()
        jobs.append((float(start), float(end), gpu))
    assert len(jobs) == 6

    def overlap(a, b):
        return a[0] < b[1] and b[0] < a[1]

    at_once = max(sum(b[0] <= a[0] < b[1] for b in jobs) for a in jobs)  # running when each job started
    assert at_once == 2  # two at once, never three
    for i, a in enumerate(jobs):
        for b in jobs[i + 1:]:
            assert not (overlap(a, b) and a[2] == b[2]), (a, b)
    assert {j[2] for j in jobs} == {"GPU-fake-0", "GPU-fake-1"}
