"""The whole DAG on a tiny config, then what reruns after a config or code change (dry runs).

I3D runs on all three stand-in datasets; the other four architectures on UCF-101 only (per-dataset
``architectures``), which keeps the run to a few minutes while every architecture's train and predict
path, and every Table 2 stream, goes through the workflow.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

ALL = ["lstm", "c3d", "two_stream", "fused", "i3d"]
TINY = {
    "datasets": {
        name: {"source": "synthetic", "splits": [1], "shards": 2,
               "standin": {"classes": 3, "clips_per_class": 6, "seed": seed, "short_side": [40, 48],
                           "seconds": [1.0, 1.4]}}
        for name, seed in (("kinetics400", 1), ("ucf101", 2), ("hmdb51", 3))
    },
    "frames": {"short_side": 32},
    "flow": {"tvl1": {"epsilon": 0.05}},  # as config/config.yaml: 6x faster TV-L1
    "models": {"architectures": ["i3d"], "frames_scale": 0.125},  # I3D: 8 frames
    "train": {"epochs": 1, "batch_size": 4, "crop_size": 32, "lr": 0.01},
    "test": {"crop_size": 32},
    "threads": 1,
}
TINY["datasets"]["ucf101"]["architectures"] = ALL
for _name in ("kinetics400", "hmdb51"):
    TINY["datasets"][_name]["shards"] = 1  # fewer jobs; UCF-101 keeps 2 shards
TRAINED_STREAMS = {"lstm": {"rgb"}, "c3d": {"rgb"}, "two_stream": {"rgb", "flow"}, "fused": {"rgb", "flow", "rgb+flow"},
                   "i3d": {"rgb", "flow"}}


def snakemake(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["snakemake", "--cores", "2", *args], cwd=project, capture_output=True, text=True, env=env,
                          timeout=1800)  # a guard against a hang, not a timing assertion


def planned(project: Path, *args: str) -> list[tuple[str, str]]:
    """(output file, rule) that a run would make now, read from ``--summary`` (its ``plan`` column)."""
    out = snakemake(project, "--summary", *args)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("output_file\t"))
    rows = [line.split("\t") for line in lines[start + 1:] if "\t" in line]
    return [(r[0], r[2]) for r in rows if len(r) >= 6 and r[5] != "no update"]


def planned_rules(project: Path, *args: str) -> set[str]:
    """Rules that a run would execute now."""
    return {rule for _, rule in planned(project, *args)}


def copy_project(root: Path) -> Path:
    """A copy of the workflow and package sources (so tests may edit them) with the tiny config."""
    for part in ("workflow", "i3d", "config"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(TINY))
    return root


@pytest.fixture(scope="module")
def unrun(tmp_path_factory) -> Path:
    """The project before any run: for dry runs of the whole DAG."""
    return copy_project(tmp_path_factory.mktemp("unrun"))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The project with the tiny config, run once."""
    root = copy_project(tmp_path_factory.mktemp("project"))
    out = snakemake(root, "results/table2.md", "results/table1.md")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return root


def test_whole_dag_writes_tables(project):
    table2 = pd.read_csv(project / "results" / "table2.csv")
    assert {"architecture", "dataset", "split", "stream", "top1", "paper_top1", "data"} <= set(table2.columns)
    assert set(table2.dataset) == {"kinetics400", "ucf101", "hmdb51"}
    assert set(table2.stream) == {"rgb", "flow", "rgb+flow"}
    assert (table2.data == "stand-in").all() and table2.top1.between(0, 100).all()
    ucf = table2.set_index(["architecture", "dataset", "stream"]).loc[("i3d", "ucf101", "rgb+flow")]
    assert ucf.paper_top1 == 93.4
    assert set(table2[table2.dataset != "ucf101"].architecture) == {"i3d"}
    on_ucf = table2[table2.dataset == "ucf101"].groupby("architecture").stream.agg(set).to_dict()
    expected = {arch: streams | {"rgb+flow"} if {"rgb", "flow"} <= streams else streams
                for arch, streams in TRAINED_STREAMS.items()}  # late fusion adds rgb+flow in the table
    assert on_ucf == expected
    assert table2.set_index(["architecture", "dataset", "stream"]).loc[("fused", "ucf101", "rgb+flow")].paper_top1 == 89.3
    md = (project / "results" / "table2.md").read_text()
    assert "Stand-in data" in md and "Chance level" in md and "Shortened clips and resolution" in md
    assert all(f"| {arch} |" in md for arch in ALL)
    table1 = pd.read_csv(project / "results" / "table1.csv").set_index("architecture")
    assert list(table1.index) == ALL and table1.loc["i3d", "params"] == 25_372_576
    assert table1.loc["i3d", "run_train_input"] == "8 rgb, 8 flow" and table1.loc["c3d", "run_crop"] == 16
    assert (project / "logs" / "ucf101" / "flow" / "shard000.log").is_file()
    assert (project / "results" / "benchmarks" / "ucf101" / "split1" / "i3d-rgb-scratch" / "train.tsv").is_file()
    assert (project / "results" / "ucf101" / "split1" / "fused-rgb+flow-scratch" / "predictions.h5").is_file()


def test_nothing_to_do_after_a_run(project):
    assert planned_rules(project) == set()


def changed(tmp_path: Path, **sections) -> list[str]:
    """``--configfile`` arguments that override some keys of the project's config."""
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(sections))
    return ["--configfile", str(path)]


def test_training_hyperparameter_reruns_training_not_ingest_or_flow(project, tmp_path):
    assert planned_rules(project, *changed(tmp_path, train={"lr": 0.02})) == {"train", "predict", "table2"}


def test_flow_setting_reruns_flow_and_everything_after_it(project, tmp_path):
    assert planned_rules(project, *changed(tmp_path, flow={"bound": 10})) == {"flow", "train", "predict", "table2"}


@contextmanager
def edited(project: Path, rel: str, old: str, new: str) -> Iterator[None]:
    """The project's ``rel`` with ``old`` replaced by ``new``, restored afterwards."""
    path = project / rel
    original = path.read_text()
    assert old in original
    path.write_text(original.replace(old, new, 1))
    try:
        yield
    finally:
        path.write_text(original)


STATEMENT = "\nEDITED = True\n"


def test_editing_package_code_reruns_only_its_stages(project):
    for rel, expected in (("i3d/tables/assemble.py", {"table1", "table2"}),
                          ("i3d/flow/quantize.py", {"flow", "train", "predict", "table2"})):
        text = (project / rel).read_text()
        with edited(project, rel, text, text + STATEMENT):
            assert planned_rules(project) == expected


def test_comments_and_docstrings_rerun_nothing(project):
    text = (project / "i3d/data/video.py").read_text()
    with edited(project, "i3d/data/video.py", text, text.replace('"""', '"""Reworded. ', 1) + "\n# a comment\n"):
        assert planned_rules(project) == set()


def test_a_c3d_edit_reruns_c3d_models_only(project):
    text = (project / "i3d/models/c3d.py").read_text()
    with edited(project, "i3d/models/c3d.py", text, text + STATEMENT):
        plan = planned(project)
    assert {rule for _, rule in plan} == {"train", "predict", "table1", "table2"}
    assert all("/c3d-rgb-scratch/" in path for path, rule in plan if rule in ("train", "predict"))


def test_reacquiring_the_same_manifest_leaves_later_runs_nothing_to_do(project):
    """Snakemake plans (and, in one run, reruns) every job downstream of a rerun job, and touches its output;
    once acquire alone has rerun (`--until acquire`), the manifest's checksum, the same as when the later jobs
    ran, keeps them up to date, as far as files are checksummed (the profile's max-checksum-file-size)."""
    read = "    manifest = read_annotations(args.dataset, args.root, "
    with edited(project, "i3d/cli/data.py", read, read.replace("args.root, ", "str(args.root), ")):
        assert {"acquire", "frames", "train", "predict"} <= planned_rules(project)
        out = snakemake(project, "--until", "acquire")
        assert out.returncode == 0, out.stderr[-3000:]
        assert planned_rules(project) == set()
        assert {"frames", "train", "predict"} <= planned_rules(project, "--max-checksum-file-size", "1KB")
    assert snakemake(project, "--until", "acquire").returncode == 0  # record the original code, for the other tests
    assert planned_rules(project) == set()


@pytest.mark.parametrize("profile", ["default", "slurm"])
def test_profiles_checksum_a_manifest_of_kinetics_size(project, profile):
    """Kinetics-400 has ~306,000 clips; its manifest, at the stand-in's bytes per clip (with twice as long
    paths), must be under the size up to which Snakemake checksums inputs."""
    from humanfriendly import parse_size

    manifest = pd.read_csv(project / "results" / "ucf101" / "manifest.csv")
    bytes_per_clip = (project / "results" / "ucf101" / "manifest.csv").stat().st_size / len(manifest)
    kinetics = 306_000 * (bytes_per_clip + manifest.path.str.len().mean())
    settings = yaml.safe_load((REPO / "workflow" / "profiles" / profile / "profile.yaml").read_text())
    assert parse_size(settings["max-checksum-file-size"]) > kinetics


def test_frames_scale_of_one_architecture_reruns_its_models_and_tables(project, tmp_path):
    plan = planned(project, *changed(tmp_path, models={"per_arch": {"lstm": {"frames_scale": 0.2}}}))
    assert {rule for _, rule in plan} == {"train", "predict", "table1", "table2"}
    assert all("/lstm-rgb-scratch/" in path for path, rule in plan if rule in ("train", "predict"))


def test_epochs_scale_changes_one_architectures_schedule(project, tmp_path):
    override = changed(tmp_path, models={"per_arch": {"lstm": {"epochs_scale": 3.0}}})
    plan = planned(project, *override)
    assert {rule for _, rule in plan} == {"train", "predict", "table2"}
    assert all("/lstm-rgb-scratch/" in path for path, rule in plan if rule in ("train", "predict"))
    commands = re.findall(r"--arch (\w+) .*?--epochs (\d+)", snakemake(project, "-n", "-p", *override).stdout)
    assert {(arch, int(epochs)) for arch, epochs in commands} == {("lstm", 3)}


def test_imagenet_init_adds_the_fetch_rule(project, tmp_path):
    local = tmp_path / "googlenet-1378be20.pth"
    local.write_bytes(b"stand-in")  # a dry run reads only its name
    override = changed(tmp_path, models={"init": "imagenet", "per_arch": {"c3d": {"init": "scratch"}}},
                       imagenet={"path": str(local)})
    out = snakemake(project, "-n", "-p", *override)
    assert out.returncode == 0, out.stderr
    assert "fetch-imagenet" in out.stdout and f"--source {local}" in out.stdout
    assert "--arch i3d" in out.stdout and "--init imagenet --imagenet resources/weights/" in out.stdout
    assert "--arch c3d" not in out.stdout  # c3d stays scratch: its model is there already
    bad = changed(tmp_path, models={"init": "imagenet"})
    out = snakemake(project, "-n", *bad)
    assert out.returncode != 0 and "c3d has no ImageNet initialisation" in out.stdout + out.stderr


def test_bad_config_fails_at_start_naming_the_key(project, tmp_path):
    out = snakemake(project, "-n", "results/table2.md", *changed(tmp_path, flow={"backend": "farneback"}))
    assert out.returncode != 0
    assert "flow.backend" in out.stdout + out.stderr and "auto, torch, opencv" in out.stdout + out.stderr


def test_prediction_uses_the_datasets_test_crop(unrun, tmp_path):
    out = snakemake(unrun, "-n", "-p", *changed(tmp_path, datasets={**TINY["datasets"], "ucf101": {
        **TINY["datasets"]["ucf101"], "test": {"crop_size": 24}}}))
    assert out.returncode == 0, out.stderr
    crops = set(re.findall(r"--crop-size (\d+) --dataset (\w+)", out.stdout))
    assert crops == {("24", "ucf101"), ("32", "kinetics400"), ("32", "hmdb51")}


def fake_nvidia_smi(tmp_path: Path, script: str) -> dict[str, str]:
    """An environment whose PATH finds an ``nvidia-smi`` that runs ``script`` (bash) instead of the real one."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "nvidia-smi").write_text(f"#!/bin/bash\n{script}\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


NO_GPU = "echo 'No devices were found'; exit 6"
ONE_GPU = "echo 'GPU 0: NVIDIA H200 (UUID: GPU-0)'"


def declared_gpus(out: subprocess.CompletedProcess) -> dict[str, set[int]]:
    """Per rule, the ``gpu`` resource values its jobs declare in a dry run (0 where they declare none)."""
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    gpus: dict[str, set[int]] = {}
    for rule, resources in re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", out.stdout, re.MULTILINE):
        found = re.search(r"\bgpu=(\d+)", resources)
        gpus.setdefault(rule, set()).add(int(found.group(1)) if found else 0)
    return {rule: gpus[rule] for rule in ("flow", "train", "predict")}


@pytest.mark.parametrize("host, settings, expected", [
    (NO_GPU, {}, (0, 0, 0)),                                        # a CPU laptop: nothing limits its jobs
    (ONE_GPU, {}, (1, 1, 1)),                                       # a GPU box: the default profile limits them
    (NO_GPU, {"gpus": 1}, (1, 1, 1)),                               # a cluster's login node, profile gpus: 1
    (ONE_GPU, {"gpus": 0}, (0, 0, 0)),
    (NO_GPU, {"device": "cuda"}, (1, 1, 1)),
    (ONE_GPU, {"device": "cpu", "gpus": 1}, (0, 0, 0)),
    (NO_GPU, {"gpus": 1, "flow": {"backend": "opencv", "tvl1": {"epsilon": 0.05}}}, (0, 1, 1)),
], ids=["cpu-laptop", "gpu-box", "login-node-gpus-1", "gpus-0", "device-cuda", "device-cpu", "opencv-flow"])
def test_gpu_jobs_follow_the_config(unrun, tmp_path, host, settings, expected):
    """flow, train and predict declare gpu=1 as the config says, whatever GPU the parsing host has."""
    out = snakemake(unrun, "-n", *changed(tmp_path, **settings), env=fake_nvidia_smi(tmp_path, host))
    assert declared_gpus(out) == dict(zip(("flow", "train", "predict"), ({n} for n in expected)))


@pytest.mark.long
def test_a_hanging_nvidia_smi_does_not_hang_the_start(unrun, tmp_path):
    out = snakemake(unrun, "-n", env=fake_nvidia_smi(tmp_path, "exec sleep 3600"))
    assert declared_gpus(out) == {"flow": {0}, "train": {0}, "predict": {0}}
    assert "nvidia-smi did not answer" in out.stderr


def slurm_profile_without_executor(tmp_path: Path) -> str:
    """The SLURM profile, its executor left out (and with it the plugin's settings): the plugin need not be
    installed for a dry run."""
    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "profile.yaml").read_text())
    for key in [k for k in profile if k == "executor" or k.startswith("slurm-")]:
        del profile[key]
    (tmp_path / "slurm").mkdir()
    (tmp_path / "slurm" / "profile.yaml").write_text(yaml.safe_dump(profile))
    return str(tmp_path / "slurm")


def test_the_slurm_profile_asks_for_gpus_on_a_host_without_one(unrun, tmp_path):
    """The SLURM profile sets gpus: 1."""
    out = snakemake(unrun, "-n", "--workflow-profile", slurm_profile_without_executor(tmp_path),
                    env=fake_nvidia_smi(tmp_path, NO_GPU))
    assert declared_gpus(out) == {"flow": {1}, "train": {1}, "predict": {1}}


def test_slurm_jobs_ask_for_as_many_cpus_as_they_run_threads(unrun, tmp_path):
    """cpus_per_task (sbatch --cpus-per-task) is each job's threads (the profile's set-threads), also when the
    command line replaces the profile's set-resources and default-resources, e.g. to size memory to small nodes
    (before: one CPU for train and predict, from default-resources' cpus_per_task: 1). --cores 16: a dry run caps
    threads at --cores, a SLURM run does not."""
    out = snakemake(unrun, "-n", "--cores", "16", "--workflow-profile", slurm_profile_without_executor(tmp_path),
                    "--set-resources", "train:mem_mb=2000", "--default-resources", "mem_mb=1000", "cpus_per_task=1",
                    env=fake_nvidia_smi(tmp_path, NO_GPU))
    assert out.returncode == 0, out.stderr[-2000:]
    cpus: dict[str, set[str]] = {}
    for rule, resources in re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", out.stdout, re.MULTILINE):
        cpus.setdefault(rule, set()).add(re.search(r"\bcpus_per_task=(\d+)", resources).group(1))
    assert {rule: cpus[rule] for rule in ("train", "predict", "flow")} == {"train": {"8"}, "predict": {"8"},
                                                                          "flow": {"4"}}


def dry_run_resources(out: subprocess.CompletedProcess, keys: tuple[str, ...]) -> dict[str, set[tuple]]:
    """Per rule, the distinct ((key, value), ...) of ``keys`` among its jobs' resources in a dry run (a key a job
    does not declare is left out)."""
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    found: dict[str, set[tuple]] = {}
    for rule, resources in re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", out.stdout, re.MULTILINE):
        declared = dict(item.split("=", 1) for item in resources.split(", "))
        found.setdefault(rule, set()).add(tuple((k, int(declared[k])) for k in keys if k in declared))
    return found


def test_the_slurm_profile_sizes_the_transfer_rules_as_the_rules_they_resemble(unrun, tmp_path):
    """Under the SLURM profile (its executor left out: a dry run submits nothing), every job of results/tables.md
    asks for: finetune what train does (it trains a model), predict_fullft and features what predict does (a
    model over whole clips; features reads every clip of UCF-101/HMDB-51, fewer than Kinetics' test clips that
    predict is sized for), probe 8 CPUs and no GPU (float64 L-BFGS on features). A train job of 2 GPUs asks for
    them on one node (torchrun --standalone starts its processes on the node it runs on). --cores 16: a dry run
    caps threads at --cores, SLURM does not."""
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({"train": {"gpus_per_model": 2}}))
    out = snakemake(unrun, "-n", "--cores", "16", "--workflow-profile", slurm_profile_without_executor(tmp_path),
                    "--configfile", str(override), "--", "results/tables.md", env=fake_nvidia_smi(tmp_path, NO_GPU))
    keys = ("mem_mb", "runtime", "gpu", "cpus_per_task", "nodes")
    found = dry_run_resources(out, keys)
    print("\n".join(f"{rule}: {', '.join(f'{k}={v}' for k, v in sorted(found[rule])[0])}" for rule in
                    ("train", "finetune", "predict", "predict_fullft", "features", "probe")))
    train = (("mem_mb", 64000), ("runtime", 2880), ("gpu", 2), ("cpus_per_task", 16), ("nodes", 1))
    predict = (("mem_mb", 32000), ("runtime", 480), ("gpu", 1), ("cpus_per_task", 8))
    assert {rule: found[rule] for rule in ("train", "finetune", "predict", "predict_fullft", "features", "probe")} == {
        "train": {train}, "finetune": {train}, "predict": {predict}, "predict_fullft": {predict},
        "features": {predict}, "probe": {(("mem_mb", 8000), ("runtime", 240), ("cpus_per_task", 8))}}
