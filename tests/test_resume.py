"""Training is reproducible: a killed job resumes to the weights an uninterrupted one ends with (never from a
checkpoint made by other code or from other inputs), and DataLoader workers change nothing; the saved model
is the epoch that validates best."""
from __future__ import annotations

import os
import signal

import pandas as pd
import pytest
import torch
from tiny_shards import brightness_shard

from i3d.train import loop
from i3d.train.checkpoints import load
from i3d.train.loop import TrainConfig, train

TRAIN_CLIPS, TEST_CLIPS = 6, 2


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """An RGB shard of 8 clips of 2 classes (brightness codes the class), 6 train and 2 test, and the manifest."""
    return brightness_shard(tmp_path_factory.mktemp("resume"), TRAIN_CLIPS, TEST_CLIPS, frames=12)


def config(**changes) -> TrainConfig:
    """Two-Stream RGB on single frames: dropout (RNG), shuffling and BN, a second or two per run."""
    return TrainConfig(**{**dict(arch="two_stream", stream="rgb", num_classes=2, epochs=3, batch_size=2,
                                 frames_scale=0.1, crop_size=32, lr=0.05, val_fraction=0.25), **changes})


class Killed(Exception):
    """Stands for the job being killed."""


def kill_after(monkeypatch, epoch: int) -> None:
    """Make the next run die right after writing its checkpoint of ``epoch``."""
    save = loop.save_atomic

    def save_then_die(obj, path):
        save(obj, path)
        if obj.get("epoch") == epoch:
            raise Killed

    monkeypatch.setattr(loop, "save_atomic", save_then_die)


def interrupted_run(monkeypatch, cfg, data, out, *, kill: int, threads: int) -> dict:
    """Train, killed after epoch ``kill``; rerun the job; the model file it ends with."""
    with monkeypatch.context() as patch:
        kill_after(patch, kill)
        with pytest.raises(Killed):
            train(cfg, *data, 1, out, threads=threads, progress=False)
    return load(train(cfg, *data, 1, out, threads=threads, progress=False))


def max_abs_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


@pytest.mark.parametrize("threads, val_fraction", [(1, 0.0), (2, 0.0), (1, 0.25)])
def test_killed_run_resumes_to_the_uninterrupted_weights(data, tmp_path, monkeypatch, capsys, threads, val_fraction):
    """Bitwise: the same shuffle, augmentation, dropout draws and optimizer state after the resume (without
    validation model.pt is the last epoch, so every epoch counts)."""
    cfg = config(val_fraction=val_fraction)
    whole = load(train(cfg, *data, 1, tmp_path / "whole", threads=threads, progress=False))
    resumed = interrupted_run(monkeypatch, cfg, data, tmp_path / "resumed", kill=1, threads=threads)
    assert "resuming from epoch 1" in capsys.readouterr().out
    difference = max_abs_difference(whole["model"], resumed["model"])
    print(f"threads={threads} val_fraction={val_fraction}: max abs weight difference {difference}")
    assert difference == 0
    assert resumed["selected_epoch"] == whole["selected_epoch"]
    metrics = [pd.read_csv(tmp_path / run / "metrics.csv").drop(columns="seconds") for run in ("whole", "resumed")]
    pd.testing.assert_frame_equal(*metrics)


def test_workers_do_not_change_the_weights(data, tmp_path):
    """Each epoch's augmentation must reach persistent workers (it once froze at epoch 1's)."""
    weights = [load(train(config(workers=workers), *data, 1, tmp_path / str(workers), progress=False))["model"]
               for workers in (0, 2)]
    assert max_abs_difference(*weights) == 0


def scripted_val_top1(monkeypatch, scores: list[float]) -> None:
    """Validation top-1 of epoch 1, 2, ... as given (what is selected must not depend on learning luck)."""
    remaining = list(scores)
    monkeypatch.setattr(loop, "val_top1", lambda model, dataset, device: remaining.pop(0))


def checkpoints_of(monkeypatch) -> dict[int, dict[str, torch.Tensor]]:
    """The model weights each epoch's checkpoint holds, as training writes them."""
    saved, save = {}, loop.save_atomic

    def save_and_keep(obj, path):
        save(obj, path)
        if "epoch" in obj:
            saved[obj["epoch"]] = {k: v.detach().clone() for k, v in obj["model"].items()}

    monkeypatch.setattr(loop, "save_atomic", save_and_keep)
    return saved


def test_saved_model_is_the_best_validating_epoch_ties_to_the_later(data, tmp_path, monkeypatch):
    scripted_val_top1(monkeypatch, [80.0, 80.0, 20.0])
    weights = checkpoints_of(monkeypatch)
    model = load(train(config(), *data, 1, tmp_path, progress=False))
    assert model["selected_epoch"] == 2 and model["val_top1"] == 80.0
    assert max_abs_difference(model["model"], weights[2]) == 0
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics.val_top1.tolist() == [80.0, 80.0, 20.0] and metrics.selected.tolist() == [0, 1, 0]


def test_resume_keeps_the_best_epoch_so_far(data, tmp_path, monkeypatch):
    """Epoch 1 validates best and the job dies after it: the rerun must still save epoch 1."""
    scripted_val_top1(monkeypatch, [90.0, 50.0, 60.0])
    weights = checkpoints_of(monkeypatch)
    model = interrupted_run(monkeypatch, config(), data, tmp_path, kill=1, threads=1)
    assert model["selected_epoch"] == 1 and max_abs_difference(model["model"], weights[1]) == 0


def test_training_never_reads_the_test_split(data, tmp_path, monkeypatch):
    opened = []
    real = loop.ClipDataset

    def recording(shards, samples, *args, **kwargs):
        opened.append({s.clip_id for s in samples})
        return real(shards, samples, *args, **kwargs)

    monkeypatch.setattr(loop, "ClipDataset", recording)
    train(config(epochs=1), *data, 1, tmp_path, progress=False)
    training, validation = opened
    assert validation and not training & validation
    assert training | validation == {f"c{k}" for k in range(TRAIN_CLIPS)}


@pytest.mark.parametrize("change", ["code", "inputs"])
def test_stale_checkpoint_is_not_resumed(data, tmp_path, monkeypatch, capsys, change):
    """A checkpoint made by other code or from rebuilt shards is refused with a log line."""
    with monkeypatch.context() as patch:
        kill_after(patch, 1)
        with pytest.raises(Killed):
            train(config(), *data, 1, tmp_path, progress=False)
    if change == "code":
        monkeypatch.setattr(loop, "code_fingerprint", lambda *modules: "edited")
    else:
        shard = data[1]["rgb"][0]
        stat = shard.stat()
        os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # rebuilt: same size, newer
    try:
        train(config(), *data, 1, tmp_path, progress=False)
    finally:
        if change == "inputs":
            os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    out = capsys.readouterr().out
    assert f"written from other {change}" in out and "resuming" not in out


def sigterm_at_step(monkeypatch, step: int) -> None:
    """Send this process SIGTERM during training step ``step`` (1-based), as SLURM does when it preempts a job."""
    steps, real = [], loop.step_loss

    def step_loss(*args, **kwargs):
        steps.append(1)
        if len(steps) == step:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "step_loss", step_loss)


@pytest.mark.parametrize("workers", [0, 2])
def test_sigterm_checkpoints_inside_the_epoch_and_the_rerun_goes_on_from_there(data, tmp_path, monkeypatch,
                                                                                 capsys, workers):
    """Preemption: the step SIGTERM interrupts completes, the checkpoint holds that point inside the epoch (with
    the epoch's training numbers so far), and the rerun ends with the uninterrupted run's weights and metrics
    (workers ignore the signal: the training process stops them)."""
    cfg = config(workers=workers)
    whole = load(train(cfg, *data, 1, tmp_path / "whole", progress=False))
    steps_per_epoch = (TRAIN_CLIPS - 2) // cfg.batch_size  # 2 of the 6 clips validate
    with monkeypatch.context() as patch:
        sigterm_at_step(patch, steps_per_epoch + 1)  # the first step of epoch 2
        with pytest.raises(loop.Preempted, match="stopped after batch 1 of epoch 2"):
            train(cfg, *data, 1, tmp_path / "resumed", progress=False)
    state = load(tmp_path / "resumed" / "checkpoint.pt")
    assert state["epoch"] == 1 and state["partial"]["clips"] == state["partial"]["seen"] == cfg.batch_size
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is only there while training
    resumed = load(train(cfg, *data, 1, tmp_path / "resumed", progress=False))
    assert f"resuming from epoch 1 and {cfg.batch_size} clips of epoch 2" in capsys.readouterr().out
    assert max_abs_difference(whole["model"], resumed["model"]) == 0
    metrics = [pd.read_csv(tmp_path / run / "metrics.csv").drop(columns="seconds") for run in ("whole", "resumed")]
    pd.testing.assert_frame_equal(*metrics)
