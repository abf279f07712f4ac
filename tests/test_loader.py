"""The training/test clip sampling (per architecture, from the registry) and augmentation of the paper."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from i3d.data.loader import (
    ClipDataset,
    ClipSample,
    crop_box,
    mirror_flow_x,
    model_input,
    resize,
    to_tensor,
    training_loader,
)
from i3d.data.sampling import eval_indices, frame_indices, train_start
from i3d.models.registry import model_sampling
from i3d.data.shards import ShardReader, ShardWriter, decode_jpeg, encode_jpeg, shards_by_kind, stack_flow_image
from i3d.models import Sampling


def test_short_clips_are_looped_and_long_ones_windowed():
    rng = np.random.default_rng(0)
    eight = {"rgb": Sampling(8)}
    assert list(frame_indices(train_start({"rgb": 3}, eight, rng), eight["rgb"], 3)) == [0, 1, 2, 0, 1, 2, 0, 1]
    sixteen = {"rgb": Sampling(16)}
    window = frame_indices(train_start({"rgb": 100}, sixteen, rng), sixteen["rgb"], 100)
    assert len(window) == 16 and np.all(np.diff(window) == 1) and window[-1] < 100


def test_strided_training_sample_stays_in_the_clip():
    lstm = model_sampling("lstm", "rgb", "train")  # 25 frames, every 5th: 125 frames of video
    rng = np.random.default_rng(1)
    for _ in range(20):
        idx = frame_indices(train_start({"rgb": 200}, lstm, rng), lstm["rgb"], 200)
        assert len(idx) == 25 and np.all(np.diff(idx) == 5) and idx[-1] <= 200 - 5


def test_fused_streams_share_the_start():
    """The k-th RGB frame sits at the start of the k-th flow stack (flow is one frame shorter)."""
    fused = model_sampling("fused", "rgb+flow", "train")
    assert list(fused) == ["rgb", "flow"]
    lengths = {"rgb": 120, "flow": 119}
    start = train_start(lengths, fused, np.random.default_rng(2))
    rgb, flow = (frame_indices(start, fused[s], lengths[s]) for s in ("rgb", "flow"))
    assert len(rgb) == 5 and len(flow) == 50
    assert list(rgb) == list(flow[::10]) and flow[-1] < 119


def test_test_samples_spread_over_the_clip():
    two_stream = model_sampling("two_stream", "flow", "test")  # 25 stacks of 10 flow frames
    idx = eval_indices({"flow": 259}, two_stream)["flow"]
    assert idx.shape == (25, 10) and idx[0, 0] == 0 and idx[-1, -1] == 258
    assert np.all(np.diff(idx[:, 0]) > 0)
    whole = eval_indices({"rgb": 37}, model_sampling("i3d", "rgb", "test"))["rgb"]
    assert whole.shape == (1, 37)  # I3D: the whole clip, averaged over time by the model
    lstm = eval_indices({"rgb": 300}, model_sampling("lstm", "rgb", "test"))["rgb"]
    assert lstm.shape == (1, 50) and lstm[0, 0] == (300 - 250) // 2  # one centered sample


@pytest.mark.parametrize("arch, stream, scale, expected", [
    ("i3d", "rgb", 0.25, {"rgb": 16}),
    ("lstm", "rgb", 0.25, {"rgb": 6}),
    ("two_stream", "flow", 0.25, {"flow": 10}),  # a flow stack is never cut
    ("fused", "rgb+flow", 0.5, {"rgb": 3, "flow": 30}),  # 2.5 rounds up  # streams stay aligned: 10 flow frames per RGB frame
    ("fused", "rgb+flow", 0.1, {"rgb": 1, "flow": 10}),
    ("c3d", "rgb", 1.0, {"rgb": 16}),
])
def test_frames_scale_keeps_stacks_and_alignment(arch, stream, scale, expected):
    assert {s: v.frames for s, v in model_sampling(arch, stream, "train", scale).items()} == expected


def test_resize_scales_flow_displacements():
    flow = np.full((1, 8, 8, 2), 127, dtype=np.uint8)
    flow[..., 0] = 127 + 40  # +40 levels in x
    half = resize(flow, 4, "flow")
    assert half.shape == (1, 4, 4, 2) and abs(int(half[0, 0, 0, 0]) - (127.5 + 39.5 / 2)) <= 1
    assert resize(np.zeros((2, 8, 8, 3), np.uint8), 4, "rgb").shape == (2, 4, 4, 3)


def _textured_shards(tmp_path, frames: int = 3, height: int = 40, width: int = 52):
    """An RGB and a flow shard of one clip of noise (JPEG-coded as the pipeline codes them), and the frames."""
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
    flow = rng.integers(0, 256, (frames, height, width, 2), dtype=np.uint8)
    for kind, data, code in (("rgb", rgb, lambda f: f), ("flow", flow, stack_flow_image)):
        writer = ShardWriter(tmp_path / f"{kind}.h5", kind)
        writer.add_clip("a", 0, [encode_jpeg(code(f)) for f in data], 25.0, height, width)
        writer.close()
    return ShardReader(tmp_path / "rgb.h5"), ShardReader(tmp_path / "flow.h5")


def test_cropped_mirrored_reads_are_the_whole_frames_cut(tmp_path):
    """The loader decodes each frame straight into its crop (and mirror): the values of decoding the whole frame
    and cutting it, to the bit, for RGB (BGR -> RGB) and for flow (x above y in one gray JPEG)."""
    rgb, flow = _textured_shards(tmp_path)
    encoded = rgb.encoded("a", [0, 1, 2])
    whole = np.stack([decode_jpeg(e, color=True) for e in encoded])
    assert np.array_equal(rgb.read("a"), whole)
    box = (5, 9, 24, 30)
    cut = whole[:, 5:29, 9:39]
    assert np.array_equal(rgb.read("a", [0, 2], box=box), cut[[0, 2]])
    assert np.array_equal(rgb.read("a", [1], box=box, mirror=True), cut[[1], :, ::-1])
    gray = np.stack([decode_jpeg(e, color=False) for e in flow.encoded("a", [0, 1, 2])])
    xy = np.stack([gray[:, :40], gray[:, 40:]], axis=-1)
    assert np.array_equal(flow.read("a"), xy)
    assert np.array_equal(flow.read("a", [2], box=box, mirror=True), xy[[2], 5:29, 9:39][:, :, ::-1])


def test_mirrored_flow_changes_the_sign_of_x_only():
    flow = np.zeros((1, 2, 3, 2), dtype=np.uint8)
    flow[..., 0] = [[10, 20, 30], [40, 50, 60]]
    flow[..., 1] = 77
    mirror_flow_x(flow)
    assert flow[0, 0, :, 0].tolist() == [245, 235, 225]  # 255 - q: x changes sign
    assert (flow[..., 1] == 77).all()


def test_items_are_uint8_scaled_to_the_unit_range_on_the_device():
    frames = np.stack([np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8)])
    x = to_tensor(frames)
    assert x.shape == (3, 2, 4, 4) and x.dtype == torch.uint8
    assert x.data_ptr() == torch.from_numpy(frames).data_ptr()  # a view: no copy on the host
    y = model_input(x[None], "cpu")
    assert y.dtype == torch.float32 and y.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(y[0, :, 0], -torch.ones(3, 4, 4)) and torch.equal(y[0, :, 1], torch.ones(3, 4, 4))
    assert model_input(torch.tensor([128], dtype=torch.uint8), "cpu").item() == pytest.approx(1 / 255, rel=1e-4)


def test_center_crop():
    assert crop_box(64, 86, 56, None) == (4, 15)
    with pytest.raises(ValueError, match="smaller than the crop"):
        crop_box(32, 40, 56, None)


def _flow_shard(path, frames: int):
    writer = ShardWriter(path, "flow")
    q = np.full((40, 48, 2), 128, dtype=np.uint8)
    writer.add_clip("a", 1, [encode_jpeg(stack_flow_image(q))] * frames, 25.0, 40, 48)
    writer.close()


def _rgb_shard(path, frames: int):
    writer = ShardWriter(path, "rgb")
    writer.add_clip("a", 1, [encode_jpeg(np.full((40, 48, 3), 8 * t, np.uint8)) for t in range(frames)],
                    25.0, 40, 48)
    writer.close()


def test_dataset_train_and_test_items(tmp_path):
    _flow_shard(tmp_path / "f.h5", frames=5)
    shards = {"flow": [tmp_path / "f.h5"]}
    train = ClipDataset(shards, [ClipSample("a", 1)], {"flow": Sampling(8)}, train=True, crop_size=32)
    (x,), y = train[0]
    assert x.shape == (2, 8, 32, 32) and y == 1 and x.dtype == torch.uint8 and (x.int() - 128).abs().max() <= 2  # ~0, scaled on the device
    test = ClipDataset(shards, [ClipSample("a", 1)], {"flow": Sampling(0)}, train=False, crop_size=32)
    assert test[0][0][0].shape == (1, 2, 5, 32, 32)  # one sample: the whole clip
    with pytest.raises(KeyError, match="not in the flow shards"):
        ClipDataset(shards, [ClipSample("b", 0)], {"flow": Sampling(8)}, train=True, crop_size=32)


def test_joint_items_have_both_streams_in_time(tmp_path):
    _rgb_shard(tmp_path / "r.h5", frames=30)
    _flow_shard(tmp_path / "f.h5", frames=29)
    shards = shards_by_kind([tmp_path / "f.h5", tmp_path / "r.h5"])
    assert set(shards) == {"rgb", "flow"}
    sampling = model_sampling("fused", "rgb+flow", "test", 0.4)  # 2 RGB frames 10 apart, 20 flow frames
    test = ClipDataset(shards, [ClipSample("a", 1)], sampling, train=False, crop_size=32, input_size=16)
    (rgb, flow), _ = test[0]
    assert rgb.shape == (5, 3, 2, 16, 16) and flow.shape == (5, 2, 20, 16, 16)
    level = (rgb[:, 0, :, 0, 0].float() / 8).round()  # frame t has value 8 t
    assert level[0].tolist() == [0, 10] and level[-1].tolist() == [9, 19]  # starts 0 .. 30 - 20 - 1


def _coded_shard(path, clips: int, frames: int = 30, height: int = 40, width: int = 48):
    """Clip ``c<k>`` (label k) whose pixels code (8 x frame, 4 x column, 4 x row): a sample shows its augmentation."""
    writer = ShardWriter(path, "rgb")
    rows, cols = np.mgrid[0:height, 0:width]
    for k in range(clips):
        frames_k = [np.stack([np.full((height, width), 8 * t), 4 * cols, 4 * rows], -1).astype(np.uint8)
                    for t in range(frames)]
        writer.add_clip(f"c{k}", k, [encode_jpeg(f) for f in frames_k], 25.0, height, width)
    writer.close()


def _augmentation(x: torch.Tensor) -> tuple[int, int, int, bool]:
    """(start frame, crop top, crop left, flipped) of a C x T x H x W sample of a coded clip."""
    levels = x.float()
    columns = levels[1, 0, 0]
    return (round(float(levels[0, 0].mean()) / 8), round(float(levels[2, 0, :, 0].min()) / 4),
            round(float(columns.min()) / 4), bool(columns[-1] < columns[0]))


def _augmentations_of_clip0(shards, workers: int, epochs: int = 3) -> list[tuple[int, int, int, bool]]:
    dataset = ClipDataset(shards, [ClipSample(f"c{k}", k) for k in range(4)], {"rgb": Sampling(8)}, train=True,
                          crop_size=32)
    loader = training_loader(dataset, batch_size=2, workers=workers, seed=0)
    seen = []
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)
        for (x,), y in loader:
            seen += [_augmentation(x[j]) for j in np.flatnonzero(y.numpy() == 0)]
    return seen


def test_each_epoch_augments_anew_in_workers_as_in_the_main_process(tmp_path):
    """Persistent workers keep their own dataset copy: the epoch must reach them with each item."""
    _coded_shard(tmp_path / "r.h5", clips=4)
    shards = {"rgb": [tmp_path / "r.h5"]}
    in_process, in_workers = _augmentations_of_clip0(shards, 0), _augmentations_of_clip0(shards, 2)
    print("clip c0 (start, top, left, flip) per epoch, workers=2:", in_workers, "workers=0:", in_process)
    assert len(in_workers) == 3 and len(set(in_workers)) == 3
    assert in_workers == in_process


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_are_the_items_stacked_channels_last(tmp_path, workers):
    """The collate keeps the items' layout (no transposing copy) and their values, in the sampler's order."""
    _coded_shard(tmp_path / "r.h5", clips=4)
    dataset = ClipDataset({"rgb": [tmp_path / "r.h5"]}, [ClipSample(f"c{k}", k) for k in range(4)],
                          {"rgb": Sampling(8)}, train=True, crop_size=32)
    loader = training_loader(dataset, batch_size=2, workers=workers, seed=0)
    loader.sampler.set_epoch(1)
    keys = list(loader.sampler)
    for b, ((x,), y) in enumerate(loader):
        assert x.dtype == torch.uint8 and x.shape == (2, 3, 8, 32, 32)
        assert x.is_contiguous(memory_format=torch.channels_last_3d)
        items = [dataset[key] for key in keys[2 * b:2 * b + 2]]
        assert torch.equal(x, torch.stack([item[0][0] for item in items]))
        assert y.tolist() == [item[1] for item in items]
