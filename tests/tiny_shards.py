"""A tiny real RGB shard for training tests: clips of 2 classes whose brightness codes the class, so a few steps of
any architecture learn it; shared by the resume and data-parallel tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from i3d.data.shards import ShardWriter, encode_jpeg


def brightness_shard(root: Path, train_clips: int, test_clips: int, frames: int) -> tuple[Path, dict]:
    """Write ``rgb.h5`` and ``manifest.csv`` under ``root`` (clips ``c0``…, alternating classes, the first
    ``train_clips`` in split 1's train set); return the manifest and the shards as ``train`` takes them."""
    writer, rng, rows = ShardWriter(root / "rgb.h5", "rgb", params={"short_side": 40}), np.random.default_rng(0), []
    for k in range(train_clips + test_clips):
        label = k % 2
        images = [encode_jpeg(rng.integers(0, 60, (32, 40, 3), dtype=np.uint8) + 150 * label) for _ in range(frames)]
        writer.add_clip(f"c{k}", label, images, 25.0, 32, 40)
        rows.append(dict(clip_id=f"c{k}", label=f"class{label}", label_index=label,
                         split1="train" if k < train_clips else "test"))
    writer.close()
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv", {"rgb": [root / "rgb.h5"]}
