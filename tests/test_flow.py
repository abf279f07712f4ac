"""Flow stage: quantization, the OpenCV TV-L1 backend, the backend registry, RGB shard -> flow shard."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict

import cv2
import numpy as np
import pytest

from i3d.data.loader import model_input, to_tensor
from i3d.data.shards import ShardReader, ShardWriter, encode_jpeg
from i3d.flow import (
    compute_flow_shard,
    dequantize,
    get_backend,
    quantize,
)
from i3d.flow.opencv_backend import OPENCV_VERSION, OpenCVTVL1, TVL1Params, create_tvl1

STEP = 40.0 / 255.0  # one quantization bucket at bound 20, in px
SHIFT = (1.5, 0.5)  # texture motion per frame (x right, y down), px


def moving_texture(h: int, w: int, shift: tuple[float, float], frames: int, seed: int = 0) -> np.ndarray:
    """T×H×W uint8 frames of a smooth random texture whose content moves by ``shift`` px per frame.

    Sub-pixel shifts are bicubic resamplings of a texture blurred well below Nyquist, so they are near exact.
    """
    rng = np.random.default_rng(seed)
    margin = 16
    base = rng.normal(size=((h + 2 * margin) // 4 + 2, (w + 2 * margin) // 4 + 2)).astype(np.float32)
    base = cv2.GaussianBlur(cv2.resize(base, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC), (0, 0), 1.5)
    base = (base - base.min()) / (base.max() - base.min()) * 255.0
    out = []
    for t in range(frames):
        m = np.float32([[1, 0, shift[0] * t], [0, 1, shift[1] * t]])  # dst(x + t·shift) = base(x)
        moved = cv2.warpAffine(base, m, base.shape[::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        out.append(moved[margin:margin + h, margin:margin + w])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# --- quantization -------------------------------------------------------------------------------------------

def test_quantize_mapping_endpoints_and_truncation():
    f = np.array([-20.0, 20.0, -25.0, 1e6, 0.0, -20.0 + STEP, 20.0 - STEP], dtype=np.float32)
    np.testing.assert_array_equal(quantize(f), [0, 255, 0, 255, 128, 1, 254])  # 0 px -> 127.5 -> 128 (half-even)
    assert quantize(f).dtype == np.uint8
    np.testing.assert_allclose(dequantize(np.array([0, 255, 128], np.uint8)), [-20.0, 20.0, 20.0 / 255], atol=1e-5)
    np.testing.assert_allclose(quantize(np.array([-10.0, 10.0]), bound=10.0), [0, 255])


def test_dequantize_inverts_quantize_on_every_level():
    q = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(quantize(dequantize(q)), q)
    assert dequantize(q).dtype == np.float32


def test_the_network_sees_the_dequantized_flow_over_the_bound():
    q = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    u = model_input(to_tensor(q), "cpu").numpy().ravel()  # as the device gets the loader's uint8
    assert u.dtype == np.float32 and u[0] == -1.0 and u[-1] == 1.0
    np.testing.assert_allclose(u, dequantize(q).ravel() / 20.0, atol=1e-6)


def test_round_trip_error_is_half_a_step_and_quarter_step_on_average():
    f = np.random.default_rng(0).uniform(-20, 20, size=1_000_000).astype(np.float32)
    err = np.abs(dequantize(quantize(f)) - f)
    assert err.max() <= STEP / 2 + 1e-5
    assert abs(err.mean() - STEP / 4) < 1e-3  # uniform rounding error: mean = step/4 = 0.039 px


# --- OpenCV backend -----------------------------------------------------------------------------------------

def test_opencv_version_is_pinned():
    # The reference flow moves by ~0.01-0.02 px between OpenCV releases: bump OPENCV_VERSION deliberately.
    assert cv2.__version__ == OPENCV_VERSION
    assert OpenCVTVL1().params()["opencv_version"] == OPENCV_VERSION


GETTERS = {"tau": "getTau", "lambda_": "getLambda", "theta": "getTheta", "nscales": "getScalesNumber",
           "warps": "getWarpingsNumber", "epsilon": "getEpsilon", "inner_iterations": "getInnerIterations",
           "outer_iterations": "getOuterIterations", "scale_step": "getScaleStep", "gamma": "getGamma",
           "median_filtering": "getMedianFiltering", "use_initial_flow": "getUseInitialFlow"}


def test_params_are_opencv_defaults():
    expected = dict(tau=0.25, lambda_=0.15, theta=0.3, nscales=5, warps=5, epsilon=0.01, inner_iterations=30,
                    outer_iterations=10, scale_step=0.8, gamma=0.0, median_filtering=5, use_initial_flow=False)
    assert TVL1Params() == TVL1Params(**expected)
    stock = cv2.optflow.DualTVL1OpticalFlow_create()
    ours = create_tvl1(TVL1Params())
    for field, getter in GETTERS.items():
        assert getattr(stock, getter)() == pytest.approx(expected[field]), field
        assert getattr(ours, getter)() == pytest.approx(expected[field]), field


def test_params_reach_opencv():
    algo = create_tvl1(TVL1Params(lambda_=0.3, nscales=3, median_filtering=1, use_initial_flow=True))
    assert algo.getLambda() == pytest.approx(0.3) and algo.getScalesNumber() == 3
    assert algo.getMedianFiltering() == 1 and algo.getUseInitialFlow() is True


def test_opencv_flow_of_a_known_translation():
    frames = moving_texture(64, 64, SHIFT, frames=2)
    flow = OpenCVTVL1().compute(frames)
    assert flow.shape == (1, 64, 64, 2) and flow.dtype == np.float32
    interior = flow[0, 12:-12, 12:-12]
    assert interior[..., 0].mean() == pytest.approx(SHIFT[0], abs=0.1)  # x first
    assert interior[..., 1].mean() == pytest.approx(SHIFT[1], abs=0.1)


def test_opencv_compute_validates_input_and_handles_one_frame():
    backend = OpenCVTVL1()
    assert backend.compute(np.zeros((1, 8, 8), np.uint8)).shape == (0, 8, 8, 2)
    with pytest.raises(ValueError):
        backend.compute(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError):
        backend.compute(np.zeros((2, 8, 8, 3), np.uint8))


# --- registry -----------------------------------------------------------------------------------------------

def test_registry_resolves_auto_and_rejects_unknown_names():
    assert get_backend("auto", device="cpu").name == "opencv"  # the faster CPU path (benchmarks/flow.py)
    backend = get_backend("opencv", tvl1={"nscales": 3})
    assert backend.params()["tvl1"]["nscales"] == 3
    assert get_backend("torch", device="cpu", tvl1={"warps": 2}).params()["tvl1"]["warps"] == 2
    with pytest.raises(ValueError, match="allowed: auto, torch, opencv"):
        get_backend("farneback")
    with pytest.raises(ValueError, match="CPU only"):
        get_backend("opencv", device="cuda")


@pytest.fixture
def without_triton(monkeypatch):
    """Triton not importable, as with PyTorch's CPU wheels."""
    from i3d.flow import tvl1_triton
    monkeypatch.setattr(tvl1_triton, "triton", None)


@pytest.fixture
def on_cuda(monkeypatch):
    """The torch backend believes it runs on CUDA (nothing here touches the device)."""
    import torch

    from i3d.flow import torch_backend
    monkeypatch.setattr(torch_backend, "resolve_device", lambda name: torch.device("cuda"))


def test_an_explicit_triton_backend_fails_at_start_up_where_triton_is_not_importable(without_triton, on_cuda,
                                                                                     rgb_shard, tmp_path):
    from i3d.cli import build_parser
    from i3d.config import validate

    assert validate({"datasets": {"ucf101": {"source": "local"}}, "flow": {"backend": "triton"}})
    assert build_parser().parse_args(["flow", "--rgb", "r.h5", "--out", "f.h5", "--backend", "triton"])
    with pytest.raises(RuntimeError, match="flow backend 'triton' cannot run.*Triton is not importable"):
        compute_flow_shard(rgb_shard, tmp_path / "flow.h5", backend="triton", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rgb.h5"]  # failed before anything was written


def test_an_explicit_triton_backend_needs_cuda_and_gamma_zero():
    with pytest.raises(RuntimeError, match="flow backend 'triton' cannot run.*cpu, not CUDA.*gamma = 0.5"):
        get_backend("triton", device="cpu", tvl1={"gamma": 0.5})


def test_torch_on_cuda_without_triton_warns_and_says_it_runs_plain_pytorch_ops(without_triton, on_cuda, caplog):
    """What the solver runs (its stepper) is what the backend says it runs, and plain ops on CUDA are no secret."""
    import logging

    import torch

    from i3d.flow import solver, tvl1_triton
    with caplog.at_level(logging.INFO, logger="i3d.flow"):
        backend = get_backend("torch", device="cuda")
    assert "plain PyTorch ops" in backend.describe() and "Triton is not importable" in backend.describe()
    assert [r.levelname for r in caplog.records] == ["WARNING"] and "Triton is not importable" in caplog.text
    assert isinstance(solver._stepper(torch.device("cuda"), backend.tvl1), solver.TorchStepper)
    tvl1_triton.triton = True  # importable again (monkeypatch restores it)
    assert get_backend("triton", device="cuda").describe().startswith("triton: ")
    assert "fused Triton kernels" in get_backend("torch", device="cuda").describe()
    assert isinstance(solver._stepper(torch.device("cuda"), backend.tvl1), tvl1_triton.TritonStepper)


@pytest.mark.parametrize("backend, says", [("opencv", "opencv: OpenCV"),
                                           ("torch", "torch: the project's TV-L1 on cpu, plain PyTorch ops")])
def test_every_flow_job_logs_its_backend_at_info(backend, says, rgb_shard, tmp_path):
    """In the job's log (the CLI configures logging): the backend, its device and which kernels run."""
    run = subprocess.run([sys.executable, "-m", "i3d.cli", "flow", "--rgb", str(rgb_shard), "--out",
                          str(tmp_path / "flow.h5"), "--backend", backend, "--device", "cpu", "--quiet",
                          "--tvl1", "nscales=1", "warps=1", "outer_iterations=1", "inner_iterations=2"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"INFO i3d.flow.shard: flow.h5: {says}" in run.stderr


# --- shard round trip ---------------------------------------------------------------------------------------

@pytest.fixture
def rgb_shard(tmp_path):
    path = tmp_path / "rgb.h5"
    writer = ShardWriter(path, "rgb", {"source": "test"})
    for i in range(2):
        gray = moving_texture(32, 40, SHIFT, frames=5, seed=i)
        writer.add_clip(f"clip{i}", 7 + i, [encode_jpeg(np.repeat(g[..., None], 3, -1)) for g in gray], 25.0, 32, 40)
    writer.add_clip("single", 3, [encode_jpeg(np.zeros((32, 40, 3), np.uint8))], 25.0, 32, 40)
    writer.close()
    return path


def test_flow_shard_round_trip(rgb_shard, tmp_path):
    out = tmp_path / "flow.h5"
    summary = compute_flow_shard(rgb_shard, out, progress=False)
    assert summary["clips"] == 2 and summary["pairs"] == 8 and summary["skipped"] == ["single"]
    assert summary["seconds"] > 0 and summary["pairs_per_second"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["rgb.h5", out.name, "flow.csv"])  # no .tmp left

    reader = ShardReader(out)
    assert reader.kind == "flow"
    assert reader.params["backend"] == "opencv" and reader.params["opencv_version"] == OPENCV_VERSION
    assert reader.params["tvl1"] == asdict(TVL1Params())
    assert reader.params["bound"] == 20.0 and reader.params["jpeg_quality"] == 95
    assert [(c.clip_id, c.label, c.num_frames, c.fps, c.height, c.width) for c in reader.clips] == [
        ("clip0", 7, 4, 25.0, 32, 40), ("clip1", 8, 4, 25.0, 32, 40)]
    for clip in reader.clips:
        q = reader.read(clip.clip_id)
        assert q.shape == (4, 32, 40, 2) and q.dtype == np.uint8
        interior = dequantize(q)[:, 8:-8, 8:-8]
        assert interior[..., 0].mean() == pytest.approx(SHIFT[0], abs=0.1)
        assert interior[..., 1].mean() == pytest.approx(SHIFT[1], abs=0.1)


def test_flow_shard_is_independent_of_workers(rgb_shard, tmp_path):
    compute_flow_shard(rgb_shard, tmp_path / "a.h5", workers=1, progress=False)
    compute_flow_shard(rgb_shard, tmp_path / "b.h5", workers=2, progress=False)
    a, b = ShardReader(tmp_path / "a.h5"), ShardReader(tmp_path / "b.h5")
    for clip in a.clips:
        np.testing.assert_array_equal(a.read(clip.clip_id), b.read(clip.clip_id))


def test_flow_shard_rejects_a_flow_shard(rgb_shard, tmp_path):
    compute_flow_shard(rgb_shard, tmp_path / "flow.h5", progress=False)
    with pytest.raises(ValueError, match="expected an rgb shard"):
        compute_flow_shard(tmp_path / "flow.h5", tmp_path / "again.h5", progress=False)


def test_flow_shard_of_only_short_clips_is_empty(tmp_path):
    rgb = tmp_path / "rgb.h5"
    writer = ShardWriter(rgb, "rgb")
    writer.add_clip("single", 0, [encode_jpeg(np.zeros((8, 8, 3), np.uint8))], 25.0, 8, 8)
    writer.close()
    summary = compute_flow_shard(rgb, tmp_path / "flow.h5", workers=2, progress=False)
    assert summary["clips"] == 0 and summary["pairs"] == 0 and summary["skipped"] == ["single"]
    assert ShardReader(tmp_path / "flow.h5").clips == []


def test_long_clips_go_to_the_backend_in_windows_with_the_same_result(rgb_shard, tmp_path, monkeypatch):
    from i3d.flow import shard
    whole = tmp_path / "whole.h5"
    compute_flow_shard(rgb_shard, whole, progress=False)
    seen = []
    real = OpenCVTVL1.compute
    monkeypatch.setattr(OpenCVTVL1, "compute", lambda self, frames: seen.append(len(frames)) or real(self, frames))
    monkeypatch.setattr(shard, "FLOW_WINDOW", 3)
    compute_flow_shard(rgb_shard, tmp_path / "windows.h5", progress=False)
    assert seen == [4, 2, 4, 2]  # 5 frames = 4 pairs: pairs 0-2, then pair 3 (its two frames)
    a, b = ShardReader(whole), ShardReader(tmp_path / "windows.h5")
    for clip in a.clips:
        np.testing.assert_array_equal(a.read(clip.clip_id), b.read(clip.clip_id))


def test_jpeg_threads_beside_the_backend_give_the_serial_result(rgb_shard, monkeypatch):
    """With a thread pool the next window decodes and the last one encodes while the backend computes (what
    keeps a GPU busy); the frames, their order and the clip boundaries stay those of the serial path."""
    from concurrent.futures import ThreadPoolExecutor

    from i3d.flow import shard
    monkeypatch.setattr(shard, "FLOW_WINDOW", 3)
    reader = ShardReader(rgb_shard)
    clips = [c for c in reader.clips if c.num_frames >= 2]
    backend = get_backend("opencv")
    serial = list(shard._clip_jpegs(reader, backend, clips, 20.0, None))
    with ThreadPoolExecutor(3) as pool:
        threaded = list(shard._clip_jpegs(reader, backend, clips, 20.0, pool))
    assert [len(jpegs) for jpegs in serial] == [4, 4] and threaded == serial


def test_short_clips_share_a_solver_call_with_the_flow_each_gets_alone(rgb_shard, tmp_path, monkeypatch):
    """The torch backend takes pairs of several clips at once (what fills a GPU's batch): the shard is the one of
    one call per clip, to the byte, and a corrupt clip in a shared call fails alone."""
    from i3d.flow import shard
    from i3d.flow.torch_backend import TorchTVL1
    calls = []
    real = TorchTVL1.compute_pairs
    monkeypatch.setattr(TorchTVL1, "compute_pairs", lambda self, a, b: calls.append(len(a)) or real(self, a, b))
    tvl1 = dict(nscales=2, warps=2, outer_iterations=2, inner_iterations=5)  # cheap: what matters is equality
    compute_flow_shard(rgb_shard, tmp_path / "packed.h5", backend="torch", device="cpu", tvl1=tvl1, progress=False)
    assert calls == [8]  # both 5-frame clips' 4 pairs in one call
    with monkeypatch.context() as patch:
        patch.setattr(shard, "pack_pairs", lambda backend: 0)
        compute_flow_shard(rgb_shard, tmp_path / "alone.h5", backend="torch", device="cpu", tvl1=tvl1, progress=False)
    packed, alone = ShardReader(tmp_path / "packed.h5"), ShardReader(tmp_path / "alone.h5")
    assert [c.clip_id for c in packed.clips] == [c.clip_id for c in alone.clips] == ["clip0", "clip1"]
    for clip in alone.clips:
        assert [e.tobytes() for e in packed.encoded(clip.clip_id, range(clip.num_frames))] == \
            [e.tobytes() for e in alone.encoded(clip.clip_id, range(clip.num_frames))]
    source = ShardReader(rgb_shard)
    writer = ShardWriter(tmp_path / "with_bad.h5", "rgb")
    for clip in source.clips:
        frames = [f.tobytes() for f in source.encoded(clip.clip_id, range(clip.num_frames))]
        writer.add_clip(clip.clip_id, clip.label, frames, clip.fps, clip.height, clip.width)
        if clip.clip_id == "clip0":
            writer.add_clip("bad", 9, frames[:4] + [b"\xff\xd8 not a JPEG"], 25.0, 32, 40)
    writer.close()
    summary = compute_flow_shard(tmp_path / "with_bad.h5", tmp_path / "flow.h5", backend="torch", device="cpu",
                                 tvl1=tvl1, progress=False)
    assert summary["failed"] == {"bad": "ValueError: corrupt JPEG frame"}
    out = ShardReader(tmp_path / "flow.h5")
    for clip in alone.clips:
        np.testing.assert_array_equal(out.read(clip.clip_id), alone.read(clip.clip_id))


def test_clips_of_different_frame_shapes_are_packed_by_shape_in_shard_order(tmp_path, monkeypatch):
    """Kinetics and HMDB mix aspect ratios: clips of two frame shapes, interleaved, share one solver call per shape
    (no pack of mixed shapes that fails and is redone clip by clip), and the shard is, to the byte and in shard
    order, the one of one call per clip."""
    from i3d.flow import shard
    from i3d.flow.torch_backend import TorchTVL1
    rgb = tmp_path / "rgb.h5"
    writer = ShardWriter(rgb, "rgb")
    for i, (h, w) in enumerate([(32, 40), (24, 48), (32, 40), (24, 48)]):
        gray = moving_texture(h, w, SHIFT, frames=5, seed=i)
        writer.add_clip(f"clip{i}", i, [encode_jpeg(np.repeat(g[..., None], 3, -1)) for g in gray], 25.0, h, w)
    writer.close()
    calls = []
    real = TorchTVL1.compute_pairs
    monkeypatch.setattr(TorchTVL1, "compute_pairs", lambda self, a, b: calls.append(a.shape) or real(self, a, b))
    tvl1 = dict(nscales=2, warps=2, outer_iterations=2, inner_iterations=5)  # cheap: what matters is equality
    summary = compute_flow_shard(rgb, tmp_path / "packed.h5", backend="torch", device="cpu", tvl1=tvl1,
                                 progress=False)
    assert summary["failed"] == {}
    assert calls == [(8, 32, 40), (8, 24, 48)]  # one call per shape, none redone alone
    calls.clear()
    with monkeypatch.context() as patch:
        patch.setattr(shard, "pack_pairs", lambda backend: 0)
        compute_flow_shard(rgb, tmp_path / "alone.h5", backend="torch", device="cpu", tvl1=tvl1, progress=False)
    assert len(calls) == 4
    packed, alone = ShardReader(tmp_path / "packed.h5"), ShardReader(tmp_path / "alone.h5")
    assert [c.clip_id for c in packed.clips] == [c.clip_id for c in alone.clips] == [f"clip{i}" for i in range(4)]
    assert [(c.height, c.width) for c in packed.clips] == [(32, 40), (24, 48), (32, 40), (24, 48)]
    for clip in alone.clips:
        assert [e.tobytes() for e in packed.encoded(clip.clip_id, range(clip.num_frames))] == \
            [e.tobytes() for e in alone.encoded(clip.clip_id, range(clip.num_frames))]


def test_a_pack_takes_segments_of_its_shape_within_its_reach():
    """Packs hold one frame shape and at most ``limit`` pairs; a segment joins its shape's pack only while that
    began less than ``PACK_REACH`` packs' worth of pairs earlier, which bounds the results held back to go out in
    shard order; packs are listed by their first segment."""
    from i3d.flow.shard import PACK_REACH, _packs
    a, b = (32, 40), (24, 48)
    assert _packs([4, 4, 4, 4, 4], [a, b, a, b, a], 8) == [[0, 2], [1, 3], [4]]
    assert _packs([4, 4, 4], [a, b, a], 0) == [[0], [1], [2]]  # a backend that takes one window per call
    far = [1] + [8] * PACK_REACH + [1]
    assert _packs(far, [a] + [b] * PACK_REACH + [a], 8) == [[0], *[[k] for k in range(1, PACK_REACH + 1)],
                                                           [PACK_REACH + 1]]
    near = [1] + [8] * (PACK_REACH - 1) + [1]
    assert _packs(near, [a] + [b] * (PACK_REACH - 1) + [a], 8)[0] == [0, PACK_REACH]


def test_flow_shard_with_the_torch_backend_records_it_and_agrees_with_opencv(rgb_shard, tmp_path):
    compute_flow_shard(rgb_shard, tmp_path / "cv.h5", backend="opencv", progress=False)
    compute_flow_shard(rgb_shard, tmp_path / "pt.h5", backend="torch", device="cpu", progress=False)
    cv, pt = ShardReader(tmp_path / "cv.h5"), ShardReader(tmp_path / "pt.h5")
    assert pt.params["backend"] == "torch" and pt.params["device"] == "cpu"
    for clip in cv.clips:
        diff = np.abs(cv.read(clip.clip_id).astype(int) - pt.read(clip.clip_id).astype(int))
        assert (diff <= 1).mean() > 0.99  # equal up to a quantization step (0.16 px) on almost every pixel


_TEN_MINUTES = """
import resource, sys
from i3d.flow import compute_flow_shard
tvl1 = dict(nscales=1, warps=1, outer_iterations=1, inner_iterations=2, median_filtering=1)
summary = compute_flow_shard(sys.argv[1], sys.argv[2], backend=sys.argv[3], device="cpu", progress=False, tvl1=tvl1)
print(summary["pairs"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["opencv", "torch"])
def test_a_ten_minute_clip_goes_through_the_flow_stage_in_bounded_memory(tmp_path, backend):
    """15,001 frames of 340×256 (10 min at 25 fps) as one clip: decoded, it is 3.9 GB of RGB and its float flow
    10.4 GB; the stage holds at most two windows of frames and flow, and our solver cuts a window into chunks
    of 256 MiB on the CPU. Cheap TV-L1 parameters keep it to minutes (~5 each): the memory per window does not
    depend on them."""
    frames = [encode_jpeg(np.repeat(f[..., None], 3, axis=2)) for f in moving_texture(256, 340, SHIFT, 50)]
    writer = ShardWriter(tmp_path / "rgb.h5", "rgb")
    writer.add_clip("ten_minutes", 0, [frames[i % len(frames)] for i in range(15_001)], 25.0, 256, 340)
    writer.close()
    run = subprocess.run([sys.executable, "-c", _TEN_MINUTES, str(tmp_path / "rgb.h5"), str(tmp_path / "flow.h5"),
                          backend], capture_output=True, text=True, timeout=2400, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    pairs, peak_mb = map(int, run.stdout.split())
    assert pairs == 15_000 and ShardReader(tmp_path / "flow.h5").record("ten_minutes").num_frames == 15_000
    # two windows of frames and flow, our solver's chunk (256 MiB), the clip's JPEGs (~0.5 GB), the libraries
    assert peak_mb < 2000, f"peak RSS {peak_mb} MB"


@pytest.mark.parametrize("workers", [1, 2])  # one process with JPEG threads (the GPU path), worker processes
def test_a_clip_with_a_corrupt_jpeg_is_recorded_and_the_other_clips_get_flow(rgb_shard, tmp_path, workers,
                                                                             monkeypatch):
    import pandas as pd

    from i3d.flow import shard
    monkeypatch.setattr(shard, "FLOW_WINDOW", 3)  # the bad frame sits in the clip's second window
    rgb = tmp_path / "with_bad.h5"
    source = ShardReader(rgb_shard)
    writer = ShardWriter(rgb, "rgb")
    for clip in source.clips:
        frames = [f.tobytes() for f in source.encoded(clip.clip_id, range(clip.num_frames))]
        if clip.clip_id == "clip0":
            writer.add_clip("bad", 9, frames[:4] + [b"\xff\xd8 not a JPEG"], 25.0, 32, 40)
        writer.add_clip(clip.clip_id, clip.label, frames, clip.fps, clip.height, clip.width)
    writer.close()
    out = tmp_path / "flow.h5"
    summary = compute_flow_shard(rgb, out, workers=workers, progress=False)
    assert summary["failed"] == {"bad": "ValueError: corrupt JPEG frame"} and summary["skipped"] == ["single"]
    assert [c.clip_id for c in ShardReader(out).clips] == ["clip0", "clip1"]
    compute_flow_shard(rgb_shard, tmp_path / "clean.h5", progress=False)
    clean = ShardReader(tmp_path / "clean.h5")
    for clip in clean.clips:
        np.testing.assert_array_equal(ShardReader(out).read(clip.clip_id), clean.read(clip.clip_id))
    status = pd.read_csv(out.with_suffix(".csv")).set_index("clip_id")
    assert status.status.to_dict() == {"bad": "failed", "clip0": "ok", "clip1": "ok", "single": "skipped"}
    assert status.loc["bad", "reason"] == "ValueError: corrupt JPEG frame" and status.loc["clip0", "num_frames"] == 4


@pytest.mark.parametrize("workers", [1, 2])
def test_a_shard_whose_every_clip_failed_fails_the_job_and_is_not_written(rgb_shard, tmp_path, workers,
                                                                        monkeypatch):
    """A fault of the job, not of the clips (a poisoned CUDA context fails every clip alike): the job fails with
    the first reasons instead of writing an empty shard that fails only at training; the status table says why."""
    import pandas as pd

    def poisoned(self, frames):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(OpenCVTVL1, "compute", poisoned)
    out = tmp_path / "flow.h5"
    with pytest.raises(RuntimeError, match="every clip of .*rgb.h5 with frame pairs failed .2 of its 3.*"
                                           "clip0: RuntimeError: CUDA error: an illegal memory access"):
        compute_flow_shard(rgb_shard, out, backend="opencv", workers=workers, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow.csv", "rgb.h5"]  # neither the shard nor a .tmp
    status = pd.read_csv(out.with_suffix(".csv")).set_index("clip_id")
    assert status.status.to_dict() == {"clip0": "failed", "clip1": "failed", "single": "skipped"}
    assert status.loc["clip1", "reason"] == "RuntimeError: CUDA error: an illegal memory access was encountered"


def test_an_rgb_shard_without_clips_gives_an_empty_flow_shard(tmp_path):
    """Not the same as every clip failing here: when every clip of a shard failed to decode, the frames stage
    wrote the shard without clips (their reasons are in its status table), and there is nothing for flow to fail."""
    rgb = tmp_path / "rgb.h5"
    ShardWriter(rgb, "rgb").close()
    summary = compute_flow_shard(rgb, tmp_path / "flow.h5", progress=False)
    assert summary["clips"] == 0 and summary["failed"] == {}
    assert ShardReader(tmp_path / "flow.h5").clips == []


_KILLED_WORKER = """
import os, signal, sys
from i3d.flow import compute_flow_shard
from i3d.flow.opencv_backend import OpenCVTVL1
OpenCVTVL1.compute = lambda self, frames: os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer does
try:
    compute_flow_shard(sys.argv[1], sys.argv[2], backend="opencv", workers=2, progress=False)
except RuntimeError as err:
    print(err)
    sys.exit(3)
"""


def test_a_killed_worker_process_fails_the_job_with_a_message_instead_of_hanging(rgb_shard, tmp_path):
    run = subprocess.run([sys.executable, "-c", _KILLED_WORKER, str(rgb_shard), str(tmp_path / "flow.h5")],
                         capture_output=True, text=True, timeout=120, check=False)  # a hang fails here
    assert run.returncode == 3, run.stderr[-3000:]
    assert "a flow worker process died" in run.stdout
    assert not (tmp_path / "flow.h5").exists()


def test_the_flow_parallelism_is_called_workers_in_the_config_and_the_cli():
    """One name for what it is (CPU: worker processes; GPU: JPEG threads beside the solver), not ``threads``."""
    from i3d.cli import build_parser
    from i3d.config import ConfigError, validate

    datasets = {"ucf101": {"source": "local"}}
    assert validate({"datasets": datasets})["flow"]["workers"] == 1
    assert validate({"datasets": datasets, "flow": {"workers": 4}})["flow"]["workers"] == 4
    with pytest.raises(ConfigError, match="threads"):
        validate({"datasets": datasets, "flow": {"threads": 4}})
    args = build_parser().parse_args(["flow", "--rgb", "r.h5", "--out", "f.h5", "--workers", "3"])
    assert args.workers == 3
