"""The training/test clip sampling and augmentation of the paper."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from i3d.data.loader import ClipDataset, ClipSample, crop_box, flip_horizontal, temporal_window, to_tensor
from i3d.data.shards import ShardWriter, encode_jpeg, stack_flow_image


def test_short_clips_are_looped_and_long_ones_windowed():
    rng = np.random.default_rng(0)
    assert list(temporal_window(3, 8, rng)) == [0, 1, 2, 0, 1, 2, 0, 1]
    window = temporal_window(100, 16, rng)
    assert len(window) == 16 and np.all(np.diff(window) == 1) and window[-1] < 100


def test_flip_negates_flow_x_only():
    flow = np.zeros((1, 2, 3, 2), dtype=np.uint8)
    flow[..., 0] = [[10, 20, 30], [40, 50, 60]]
    flow[..., 1] = 77
    flipped = flip_horizontal(flow, "flow")
    assert flipped[0, 0, :, 0].tolist() == [225, 235, 245]  # mirrored, then 255 - q (x changes sign)
    assert (flipped[..., 1] == 77).all()
    rgb = np.arange(18, dtype=np.uint8).reshape(1, 1, 6, 3)
    assert (flip_horizontal(rgb, "rgb")[0, 0, 0] == rgb[0, 0, -1]).all()


def test_center_crop_and_range():
    assert crop_box(64, 86, 56, None) == (4, 15)
    with pytest.raises(ValueError, match="smaller than the crop"):
        crop_box(32, 40, 56, None)
    x = to_tensor(np.full((2, 4, 4, 3), 255, dtype=np.uint8))
    assert x.shape == (3, 2, 4, 4) and torch.allclose(x, torch.ones_like(x))


def _flow_shard(path, frames: int):
    writer = ShardWriter(path, "flow")
    q = np.full((40, 48, 2), 128, dtype=np.uint8)
    writer.add_clip("a", 1, [encode_jpeg(stack_flow_image(q))] * frames, 25.0, 40, 48)
    writer.close()


def test_dataset_train_and_test_items(tmp_path):
    _flow_shard(tmp_path / "f.h5", frames=5)
    train = ClipDataset([tmp_path / "f.h5"], [ClipSample("a", 1)], "flow", train=True, num_frames=8, crop_size=32)
    x, y = train[0]
    assert x.shape == (2, 8, 32, 32) and y == 1 and x.abs().max() < 0.02  # 128 -> ~0
    test = ClipDataset([tmp_path / "f.h5"], [ClipSample("a", 1)], "flow", train=False, num_frames=0, crop_size=32)
    assert test[0][0].shape == (2, 5, 32, 32)
    with pytest.raises(KeyError, match="not in the flow shards"):
        ClipDataset([tmp_path / "f.h5"], [ClipSample("b", 0)], "flow", train=True, num_frames=8, crop_size=32)
