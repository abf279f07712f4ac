"""Killed anywhere, nothing lost: each stage's job, with Snakemake, is SIGKILLed at a random point and rerun.

Stages, in the order a run meets them: frames, flow, train (one process), train (two processes under torchrun,
``train.gpus_per_model: 2`` on the CPU with gloo), predict, tables. For each, Snakemake is started on a target
that needs the stage, the job's process is awaited, and after a random delay (seeded, ``I3D_FAULT_SEED``; a share
of the job's time in an uninterrupted run, and for training after its first checkpoint) the job's process and
every process under it (torchrun's workers, DataLoader and flow workers) are SIGKILLed at once, as the
out-of-memory killer or a cancelled allocation does; Snakemake sees the job fail and stops. For the one-process
training job Snakemake is killed too, as when the machine dies: its directory lock is then left behind and the
rerun needs ``snakemake --unlock`` first, as Snakemake says. Then: no output of the killed job exists half-written
under its final name, the same command reruns to completion, training resumes from its checkpoint (its log says
from which epoch), and in the end every shard, model, prediction and table equals the uninterrupted run's (every
stage here is deterministic on the CPU).

Marked ``faults`` (a few minutes: two small runs of the workflow); ``.ci/run`` runs it. ``-s`` prints the table.
"""
from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from test_workflow import TINY, copy_project

from i3d.atomic import temporary_name

pytestmark = pytest.mark.faults

#: test_workflow's tiny settings on two stand-ins, I3D only, 4 epochs (a checkpoint to resume from); HMDB-51's
#: models train on two processes (torchrun)
DATASETS = {name: {k: v for k, v in TINY["datasets"][name].items() if k != "architectures"} | {"shards": 1}
            for name in ("ucf101", "hmdb51")}
DATASETS["hmdb51"]["train"] = {"gpus_per_model": 2}
CONFIG = {**TINY, "datasets": DATASETS, "train": {**TINY["train"], "epochs": 4, "batch_size": 2}}
#: stages killed while writing their shard (the others write theirs at the end, in one go)
MID_WRITE = ("frames", "flow")
UCF_RGB = "results/ucf101/split1/i3d-rgb-scratch"
HMDB_RGB = "results/hmdb51/split1/i3d-rgb-scratch"
#: (stage, target, the job's command words, its outputs, its benchmark file, training: its folder)
STAGES = [
    ("frames", "results/ucf101/rgb/shard000.h5", ["i3d", "data", "frames"], ["results/ucf101/rgb/shard000.h5"],
     "results/benchmarks/ucf101/frames/shard000.tsv", None),
    ("flow", "results/ucf101/flow/shard000.h5", ["i3d", "flow"], ["results/ucf101/flow/shard000.h5"],
     "results/benchmarks/ucf101/flow/shard000.tsv", None),
    ("train", f"{UCF_RGB}/model.pt", ["i3d", "train"], [f"{UCF_RGB}/model.pt", f"{UCF_RGB}/metrics.csv"],
     "results/benchmarks/ucf101/split1/i3d-rgb-scratch/train.tsv", UCF_RGB),
    ("train, 2 processes", f"{HMDB_RGB}/model.pt", ["i3d.cli", "train"],
     [f"{HMDB_RGB}/model.pt", f"{HMDB_RGB}/metrics.csv"], "results/benchmarks/hmdb51/split1/i3d-rgb-scratch/train.tsv",
     HMDB_RGB),
    ("predict", f"{UCF_RGB}/predictions.h5", ["i3d", "predict"], [f"{UCF_RGB}/predictions.h5"],
     "results/benchmarks/ucf101/split1/i3d-rgb-scratch/predict.tsv", None),
    ("tables", "results/table2.md", ["i3d", "tables", "table2"], ["results/table2.csv", "results/table2.md"],
     None, None),
]


def snakemake_command(*targets: str) -> list[str]:
    return ["snakemake", "--cores", "2", *targets]


def make_project(root: Path) -> Path:
    root.mkdir()
    copy_project(root)
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    return root


def run(project: Path, *targets: str) -> subprocess.CompletedProcess:
    out = subprocess.run(snakemake_command(*targets), cwd=project, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    """Breadth first: a job's launcher (torchrun) before its workers."""
    tree, out, todo = children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(0), []):
            out.append(child)
            todo.append(child)
    return out


def command_words(pid: int) -> list[str]:
    try:
        return [w.decode() for w in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if w]
    except OSError:
        return []


def job_process(root: int, words: list[str]) -> int | None:
    """The descendant of ``root`` whose command line has ``words`` in a row (the job's own process)."""
    for pid in descendants(root):
        cmd = [Path(w).name for w in command_words(pid)]  # python3 /usr/local/bin/i3d train ... -> i3d train
        if any(cmd[i:i + len(words)] == words for i in range(len(cmd))):
            return pid
    return None


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process under it at once (the tree is read first: the dead's children move away)."""
    for victim in [pid, *descendants(pid)]:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass


def benchmark_seconds(project: Path, path: str) -> float:
    with open(project / path) as fh:
        return float(next(csv.DictReader(fh, delimiter="\t"))["s"])


def epoch_seconds(project: Path, folder: str) -> float:
    with open(project / folder / "metrics.csv") as fh:
        return max(float(r["seconds"]) for r in csv.DictReader(fh))


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def kill_at_random_point(project: Path, reference: Path, stage: tuple, rng: random.Random, *,
                         with_snakemake: bool) -> dict:
    """Start Snakemake on the stage's target and SIGKILL the stage's job (its process and all under it) at a random
    point; ``with_snakemake``: Snakemake too, as when the machine dies. What it found."""
    name, target, words, outputs, bench, folder = stage
    proc = subprocess.Popen(snakemake_command(target), cwd=project, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        pid: list[int | None] = [None]

        def started() -> bool:
            pid[0] = job_process(proc.pid, words)
            return pid[0] is not None or proc.poll() is not None

        wait_for(started, 900, f"the {name} job to start")
        assert pid[0] is not None, f"Snakemake ended (rc {proc.returncode}) before the {name} job was seen"
        tic = time.monotonic()
        if name in MID_WRITE:  # while it writes its shard: a share of its time after the temporary file appears
            temporary = temporary_name(project / outputs[0])
            wait_for(lambda: temporary.exists() or proc.poll() is not None, 900, "the temporary shard")
            span = benchmark_seconds(reference, bench)
            delay = rng.uniform(0.0, 0.15) * span
            time.sleep(delay)
            point = (f"{time.monotonic() - tic:.2f} s after the job started, {delay:.2f} s into writing "
                     f"{temporary.name} (uninterrupted: {span:.1f} s in all)")
        elif folder is None:  # a share of the job's time in the uninterrupted run (tables: it has no benchmark)
            span = benchmark_seconds(reference, bench) if bench else 1.0
            delay = rng.uniform(0.1, 0.5) * span  # the job must still be running: its time varies from run to run
            time.sleep(delay)
            point = f"{delay:.1f} s after the job started (uninterrupted: {span:.1f} s)"
        else:  # after the first checkpoint, within the next epoch
            wait_for(lambda: (project / folder / "checkpoint.pt").exists() or proc.poll() is not None, 900,
                     "the first checkpoint")
            delay = rng.uniform(0.0, 0.8) * epoch_seconds(reference, folder)
            time.sleep(delay)
            point = f"{time.monotonic() - tic:.1f} s after the job started, {delay:.1f} s after its first checkpoint"
        alive = os.path.exists(f"/proc/{pid[0]}") and proc.poll() is None
        if with_snakemake:
            kill_tree(proc.pid)
            point += "; Snakemake killed with it"
        else:
            kill_tree(pid[0])
        code = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
            proc.wait(timeout=60)
    assert alive, f"the {name} job had ended before the kill: the injection missed ({point})"
    assert code != 0, f"Snakemake reported success after its {name} job was killed"
    return dict(stage=name, kill=point)


def assert_complete_or_absent(project: Path, outputs: list[str]) -> str:
    """A killed job's outputs are whole or not there (a readable file, never a truncated one); what the kill left
    under the temporary names is reported."""
    left = [f"{temporary_name(project / rel).name} {temporary_name(project / rel).stat().st_size} B"
            for rel in outputs if temporary_name(project / rel).exists()]
    return _complete_or_absent(project, outputs) + (f"; left half-written: {', '.join(left)}" if left else "")


def _complete_or_absent(project: Path, outputs: list[str]) -> str:
    present = []
    for rel in outputs:
        path = project / rel
        if not path.exists():
            continue
        present.append(rel)
        if path.suffix == ".h5":
            with h5py.File(path, "r"):
                pass
        elif path.suffix == ".pt":
            torch.load(path, weights_only=True)
        else:
            assert path.stat().st_size > 0
    return "absent" if not present else f"complete ({', '.join(Path(p).name for p in present)})"


def h5_equal(a: Path, b: Path) -> bool:
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names: list[str] = []
        fa.visit(names.append)
        return all(not isinstance(fa[n], h5py.Dataset) or np.array_equal(fa[n][()], fb[n][()]) for n in names) \
            and dict(fa.attrs) == dict(fb.attrs)


def models_equal(a: Path, b: Path) -> bool:
    x, y = torch.load(a, weights_only=True)["model"], torch.load(b, weights_only=True)["model"]
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def test_each_stage_killed_at_a_random_point_reruns_to_the_uninterrupted_outputs(tmp_path):
    reference = make_project(tmp_path / "reference")
    run(reference, "results/table2.md")
    project = make_project(tmp_path / "faults")
    rng = random.Random(int(os.environ.get("I3D_FAULT_SEED", "15")))
    rows = []
    for stage in STAGES:
        name, target, _, outputs, _, folder = stage
        machine_dies = name == "train"  # once, Snakemake dies with its job: its lock is left behind
        row = kill_at_random_point(project, reference, stage, rng, with_snakemake=machine_dies)
        row["after the kill"] = assert_complete_or_absent(project, outputs)
        if machine_dies:  # what Snakemake asks for then, and the README says
            run(project, "--unlock")
        run(project, target)  # the same command, nothing else
        row["rerun"] = "completed" + (" after `snakemake --unlock`" if machine_dies else "")
        if folder is not None:
            log = (project / "logs" / Path(folder).relative_to("results") / "train.log").read_text()
            resumed = [line for line in log.splitlines() if line.startswith("resuming from epoch")]
            assert resumed, f"{name}: the rerun trained from scratch:\n{log[-2000:]}"
            row["rerun"] += ", " + resumed[0].split(" (")[0]
        rows.append(row)
    run(project, "results/table2.md")
    compared = []
    for path in sorted((reference / "results").rglob("*")):
        rel = path.relative_to(reference)
        if path.suffix == ".h5":
            assert h5_equal(path, project / rel), f"{rel} differs from the uninterrupted run's"
        elif path.name == "model.pt":
            assert models_equal(path, project / rel), f"{rel}'s weights differ from the uninterrupted run's"
        elif path.name == "metrics.csv":  # all but the seconds each epoch took
            assert pd.read_csv(path).drop(columns="seconds").equals(pd.read_csv(project / rel).drop(columns="seconds"))
        elif path.suffix == ".csv" and "benchmarks" not in rel.parts:
            assert path.read_bytes() == (project / rel).read_bytes(), f"{rel} differs"
        else:
            continue
        compared.append(rel)
    assert len([p for p in compared if p.name == "model.pt"]) == 4 and Path("results/table2.csv") in compared
    print("\n| stage | killed | outputs after the kill | rerun |\n| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['stage']} | {r['kill']} | {r['after the kill']} | {r['rerun']} |")
    print(f"then {len(compared)} files (shards, models, predictions, tables) equal the uninterrupted run's")
