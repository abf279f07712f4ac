"""Does ``lr`` at a reference batch (``train.lr_reference_batch``, the linear scaling rule) give one learning curve
whatever the batch? Trains the same small I3D on a rendered stand-in at batch 8 (two seeds: the noise level),
batch 32, and 2 processes x 16 (DDP, gloo on the CPU: global batch 32), all for the same epochs, ``lr`` given at
batch 8, and prints the per-epoch training loss and validation top-1 side by side with the largest differences.

Usage: OMP_NUM_THREADS=1 nice python3 benchmarks/lr_scaling.py [--work /tmp/lr_scaling] [--epochs 8]

CPU only, one thread per process, a few minutes on 2 cores. The stand-in is rendered and framed into ``--work``
by the ``i3d data`` commands the workflow runs (kept there: a rerun skips them).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch.multiprocessing as mp

from i3d.train.loop import TrainConfig, train

REFERENCE_BATCH = 8
LR = 0.008  # the default config's rate at batch 8


def stand_in(work: Path) -> tuple[Path, dict]:
    """A UCF-101 stand-in (8 classes x 24 clips, 48 px frames) as a manifest and one RGB shard."""
    manifest, shard = work / "manifest.csv", work / "rgb" / "shard000.h5"
    if not manifest.is_file():
        subprocess.run(["i3d", "data", "acquire", "--dataset", "ucf101", "--source", "synthetic", "--root",
                        str(work / "videos"), "--manifest", str(manifest), "--classes", "8", "--clips-per-class",
                        "24", "--seed", "2", "--seconds", "1.0", "1.6", "--quiet"], check=True)
    if not shard.is_file():
        subprocess.run(["i3d", "data", "frames", "--manifest", str(manifest), "--shard", "0", "--num-shards", "1",
                        "--out", str(shard), "--fps", "25", "--short-side", "48", "--quiet"], check=True)
    return manifest, {"rgb": [shard]}


def settings(epochs: int, **changes) -> TrainConfig:
    """I3D RGB, 8 frames of 40 px, no dropout, lr given at batch 8 and scaled to the global batch."""
    return TrainConfig(**{**dict(arch="i3d", stream="rgb", num_classes=8, epochs=epochs, batch_size=8, lr=LR,
                                 lr_reference_batch=REFERENCE_BATCH, frames_scale=0.125, crop_size=40, dropout=0.0,
                                 val_fraction=0.25, device="cpu"), **changes})


def _rank(rank: int, world: int, port: int, cfg: dict, data: tuple, out: str) -> None:
    """One process of a torchrun-like launch on 127.0.0.1."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    train(TrainConfig(**cfg), *data, 1, out, threads=1, progress=False)


def data_parallel(cfg: TrainConfig, data: tuple, out: Path, world: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_rank, args=(world, port, asdict(cfg), data, str(out)), nprocs=world, start_method="spawn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/lr_scaling"))
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    data = stand_in(args.work)
    runs = {"b8 seed0": settings(args.epochs), "b8 seed1": settings(args.epochs, seed=1),
            "b32": settings(args.epochs, batch_size=32), "ddp 2x16": settings(args.epochs, batch_size=16)}
    curves = {}
    for name, cfg in runs.items():
        out = args.work / name.replace(" ", "_")
        if not (out / "metrics.csv").is_file():
            if name.startswith("ddp"):
                data_parallel(cfg, data, out, world=2)
            else:
                train(cfg, *data, 1, out, threads=1, progress=False)
        curves[name] = pd.read_csv(out / "metrics.csv").set_index("epoch")
    table = pd.concat({name: c[["train_loss", "val_top1", "lr"]] for name, c in curves.items()}, axis=1)
    pd.set_option("display.width", 200)
    print(f"I3D RGB on the UCF-101 stand-in, lr {LR} at batch {REFERENCE_BATCH}, scaled to the global batch, "
          f"cosine, {args.epochs} epochs\n")
    print(table.round(3).to_string())
    print("\nlargest |difference| over the epochs:")
    for a, b in (("b8 seed0", "b8 seed1"), ("b8 seed0", "b32"), ("b8 seed1", "b32"), ("b32", "ddp 2x16"),
                 ("b8 seed0", "ddp 2x16")):
        loss = (curves[a].train_loss - curves[b].train_loss).abs().max()
        top1 = (curves[a].val_top1 - curves[b].val_top1).abs().max()
        print(f"  {a:9s} vs {b:9s}: train loss {loss:.3f}, val top-1 {top1:.1f} points")


if __name__ == "__main__":
    main()
