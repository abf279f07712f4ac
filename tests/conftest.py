"""Shared fixtures: tiny real video files in the datasets' native layouts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch


def moving_square(frames: int, height: int, width: int, dx: float, seed: int = 0) -> np.ndarray:
    """A textured square moving ``dx`` pixels per frame over a noise background (T×H×W×3 uint8)."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 255, (height, width, 3), dtype=np.uint8) // 2
    texture = rng.integers(128, 255, (height // 3, height // 3, 3), dtype=np.uint8)
    out = np.repeat(background[None], frames, axis=0)
    s = texture.shape[0]
    for t in range(frames):
        x = int(round(width / 4 + dx * t)) % (width - s)
        out[t, height // 3:height // 3 + s, x:x + s] = texture
    return out


@pytest.fixture()
def tiny_ucf(tmp_path: Path) -> Path:
    """A 2-class UCF-101-layout dataset with one corrupt, one empty and one missing video."""
    from i3d.data.video import (
        encode,  # ffmpeg: imported here so that tests without videos run without it
    )
    root = tmp_path / "ucf101"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 MoveLeft\n2 MoveRight\n")
    train, test = [], []
    for label, (name, dx) in enumerate((("MoveLeft", -2.0), ("MoveRight", 2.0)), start=1):
        for g in (1, 2, 3):
            rel = f"{name}/v_{name}_g{g:02d}_c01.avi"
            encode(root / "UCF-101" / rel, moving_square(20, 48, 64, dx, seed=g), fps=30.0, codec="mpeg4")
            (test if g == 1 else train).append((rel, label))
    (root / "UCF-101/MoveLeft/v_MoveLeft_g04_c01.avi").write_bytes(b"\x00not a video" * 50)  # corrupt
    (root / "UCF-101/MoveLeft/v_MoveLeft_g05_c01.avi").write_bytes(b"")  # empty
    extra = [("MoveLeft/v_MoveLeft_g04_c01.avi", 1), ("MoveLeft/v_MoveLeft_g05_c01.avi", 1),
             ("MoveRight/v_MoveRight_g06_c01.avi", 2)]  # the last one is missing on disk
    for n in (1, 2, 3):
        (lists / f"trainlist0{n}.txt").write_text("".join(f"{r} {l}\n" for r, l in train + extra))
        (lists / f"testlist0{n}.txt").write_text("".join(f"{r}\n" for r, _ in test))
    return root


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread: on a shared 2-core box, 2 spinning OpenMP threads can run 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
