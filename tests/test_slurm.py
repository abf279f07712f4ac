"""The SLURM profile against a real scheduler: a one-node Slurm 22.05 without accounting (tests/slurm_cluster.py).

A small stand-in DAG (UCF-101 stand-in, I3D on flow: acquire, frames, flow, train, predict, table1, table2) runs
through ``snakemake --workflow-profile workflow/profiles/slurm`` as the README says, the profile unchanged; the
only flag added, --slurm-init-seconds-before-status-checks, makes Snakemake look sooner (40 s by default).
Midway the train job is cancelled with ``scancel`` after its first epoch's checkpoint: the profile's retries
resubmit it, and the rerun resumes from that checkpoint. Then every job's allocation is what the profile asks for.

Marked ``slurm`` (not in the default run): .ci/run installs Debian's slurmctld, slurmd and munge and runs it.
Without them, or not as root, it skips, except in CI (``CI=true``), where it fails.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.slurm_cluster import OneNodeCluster, missing

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 6  # a few seconds each: the test cancels the job after the first
STANDIN = {
    "datasets": {"ucf101": {
        "source": "synthetic", "splits": [1], "shards": 1, "architectures": ["i3d"],
        "standin": {"classes": 3, "clips_per_class": 6, "seed": 2, "short_side": [40, 48], "seconds": [1.0, 1.4]},
    }},
    "frames": {"short_side": 32},
    "flow": {"tvl1": {"epsilon": 0.05}},
    "models": {"architectures": ["i3d"], "streams": ["flow"], "frames_scale": 0.125},  # I3D: 8 frames
    "train": {"epochs": EPOCHS, "batch_size": 4, "crop_size": 32, "lr": 0.01},
    "test": {"crop_size": 32},
}
MODEL = "ucf101/split1/i3d-flow-scratch"
RUN_TIMEOUT_S = 1800  # a guard against a hang, not a timing assertion (SIGKILL: Snakemake ignores SIGTERM then);
# 11-16 minutes at nice 19 on a 2-core machine under a load of 5-6 (each job re-parses the Snakefile)


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    absent = missing()
    reason = (f"needs Debian's slurmctld, slurmd and munge (missing: {', '.join(absent)})" if absent
              else "starts SLURM's daemons as root" if os.geteuid() != 0
              else "" if shutil.which("snakemake") else "needs the snakemake command")
    if not reason:
        try:
            import snakemake_executor_plugin_slurm  # noqa: F401
        except ImportError:
            reason = "needs snakemake-executor-plugin-slurm (pip install -e '.[slurm]')"
    if reason:
        if _ci():
            pytest.fail(f"{reason}; .ci/run installs it, so in CI this is an error")
        pytest.skip(reason)
    with OneNodeCluster(tmp_path_factory.mktemp("slurm")) as running:
        yield running


def slurm_jobs(env: dict[str, str]) -> list[dict[str, str]]:
    """Every job the cluster knows (MinJobAge keeps finished ones): id, state, comment (rule_<rule>_wildcards_...)."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%T|%k"], capture_output=True, text=True, env=env,
                         check=True, timeout=30).stdout
    return [dict(zip(("id", "state", "comment"), line.split("|"))) for line in out.splitlines() if line]


def allocation(env: dict[str, str], job_id: str) -> dict[str, str]:
    """``scontrol show job``'s fields (CPUs/Task, TresPerJob, MinMemoryNode, ...) of a job."""
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, env=env,
                         check=True, timeout=30).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


def cancel_after_first_checkpoint(project: Path, run: subprocess.Popen, env: dict[str, str], deadline: float,
                                  log: Path) -> str:
    """Wait (until ``deadline``) for the train job's first checkpoint, then scancel that job; its SLURM job id."""
    checkpoint = project / "results" / MODEL / "checkpoint.pt"
    while time.monotonic() < deadline and run.poll() is None:
        running = [j for j in slurm_jobs(env) if j["comment"].startswith("rule_train_") and j["state"] == "RUNNING"]
        if running and checkpoint.exists():
            subprocess.run(["scancel", running[0]["id"]], env=env, check=True, timeout=30)
            return running[0]["id"]
        time.sleep(0.2)
    run.kill()
    pytest.fail(f"no running train job with a checkpoint to cancel (snakemake exited: {run.poll()}):\n"
                f"{log.read_text()[-3000:]}")


def test_the_slurm_profile_runs_the_dag_and_a_cancelled_train_job_resumes(cluster, tmp_path):
    project = tmp_path / "project"
    for part in ("workflow", "i3d", "config"):
        shutil.copytree(REPO / part, project / part, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "config" / "config.yaml").write_text(yaml.safe_dump(STANDIN))
    # The jobs' `i3d` command imports this package (sbatch --export=ALL passes PYTHONPATH on).
    env = {**cluster.env(), "PYTHONPATH": str(project)}
    log = tmp_path / "snakemake.log"
    tic = time.monotonic()
    with open(log, "w") as out:
        run = subprocess.Popen(
            ["snakemake", "results/table2.md", "--workflow-profile", "workflow/profiles/slurm",
             "--slurm-init-seconds-before-status-checks", "2"],
            cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            cancelled = cancel_after_first_checkpoint(project, run, env, tic + RUN_TIMEOUT_S, log)
            run.wait(timeout=max(1.0, tic + RUN_TIMEOUT_S - time.monotonic()))
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    text = log.read_text()
    print(f"snakemake under SLURM: {time.monotonic() - tic:.0f} s")
    assert run.returncode == 0, text[-4000:]
    assert (project / "results" / "table2.md").exists()
    assert "Nothing to be done" not in text and re.search(r"\b7 of 7 steps \(100%\) done", text), text[-3000:]

    jobs = {j["id"]: j for j in slurm_jobs(env)}
    assert jobs[cancelled]["state"] == "CANCELLED"
    trains = sorted((j for j in jobs.values() if j["comment"].startswith("rule_train_")), key=lambda j: int(j["id"]))
    assert [j["state"] for j in trains] == ["CANCELLED", "COMPLETED"], trains  # resubmitted once (retries: 1)
    train_log = (project / "logs" / MODEL / "train.log").read_text()
    assert re.search(r"resuming from epoch [1-9]", train_log), train_log[-2000:]
    assert f"epoch {EPOCHS}/{EPOCHS}" in train_log and "epoch 1/" not in train_log  # the rerun's own log

    # What the profile asks for reached sbatch: train and predict 8 CPUs and a GPU, flow 4 CPUs and a GPU.
    for rule, cpus in (("train", "8"), ("predict", "8"), ("flow", "4"), ("frames", "1")):
        job = next((j for j in jobs.values() if j["comment"].startswith(f"rule_{rule}_") and j["state"] == "COMPLETED"),
                   None)
        assert job, (rule, jobs)
        granted = allocation(env, job["id"])
        assert granted["CPUs/Task"] == cpus, (rule, granted)
        assert ("gpu:1" in granted.get("TresPerJob", "")) == (rule != "frames"), (rule, granted)
