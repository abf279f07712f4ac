"""Train one stream of one architecture on one dataset split (one Snakemake job).

SGD with momentum 0.9 as in the paper, a short linear warm-up then cosine decay (the stand-in runs are
far shorter than the paper's schedule, so a fixed step schedule would need retuning per preset).
Resumable: a checkpoint is written atomically after every epoch and picked up when the job is rerun.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..data.loader import ClipDataset, split_samples
from ..models import build
from .checkpoints import load, resolve_device, save_atomic


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "i3d"
    stream: str = "rgb"
    num_classes: int = 400
    epochs: int = 10
    batch_size: int = 8
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-5
    warmup_epochs: float = 1.0
    num_frames: int = 64
    crop_size: int = 224
    dropout: float = 0.5
    bn_momentum: float = 0.1
    workers: int = 0
    seed: int = 0
    device: str = "auto"


def lr_at(step: int, total: int, warmup: int, base_lr: float) -> float:
    """Linear warm-up for ``warmup`` steps, then cosine decay to zero at ``total``."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train(cfg: TrainConfig, manifest: str | Path, shards: Sequence[str | Path], split: int, out_dir: str | Path,
          *, threads: int = 1, progress: bool = True) -> Path:
    """Train and write ``model.pt`` + ``metrics.csv`` into ``out_dir``; returns the model path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)

    samples = split_samples(manifest, shards, split, "train")
    if not samples:
        raise RuntimeError(f"no training clips for split {split} in {len(shards)} shard(s)")
    dataset = ClipDataset(shards, samples, cfg.stream, train=True, num_frames=cfg.num_frames,
                          crop_size=cfg.crop_size, seed=cfg.seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, drop_last=len(samples) > cfg.batch_size,
                        num_workers=cfg.workers, persistent_workers=cfg.workers > 0,
                        generator=torch.Generator().manual_seed(cfg.seed), pin_memory=device.type == "cuda")
    # channels-last 3D layout: 10-25% faster training steps on the CPU (oneDNN), the same on CUDA
    model = build(cfg.arch, num_classes=cfg.num_classes, stream=cfg.stream, dropout=cfg.dropout,
                  bn_momentum=cfg.bn_momentum)
    model = model.to(device, memory_format=torch.channels_last_3d)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    steps_per_epoch = len(loader)
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = int(cfg.warmup_epochs * steps_per_epoch)

    ckpt_path, metrics_path = out_dir / "checkpoint.pt", out_dir / "metrics.csv"
    start_epoch, history = 0, []
    if ckpt_path.is_file():
        state = load(ckpt_path, device)
        if state["config"] == asdict(cfg):
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start_epoch, history = state["epoch"], state["history"]
            print(f"resuming from epoch {start_epoch} ({ckpt_path})", flush=True)
        else:
            print(f"ignoring {ckpt_path}: written with a different configuration", flush=True)

    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        dataset.set_epoch(epoch)
        tic, seen, correct, loss_sum = time.time(), 0, 0, 0.0
        bar = tqdm(loader, desc=f"{cfg.arch}-{cfg.stream} epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                   disable=not progress)
        for i, (x, y) in enumerate(bar):
            step = epoch * steps_per_epoch + i
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total_steps, warmup_steps, cfg.lr)
            x = x.to(device, non_blocking=True, memory_format=torch.channels_last_3d)
            y = y.to(device, non_blocking=True)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.2f}")
        history.append(dict(epoch=epoch + 1, train_loss=loss_sum / seen, train_top1=100.0 * correct / seen,
                            lr=optimizer.param_groups[0]["lr"], seconds=time.time() - tic, clips=seen))
        print(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in history[-1].items()),
              flush=True)
        save_atomic(dict(config=asdict(cfg), epoch=epoch + 1, history=history, model=model.state_dict(),
                         optimizer=optimizer.state_dict()), ckpt_path)

    tmp = metrics_path.with_name(metrics_path.name + ".tmp")
    pd.DataFrame(history).to_csv(tmp, index=False)
    os.replace(tmp, metrics_path)
    model_path = out_dir / "model.pt"
    save_atomic(dict(config=asdict(cfg), model=model.state_dict()), model_path)
    ckpt_path.unlink(missing_ok=True)
    return model_path
