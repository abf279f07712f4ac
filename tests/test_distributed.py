"""Data-parallel training (i3d/train/distributed.py): 2 CPU processes (gloo, rendezvous on 127.0.0.1) train the
weights 1 process trains with the same global batch, a killed run resumes on another number of processes, a
preempted one (dropout on) to the uninterrupted weights, only rank 0 writes, sync_bn is declined on the CPU, and
the train rule launches torchrun, behind a lease of its GPUs, when a model asks for more than one GPU."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import types
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
import yaml
from tiny_shards import brightness_shard
from torch import nn

from i3d.data.loader import EpochShuffle
from i3d.train import loop
from i3d.train.checkpoints import load
from i3d.train.distributed import first_host, launch_from_env, rank_device
from i3d.train.loop import TrainConfig, train

TRAIN_CLIPS, TEST_CLIPS = 16, 2
SPAWN_TIMEOUT_S = 240  # a guard against a hung rendezvous, not a timing assertion


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """An RGB shard of 16 training clips of 2 classes (brightness codes the class) and 2 test clips."""
    return brightness_shard(tmp_path_factory.mktemp("ddp"), TRAIN_CLIPS, TEST_CLIPS, frames=6)


def config(**changes) -> dict:
    """Two-Stream RGB on single 32-px frames, no dropout: a second or so per epoch."""
    return {**dict(arch="two_stream", stream="rgb", num_classes=2, epochs=2, batch_size=4, frames_scale=0.1,
                   crop_size=32, lr=0.05, dropout=0.0, val_fraction=0.0, device="cpu"), **changes}


def freeze_bn(build):
    """``build`` with every BatchNorm kept in eval mode: CPU DDP has no SyncBatchNorm, and per-process batch
    statistics would differ from one process's over the whole batch."""
    def frozen(*args, **kwargs):
        model = build(*args, **kwargs)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.training = False
                m.train = types.MethodType(lambda self, mode=True: self, m)
        return model
    return frozen


class Killed(Exception):
    """Stands for the job being killed."""


def run_rank(rank: int, world: int, port: int, cfg: dict, data, out: str, kill_after: int | None,
             frozen_bn: bool, sigterm: tuple[int, int] | None) -> None:
    """One process of a torchrun-like launch (torchrun's variables, a rendezvous on 127.0.0.1); ``sigterm``:
    (rank, step) at which that rank alone receives SIGTERM."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    if frozen_bn:
        loop.build = freeze_bn(loop.build)
    if sigterm is not None and sigterm[0] == rank:
        steps, step_loss = [], loop.step_loss

        def step_then_signal(*args, **kwargs):
            steps.append(1)
            if len(steps) == sigterm[1]:
                os.kill(os.getpid(), signal.SIGTERM)
            return step_loss(*args, **kwargs)
        loop.step_loss = step_then_signal
    save = loop.save_atomic
    if rank > 0:
        def refuse(*args, **kwargs):
            raise AssertionError(f"rank {rank} wrote a file")
        loop.save_atomic = loop.atomic_path = refuse
    elif kill_after is not None:
        def save_then_die(obj, path):
            save(obj, path)
            if obj.get("epoch") == kill_after:
                raise Killed
        loop.save_atomic = save_then_die
    train(TrainConfig(**cfg), *data, 1, out, threads=1, progress=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(world: int, cfg: dict, data, out: Path, *, kill_after: int | None = None, frozen_bn: bool = False,
          sigterm: tuple[int, int] | None = None) -> None:
    """Run ``world`` processes; ProcessRaisedException if one fails (the others are then terminated)."""
    context = mp.start_processes(run_rank, args=(world, free_port(), cfg, data, str(out), kill_after, frozen_bn,
                                                 sigterm),
                                 nprocs=world, join=False, start_method="spawn")
    deadline = time.monotonic() + SPAWN_TIMEOUT_S
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"{world} processes did not finish in {SPAWN_TIMEOUT_S} s")


def max_abs_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def test_two_processes_train_the_weights_of_one_with_the_global_batch(data, tmp_path, monkeypatch):
    """2 ranks x batch 4 = 1 rank x batch 8: the same global order, DDP's mean of the gradients; validation is
    sharded and summed to the same numbers."""
    monkeypatch.setattr(loop, "build", freeze_bn(loop.build))
    single = load(train(TrainConfig(**config(batch_size=8, val_fraction=0.25, lr=0.005)), *data, 1, tmp_path / "one",
                        threads=1, progress=False))
    spawn(2, config(batch_size=4, val_fraction=0.25, lr=0.005), data, tmp_path / "two", frozen_bn=True)
    double = load(tmp_path / "two" / "model.pt")
    difference = max_abs_difference(single["model"], double["model"])
    print(f"max abs weight difference, 1 x 8 vs 2 x 4: {difference:.3g}")
    assert difference < 1e-5
    metrics = [pd.read_csv(tmp_path / run / "metrics.csv") for run in ("one", "two")]
    for column in ("epoch", "clips", "val_top1", "lr"):
        np.testing.assert_allclose(metrics[0][column], metrics[1][column])
    np.testing.assert_allclose(metrics[0].train_loss, metrics[1].train_loss, rtol=1e-5)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["metrics.csv", "model.pt"]


def test_a_run_killed_on_two_processes_resumes_on_one(data, tmp_path, capsys):
    """The checkpoint (written by rank 0 alone: the others refuse to write) holds the unwrapped model, so one
    process picks up at epoch 2, and metrics.csv has both epochs."""
    out = tmp_path / "run"
    with pytest.raises(mp.ProcessRaisedException, match="Killed"):
        spawn(2, config(), data, out, kill_after=1)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]
    assert load(out / "checkpoint.pt")["epoch"] == 1
    model = load(train(TrainConfig(**config()), *data, 1, out, threads=1, progress=False))
    assert "resuming from epoch 1" in capsys.readouterr().out
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics.epoch.tolist() == [1, 2]
    assert metrics.clips.tolist() == [TRAIN_CLIPS, TRAIN_CLIPS]  # epoch 1: both ranks' clips, summed
    assert model["selected_epoch"] == 2
    assert not (out / "checkpoint.pt").exists()


def test_a_run_killed_on_one_process_resumes_on_two(data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    save = loop.save_atomic

    def save_then_die(obj, path):
        save(obj, path)
        if obj.get("epoch") == 1:
            raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(loop, "save_atomic", save_then_die)
        with pytest.raises(Killed):
            train(TrainConfig(**config()), *data, 1, out, threads=1, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]
    spawn(2, config(), data, out)
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics.epoch.tolist() == [1, 2]
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "model.pt"]


@pytest.mark.long
@pytest.mark.parametrize("dropout, frozen_bn", [(0.0, True), (0.5, False)], ids=["no-dropout", "dropout-0.5"])
def test_sigterm_on_one_rank_stops_all_at_the_same_step_and_they_resume_there(data, tmp_path, dropout, frozen_bn):
    """SLURM signals every task, but not at the same instant: a SIGTERM seen by rank 1 alone still stops both
    ranks after the same step (the flag is all-reduced), rank 0 saves that point of the epoch, and two processes
    resume there to the weights of an uninterrupted two-process run: also with dropout on every rank (each
    rank's masks must continue where that rank stopped) and BN in training mode."""
    cfg = config(lr=0.005 if frozen_bn else 0.05, dropout=dropout)  # frozen BN: the default rate diverges
    spawn(2, cfg, data, tmp_path / "whole", frozen_bn=frozen_bn)
    out = tmp_path / "preempted"
    steps_per_epoch = TRAIN_CLIPS // (2 * cfg["batch_size"])
    with pytest.raises(mp.ProcessRaisedException, match="Preempted"):
        spawn(2, cfg, data, out, frozen_bn=frozen_bn, sigterm=(1, steps_per_epoch + 1))  # epoch 2's first step
    state = load(out / "checkpoint.pt")
    assert state["epoch"] == 1 and state["partial"]["clips"] == state["partial"]["seen"] == 2 * cfg["batch_size"]
    spawn(2, cfg, data, out, frozen_bn=frozen_bn)
    whole, resumed = load(tmp_path / "whole" / "model.pt")["model"], load(out / "model.pt")["model"]
    assert all(torch.isfinite(v).all() for v in whole.values() if v.is_floating_point())
    assert max_abs_difference(whole, resumed) == 0
    metrics = [pd.read_csv(tmp_path / run / "metrics.csv").drop(columns="seconds") for run in ("whole", "preempted")]
    pd.testing.assert_frame_equal(*metrics)


@pytest.mark.long
def test_sync_bn_on_two_cpu_processes_is_declined_with_a_message_and_the_run_completes(data, tmp_path, capfd):
    """train.sync_bn on gloo: PyTorch's SyncBatchNorm runs on GPUs only (next test), so on the CPU the ranks keep
    their own BN statistics, say so, and train exactly as without sync_bn (dropout and BN live)."""
    cfg = config(dropout=0.5)
    spawn(2, {**cfg, "sync_bn": True}, data, tmp_path / "sync")
    assert "sync_bn: PyTorch has no SyncBatchNorm on the CPU" in capfd.readouterr().out
    spawn(2, cfg, data, tmp_path / "plain")
    synced, plain = (load(tmp_path / run / "model.pt")["model"] for run in ("sync", "plain"))
    assert max_abs_difference(synced, plain) == 0


def sync_batchnorm_forward(rank: int, port: int) -> None:
    """One of 2 gloo processes: a SyncBatchNorm (as ``convert_sync_batchnorm`` makes it) forward on the CPU."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2, timeout=timedelta(seconds=SPAWN_TIMEOUT_S))
    try:
        bn = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm3d(3)))
        assert isinstance(bn[0], nn.SyncBatchNorm) and bn.state_dict().keys() == nn.Sequential(
            nn.BatchNorm3d(3)).state_dict().keys()  # checkpoints load either way
        bn(torch.randn(2, 3, 2, 4, 4))
    finally:
        torch.distributed.destroy_process_group()


def test_pytorch_has_no_sync_batchnorm_on_the_cpu():
    """Why the CPU declines sync_bn: with a gloo group, SyncBatchNorm's training forward refuses CPU tensors.
    When PyTorch gains it, this fails: then convert on the CPU too (loop._train)."""
    with pytest.raises(mp.ProcessRaisedException, match="SyncBatchNorm expected input tensor to be on GPU"):
        mp.start_processes(sync_batchnorm_forward, args=(free_port(),), nprocs=2, join=True, start_method="spawn")


def test_the_ranks_split_one_global_order():
    """Disjoint shares, cut to a multiple of the world size, interleaved so that the ranks' batches i make up
    the one-process batch i; a new order each epoch."""
    one = EpochShuffle(10, seed=3)
    one.set_epoch(1)
    global_order = [i for _, i in one]
    shares = []
    for rank in range(3):
        sampler = EpochShuffle(10, seed=3, rank=rank, world_size=3)
        sampler.set_epoch(1)
        shares.append([i for _, i in sampler])
        assert len(sampler) == 3
    assert sorted(sum(shares, [])) == sorted(global_order[:9])
    assert [shares[r][j] for j in range(3) for r in range(3)] == global_order[:9]
    one.set_epoch(2)
    assert [i for _, i in one] != global_order


def test_the_launch_is_read_from_torchrun_or_slurm():
    assert launch_from_env({}) is None
    assert launch_from_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) is None  # a one-task SLURM job
    torchrun = launch_from_env(dict(RANK="3", WORLD_SIZE="4", LOCAL_RANK="1", MASTER_ADDR="10.0.0.2",
                                    MASTER_PORT="1234"))
    assert (torchrun.rank, torchrun.world_size, torchrun.local_rank, torchrun.master_addr,
            torchrun.master_port) == (3, 4, 1, "10.0.0.2", 1234)
    slurm = launch_from_env(dict(SLURM_PROCID="5", SLURM_NTASKS="8", SLURM_LOCALID="1",
                                 SLURM_JOB_NODELIST="gpu[07-08,11],cpu1", SLURM_JOB_ID="123456"))
    assert (slurm.rank, slurm.world_size, slurm.local_rank, slurm.master_addr) == (5, 8, 1, "gpu07")
    assert slurm.master_port == 20000 + 123456 % 20000
    assert launch_from_env(dict(SLURM_PROCID="0", SLURM_NTASKS="2", SLURM_JOB_NODELIST="n1", MASTER_ADDR="h",
                                MASTER_PORT="99")).master_addr == "h"
    assert first_host("node5") == "node5"
    assert rank_device("cpu", 1) == torch.device("cpu")
    assert rank_device("cuda:0", 1) == torch.device("cuda", 1)


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("gpus, launcher", [(1, "i3d train --manifest"),
                                            (2, "python3 -m i3d.gpu_lease --gpus 2 --device cuda -- torchrun "
                                                "--standalone --nproc-per-node 2 -m i3d.cli train")])
def test_the_train_rule_launches_torchrun_for_more_than_one_gpu(tmp_path, gpus, launcher):
    from test_workflow import copy_project

    root = copy_project(tmp_path / "project")
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({"train": {"gpus_per_model": gpus}, "device": "cuda"}))  # never run
    target = "results/ucf101/split1/i3d-rgb-scratch/model.pt"
    out = subprocess.run(["nice", "-n", "19", "snakemake", "--cores", "2", "-n", "-p", "--resources", "gpu=4",
                          "--configfile", str(override),
                          "--", target], cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    commands = [line.strip().removeprefix("Shell command:").strip() for line in out.stdout.splitlines()
                if "--out $(dirname results/ucf101/split1/i3d-rgb-scratch/model.pt)" in line]
    assert commands and all(c.startswith(launcher) for c in commands), commands
    assert ("torchrun" in out.stdout) == (gpus > 1)
    job = out.stdout[out.stdout.index("rule train:"):]
    assert f" gpu={gpus}," in job[:job.index("Shell command")]  # the job asks for as many GPUs as processes
