"""The learning-rate recipe (i3d/train/loop.py): ``lr`` is the rate at ``lr_reference_batch`` clips per step and
follows the global batch (the linear scaling rule), the default leaves it exactly as given; the ``plateau``
schedule cuts it 10x after ``plateau_patience`` epochs without a better validation top-1, and a killed job resumes
to the cuts and weights of an uninterrupted one."""
from __future__ import annotations

import argparse

import pandas as pd
import pytest
from test_resume import Killed, config, data, interrupted_run, max_abs_difference, scripted_val_top1  # noqa: F401

from i3d.cli import train as cli_train
from i3d.config import ConfigError, validate
from i3d.train.checkpoints import load
from i3d.train.distributed import Dist
from i3d.train.loop import (
    TrainConfig,
    _optimizer,
    lr_at,
    plateau_drops,
    plateau_lr_at,
    scaled_lr,
    train,
)
from torch import nn


def test_scaled_lr_keeps_the_rate_per_clip():
    assert scaled_lr(0.1, 8, 384) == pytest.approx(0.1 * 8 / 384)
    assert scaled_lr(0.01, 32, 8) == pytest.approx(0.04)
    assert scaled_lr(0.008, 8, None) == 0.008  # no reference: exactly as given, whatever the batch
    assert scaled_lr(0.3, 24, 24) == 0.3


@pytest.mark.parametrize("reference, world, expected", [(None, 1, 0.008), (None, 2, 0.008), (8, 2, 0.016),
                                                        (64, 2, 0.002)])
def test_peak_rate_follows_the_global_batch_of_all_processes(reference, world, expected):
    cfg = TrainConfig(batch_size=8, lr=0.008, lr_reference_batch=reference)
    _, peak = _optimizer(cfg, nn.Linear(2, 2), Dist(world_size=world))
    assert peak == pytest.approx(expected, rel=1e-12)
    if reference is None:
        assert peak == cfg.lr


def test_plateau_drops_count_epochs_without_a_new_best():
    assert plateau_drops([], 2) == 0
    assert plateau_drops([10, 20, 30], 2) == 0
    assert plateau_drops([10, 20, 20, 15], 2) == 1  # two epochs without a better one
    assert plateau_drops([10, 20, 20, 15, 19, 18], 2) == 2  # the count restarts after a cut
    assert plateau_drops([10, 20, 20, 25, 25], 2) == 0  # a new best restarts it too
    assert plateau_drops([50, 40, 40, 40], 1) == 3


def test_plateau_rate_warms_up_then_holds_and_cuts():
    assert plateau_lr_at(0, 4, 0.1, 0) == pytest.approx(0.025)
    assert plateau_lr_at(10, 4, 0.1, 0) == 0.1
    assert plateau_lr_at(10, 4, 0.1, 2) == pytest.approx(0.001)
    assert plateau_lr_at(0, 0, 0.1, 1) == pytest.approx(0.01)


def test_default_schedule_is_the_cosine_of_lr_as_given(data, tmp_path):
    """The default config's rates must not move: each epoch logs lr_at of its last step at exactly ``lr``."""
    cfg = config(epochs=3, val_fraction=0.0)
    train(cfg, *data, 1, tmp_path, progress=False)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    steps = 3  # 6 training clips, batch 2
    assert metrics.lr.tolist() == [lr_at((e + 1) * steps - 1, 3 * steps, steps, cfg.lr) for e in range(3)]


def test_plateau_schedule_cuts_on_validation_and_resumes_to_the_same_cuts(data, tmp_path, monkeypatch):
    """Validation scripted 80, 70, 70, 90: cut after epoch 3 (two without a better one); the job killed after
    epoch 2 must resume to the same rates and weights."""
    cfg = config(epochs=4, schedule="plateau", plateau_patience=2, warmup_epochs=0.0)
    scripted_val_top1(monkeypatch, [80.0, 70.0, 70.0, 90.0])
    whole = load(train(cfg, *data, 1, tmp_path / "whole", progress=False))
    metrics = pd.read_csv(tmp_path / "whole" / "metrics.csv")
    assert metrics.lr.tolist() == pytest.approx([0.05, 0.05, 0.05, 0.005])
    scripted_val_top1(monkeypatch, [80.0, 70.0, 70.0, 90.0])
    resumed = interrupted_run(monkeypatch, cfg, data, tmp_path / "resumed", kill=2, threads=1)
    assert max_abs_difference(whole["model"], resumed["model"]) == 0
    assert pd.read_csv(tmp_path / "resumed" / "metrics.csv").lr.tolist() == metrics.lr.tolist()


def test_plateau_without_validation_is_refused(data, tmp_path):
    with pytest.raises(ValueError, match="plateau.*val_fraction"):
        train(config(schedule="plateau", val_fraction=0.0), *data, 1, tmp_path, progress=False)


def test_config_refuses_plateau_without_validation():
    config_ = {"datasets": {"ucf101": {"source": "synthetic", "train": {"schedule": "plateau", "val_fraction": 0}}}}
    with pytest.raises(ConfigError, match=r"datasets\.ucf101\.train\.schedule.*val_fraction"):
        validate(config_)


@pytest.mark.parametrize("flags, expected", [([], None), (["--lr-reference-batch", "384"], 384),
                                             (["--lr-scaling", "linear"], 8)])
def test_cli_reference_batch_and_its_linear_shorthand(flags, expected):
    args = argparse.Namespace(lr_scaling="none", lr_reference_batch=None, batch_size=8)
    for name, value in zip(flags[::2], flags[1::2]):
        setattr(args, name.lstrip("-").replace("-", "_"), int(value) if value.isdigit() else value)
    assert cli_train._reference_batch(args) == expected


def test_cli_refuses_both_reference_forms():
    args = argparse.Namespace(lr_scaling="linear", lr_reference_batch=384, batch_size=8)
    with pytest.raises(SystemExit, match="give one of the two"):
        cli_train._reference_batch(args)
