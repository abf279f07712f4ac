"""The PyTorch TV-L1 against OpenCV-contrib's CPU DualTVL1OpticalFlow (the pinned 5.0) and against ground truth.

CPU tests run by default; the same checks on CUDA are marked ``gpu`` (benchmarks/gpu_check.sh runs them).
Tolerances are the issue's: mean endpoint error to OpenCV <= 0.02 px, >= 95% of pixels within 0.1 px (OpenCV's
own regression criterion), and an error to the true flow no worse than OpenCV's + 0.01 px.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from i3d.flow import get_backend, tvl1
from i3d.flow.opencv_backend import create_tvl1
from flow_pairs import (
    real_footage_pairs,
    rectangle_pair,
    smooth_pair,
    standin_video_frames,
    validation_pairs,
)
from i3d.flow.params import TVL1Params
from i3d.flow.solver import max_pairs_per_chunk

needs_opencv = pytest.mark.skipif(not hasattr(cv2, "optflow"), reason="needs opencv-contrib (cv2.optflow)")


def _on_cuda(name: str):
    """A ``device`` parameter that needs CUDA (marked ``gpu``: benchmarks/gpu_check.sh runs them)."""
    return pytest.param(name, marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                                           reason="needs CUDA")])


@pytest.fixture(params=["cpu", _on_cuda("cuda"), _on_cuda("cuda-fused")])
def device(request, monkeypatch) -> str:
    """Where our flow runs: the CPU, CUDA with the default two-kernel iteration, or CUDA with the one-kernel
    iteration (``cuda-fused``: I3D_TVL1_FUSED_ITERATION=1), so one ``pytest -m gpu`` checks both designs."""
    if request.param == "cuda-fused":
        monkeypatch.setenv("I3D_TVL1_FUSED_ITERATION", "1")
        return "cuda"
    return request.param


def opencv_flow(i0: np.ndarray, i1: np.ndarray, **params) -> np.ndarray:
    """OpenCV's flow, with a fresh object per call (calc() shrinks nscales for small images and keeps it)."""
    return create_tvl1(TVL1Params(**params)).calc(i0, i1, None)


def ours(i0: np.ndarray, i1: np.ndarray, device: str = "cpu", **params) -> np.ndarray:
    """Our flow of one pair or a batch (N×H×W) as H×W×2 (N×H×W×2)."""
    batch = i0.ndim == 3
    a = torch.from_numpy(i0 if batch else i0[None]).to(device)
    b = torch.from_numpy(i1 if batch else i1[None]).to(device)
    flow = tvl1(a, b, **params).permute(0, 2, 3, 1).cpu().numpy()
    return flow if batch else flow[0]


def epe(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1)


def assert_matches_opencv(got: np.ndarray, ref: np.ndarray) -> None:
    e = epe(got, ref)
    assert e.mean() <= 0.02, f"mean EPE to OpenCV {e.mean():.4f} px"
    assert (e < 0.1).mean() >= 0.95, f"only {(e < 0.1).mean():.3f} of pixels within 0.1 px"


@pytest.fixture(scope="module")
def video_frames() -> np.ndarray:
    """Gray 128×96 frames of a rendered stand-in video (MPEG-4 through ffmpeg). Where ffmpeg is missing (the GPU
    check's machine), ``I3D_TEST_VIDEO_FRAMES`` names an .npy of the same frames saved by benchmarks/flow.py."""
    saved = os.environ.get("I3D_TEST_VIDEO_FRAMES")
    return np.load(saved)[:6] if saved else standin_video_frames(96, 128, 6)


def real_pairs() -> tuple[np.ndarray, np.ndarray]:
    """One 340×256 pair from each real clip that tests/real_clips.sh fetches (people walking, a tree in the wind,
    objects moved by hand): ``(I0s, I1s)``. ``I3D_TEST_REAL_PAIRS`` names an .npy of the pairs (2×N×H×W, saved by
    benchmarks/gpu_files.sh) for a machine without ffmpeg or the clips. Without either the test skips, except in
    CI (``CI=true``), which fetches the clips: there their absence fails it rather than pass as a skip."""
    saved = os.environ.get("I3D_TEST_REAL_PAIRS")
    folder = Path(os.environ.get("I3D_REAL_CLIPS", Path(__file__).parents[1] / "resources" / "real_clips"))
    if saved:
        return tuple(np.load(saved))
    if folder.is_dir() and any(folder.iterdir()):
        return real_footage_pairs(folder, 256, 340)
    reason = f"no real clips in {folder}: tests/real_clips.sh fetches them"
    if os.environ.get("CI", "").lower() in ("1", "true"):
        pytest.fail(f"{reason}; .ci/run does, so in CI this is an error")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def real_footage() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`real_pairs` with OpenCV's flow: ``(I0s, I1s, flows)``."""
    i0, i1 = real_pairs()
    return i0, i1, np.stack([opencv_flow(a, b) for a, b in zip(i0, i1)])


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_real_clips_fail_in_ci_and_skip_elsewhere(monkeypatch, tmp_path, ci, outcome):
    monkeypatch.delenv("I3D_TEST_REAL_PAIRS", raising=False)
    monkeypatch.setenv("I3D_REAL_CLIPS", str(tmp_path / "absent"))
    monkeypatch.setenv("CI", ci)
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception)) as raised:
        real_pairs()
    assert raised.type is outcome


def test_real_footage_pairs_skip_the_frames_that_25_fps_repeats(tmp_path):
    """A 5 fps source decoded at 25 fps repeats each frame five times; a pair of repeats has no flow to compare."""
    from i3d.data.video import encode
    i0, _, _ = smooth_pair(64, 96, seed=2)
    frames = np.stack([np.roll(i0, 3 * k, axis=1) for k in range(6)])
    encode(tmp_path / "clips" / "slow.mp4", np.repeat(frames[..., None], 3, axis=-1), fps=5.0)
    first, second = real_footage_pairs(tmp_path / "clips", 64, 96, per_clip=3)
    assert first.shape == second.shape == (3, 64, 96)
    assert (np.abs(first.astype(int) - second).mean(axis=(1, 2)) > 5).all()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no videos"):
        real_footage_pairs(tmp_path / "empty", 64, 96)


@needs_opencv
def test_defaults_match_opencv_on_real_footage(device, real_footage):
    i0, i1, ref = real_footage
    got = ours(i0, i1, device)
    for k in range(len(got)):
        assert_matches_opencv(got[k], ref[k])


# --- exactness at a fixed iteration count ------------------------------------------------------------------

@needs_opencv
def test_fixed_iterations_match_opencv_to_1e4(device):
    i0, i1, _ = smooth_pair(40, 52, seed=1)
    params = {"nscales": 1, "warps": 2, "epsilon": 0.0, "median_filtering": 1, "inner_iterations": 15,
              "outer_iterations": 2}
    e = epe(ours(i0, i1, device, **params), opencv_flow(i0, i1, **params))
    assert e.max() < 1e-3 and e.mean() < 1e-4


@needs_opencv
def test_median_schedule_and_pyramid_match_opencv_at_fixed_iterations(device):
    i0, i1, _ = rectangle_pair(48, 64, seed=2)
    params = {"nscales": 3, "warps": 2, "epsilon": 0.0, "inner_iterations": 7, "outer_iterations": 3}
    e = epe(ours(i0, i1, device, **params), opencv_flow(i0, i1, **params))
    assert e.mean() < 1e-3, e.mean()


# --- default parameters ----------------------------------------------------------------------------------------

@needs_opencv
@pytest.mark.parametrize("make", [smooth_pair, rectangle_pair])
def test_defaults_match_opencv_and_ground_truth(device, make):
    i0, i1, gt = make(96, 128, seed=5)
    got, ref = ours(i0, i1, device), opencv_flow(i0, i1)
    assert_matches_opencv(got, ref)
    assert epe(got, gt).mean() <= epe(ref, gt).mean() + 0.01


@needs_opencv
def test_defaults_match_opencv_on_video_frames(device, video_frames):
    got = ours(video_frames[:-1], video_frames[1:], device)
    for i in range(len(got)):
        assert_matches_opencv(got[i], opencv_flow(video_frames[i], video_frames[i + 1]))


@needs_opencv
def test_illumination_term_matches_opencv():
    i0, i1, _ = smooth_pair(48, 64, seed=7)
    i0 = np.clip(i0.astype(np.int16) + 12, 0, 255).astype(np.uint8)  # a brightness change for u3 to absorb
    assert_matches_opencv(ours(i0, i1, gamma=0.5), opencv_flow(i0, i1, gamma=0.5))


# --- batching, API, memory -------------------------------------------------------------------------------------

def test_a_batched_pair_equals_the_pair_computed_alone(device):
    i0, i1, _ = validation_pairs(40, 56, 3, seed=11)
    batched = ours(i0, i1, device)
    for k in range(3):
        np.testing.assert_allclose(batched[k], ours(i0[k], i1[k], device), atol=1e-5)


def test_uint8_and_float_inputs_agree_and_shapes_follow_the_api():
    i0, i1, _ = smooth_pair(24, 32, seed=0)
    a, b = torch.from_numpy(i0)[None], torch.from_numpy(i1)[None]
    out = tvl1(a, b, warps=2)
    assert out.shape == (1, 2, 24, 32) and out.dtype == torch.float32 and out.device == a.device
    torch.testing.assert_close(out, tvl1(a.float(), b.float(), warps=2))


def test_bad_input_is_refused_with_a_reason():
    x = torch.zeros(2, 16, 16, dtype=torch.uint8)
    with pytest.raises(ValueError, match="N×H×W"):
        tvl1(x, x[:1])
    with pytest.raises(TypeError):
        tvl1(x, x, lambda_value=0.1)
    with pytest.raises(ValueError, match="median_filtering"):
        tvl1(x, x, median_filtering=4)
    with pytest.raises(ValueError, match="use_initial_flow"):
        tvl1(x, x, use_initial_flow=True)


def test_batches_are_cut_into_chunks_that_fit_memory(monkeypatch):
    import i3d.flow.solver as impl
    per_pair = impl.PLANES_PER_PAIR * 4 * 256 * 340
    assert max_pairs_per_chunk(256, 340, torch.device("cpu")) * per_pair <= impl.CPU_CHUNK_BYTES
    sizes = []
    real = impl._solve
    monkeypatch.setattr(impl, "max_pairs_per_chunk", lambda h, w, device: 2)
    monkeypatch.setattr(impl, "_solve", lambda i0, *rest: sizes.append(len(i0)) or real(i0, *rest))
    i0, i1, _ = validation_pairs(20, 24, 5)
    whole = tvl1(torch.from_numpy(i0), torch.from_numpy(i1), warps=1)
    assert sizes == [2, 2, 1]
    assert whole.shape == (5, 2, 20, 24)


@needs_opencv
def test_torch_backend_in_the_flow_stage_matches_opencv_backend(video_frames):
    flow_t = get_backend("torch", device="cpu").compute(video_frames[:3])
    flow_o = get_backend("opencv").compute(video_frames[:3])
    assert flow_t.shape == flow_o.shape == (2, 96, 128, 2)
    assert_matches_opencv(flow_t, flow_o)


def test_every_module_of_the_flow_package_is_code_the_flow_stage_runs():
    """Test fixtures inside i3d/flow would ship with the package and sit in the flow stage's code fingerprint,
    rerunning the stage when only a fixture changed; they live in tests/flow_pairs.py."""
    from i3d.fingerprint import PACKAGE_DIR, import_closure
    modules = {f"i3d.flow.{path.stem}" for path in (PACKAGE_DIR / "flow").glob("*.py") if path.stem != "__init__"}
    assert modules - set(import_closure(["i3d.flow.shard"])) == set()


def test_auto_backend_prefers_cuda_torch_and_otherwise_the_faster_cpu_path():
    from i3d.flow.backends import auto_backend
    assert auto_backend("cuda") == "torch"
    assert auto_backend("cpu") == ("opencv" if hasattr(cv2, "optflow") else "torch")


# --- the Triton kernels, on the CPU through Triton's interpreter -----------------------------------------------

@pytest.mark.parametrize("ksize", [3, 5])
def test_median_network_gives_the_median_of_every_0_1_input(ksize):
    """By the 0-1 principle a comparator network selects the median of every input if it does so for every input
    of zeros and ones: all 2^taps of them are run at once, one bit each (min = AND, max = OR)."""
    from i3d.flow.tvl1_triton import median_network
    taps = ksize * ksize
    inputs = np.arange(1 << taps, dtype=np.uint32)
    lanes = [np.packbits((inputs >> k & 1).astype(np.uint8), bitorder="little") for k in range(taps)]
    for lo, hi in median_network(taps):
        lanes[lo], lanes[hi] = lanes[lo] & lanes[hi], lanes[lo] | lanes[hi]
    ones = np.zeros(len(inputs), dtype=np.uint8)
    for k in range(taps):
        ones += (inputs >> k & 1).astype(np.uint8)
    expected = np.packbits((ones > taps // 2).astype(np.uint8), bitorder="little")
    assert np.array_equal(lanes[taps // 2], expected)


_INTERPRETED = """
import numpy as np, torch, cv2
from i3d.flow import solver as T
from i3d.flow.tvl1_triton import MEDIAN_BLOCK, TritonStepper, _median_kernel, median_network
from tests.flow_pairs import validation_pairs
from i3d.flow.params import TVL1Params
i0, i1, _ = validation_pairs(24, 30, 2, seed=4)
a, b = torch.from_numpy(i0).float(), torch.from_numpy(i1).float()
p = TVL1Params(nscales=2, warps=2, median_filtering=1, inner_iterations=10, outer_iterations=2)
ref = T._solve(a, b, p, T.TorchStepper(p))
got = T._solve(a, b, p, TritonStepper(p, a.device))
assert (got - ref).norm(dim=1).max() < 1e-3, (got - ref).abs().max()
# both iteration kernels, with the median, an odd block of iterations (5) and pairs that stop at different times
q = TVL1Params(nscales=2, warps=2, median_filtering=5, inner_iterations=5, outer_iterations=3, epsilon=0.2)
alone = [T.TorchStepper(q, count=True) for _ in range(2)]
for k in range(2):
    T._solve(a[k:k + 1], b[k:k + 1], q, alone[k])
assert alone[0].pixel_iterations != alone[1].pixel_iterations  # the pairs do stop at different iterations
ref = T._solve(a, b, q, T.TorchStepper(q))
for fused in (False, True):
    stepper = TritonStepper(q, a.device, count=True, fused_iteration=fused)
    got = T._solve(a, b, q, stepper)
    assert (got - ref).norm(dim=1).max() < 1e-3, (fused, (got - ref).abs().max())
    assert stepper.pixel_iterations == sum(s.pixel_iterations for s in alone), fused
u = torch.randn(2, 2, 19, 23)
u[0, 0, 3:6, 4:9] = 0.5  # ties
dst = torch.empty_like(u)
for k in (3, 5):  # the first pair filtered, the second (stopped) copied
    _median_kernel[(-(-19 * 23 // MEDIAN_BLOCK), 4)](u, dst, torch.tensor([1, 0], dtype=torch.uint8), 19, 23,
                                                    KSIZE=k, NETWORK=median_network(k * k), BLOCK=MEDIAN_BLOCK)
    for c in range(2):
        assert np.array_equal(dst[0, c].numpy(), cv2.medianBlur(u[0, c].numpy(), k)), (k, c)
        assert torch.equal(dst[1, c], u[1, c])
from i3d.flow import tvl1_ops as ops
n, h, w = 2, 13, 17
img, i0 = torch.rand(n, h, w) * 255, torch.rand(n, h, w) * 255
images = torch.stack((img, *ops.centered_gradient(img)), 1).contiguous()
u = (torch.rand(n, 2, h, w) - 0.5) * 8
u[0, 0, 0, 0], u[1, 1, 3, 3] = 1e6, -1e7  # coordinates far outside the image
levels = [T._Level(*torch.empty(4, n, h, w).unbind(0), u=u.clone(), p=torch.zeros(n, 2, 2, h, w)) for _ in "ab"]
ops.linearise_torch(levels[0], images, i0)
TritonStepper(p, img.device).linearise(levels[1], images, i0)
for name in ("ix", "iy", "rho_c"):
    torch.testing.assert_close(getattr(levels[1], name), getattr(levels[0], name), rtol=1e-5, atol=1e-3)
print("ok")
"""


def _in_the_interpreter(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python with Triton's interpreter on (it must be set before Triton is imported)."""
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1800,
                          check=False)


@pytest.mark.long
def test_triton_kernels_equal_the_pytorch_iteration_in_the_interpreter():
    """Every kernel of the CUDA path, run on the CPU by Triton's interpreter (~30 s), against the PyTorch path
    and OpenCV."""
    run = _in_the_interpreter(_INTERPRETED)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-3000:]


def test_a_triton_warp_kernel_that_fails_stops_the_run(monkeypatch):
    """No fallback to PyTorch ops: a broken kernel would pass every parity test and show only as a slow GPU."""
    pytest.importorskip("triton")
    from i3d.flow import solver, tvl1_triton

    class BrokenKernel:
        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                raise RuntimeError("the warp kernel does not compile here")
            return launch

    monkeypatch.setattr(tvl1_triton, "_linearise_kernel", BrokenKernel())
    n, h, w = 1, 8, 9
    level = solver._Level(*torch.zeros(4, n, h, w).unbind(0), u=torch.zeros(n, 2, h, w), p=torch.zeros(n, 2, 2, h, w))
    stepper = tvl1_triton.TritonStepper(TVL1Params(), torch.device("cpu"))
    with pytest.raises(RuntimeError, match="does not compile"):
        stepper.linearise(level, torch.zeros(n, 3, h, w), torch.zeros(n, h, w))


_MEASURED = """
from benchmarks import kernels
kernels.SWEEP = {"_median_kernel": [(128, 4)], "default": [(256, 4), (512, 8)]}
kernels.print_measured(kernels.measure(n=2, h=13, w=17, reps=1, device="cpu"))
"""


def test_the_kernel_timing_launches_every_kernel_in_the_interpreter():
    """benchmarks/kernels.py --measure only runs on a GPU, where a launcher out of step with a kernel's arguments
    would cost device time: the interpreter launches each kernel the same way (~10 s)."""
    run = _in_the_interpreter(_MEASURED)
    assert run.returncode == 0, run.stderr[-3000:]
    from benchmarks.kernels import BYTES_PER_PIXEL
    rows = [line.split("|")[1:-1] for line in run.stdout.splitlines() if line.startswith("| _")]
    assert len(rows) == 2 * (len(BYTES_PER_PIXEL) - 1) + 1, run.stdout  # the sweep above, one row per launch
    assert {r[0].strip() for r in rows if float(r[5]) > 0} == set(BYTES_PER_PIXEL), run.stdout


def test_triton_kernels_compile_for_the_h100_without_spilling_registers():
    """The interpreter checks what the kernels compute, not that they compile for a GPU or how: a kernel that
    spills to local memory (the fused ones did at 4 warps) multiplies its memory traffic."""
    pytest.importorskip("triton.backends.nvidia")
    from benchmarks.kernels import compile_sm90, resources
    from i3d.flow.tvl1_triton import NUM_WARPS
    for name in NUM_WARPS:
        res = resources(compile_sm90(name))
        assert res["STACK"] == 0 and res["LOCAL"] == 0, (name, res)
        assert res["REG"] <= 128, (name, res)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_ten_minute_clip_runs_within_the_gpu_memory(video_frames):
    """15,000 pairs of 340×256 (10 min at 25 fps) in one call: chunked to the free memory, never out of memory."""
    frames = torch.from_numpy(np.stack([cv2.resize(f, (340, 256)) for f in video_frames])).cuda()
    clip = frames[torch.arange(15_001, device="cuda") % len(frames)]
    torch.cuda.reset_peak_memory_stats()
    flow = tvl1(clip[:-1], clip[1:])
    assert flow.shape == (15_000, 2, 256, 340) and bool(torch.isfinite(flow).all())
    _, total = torch.cuda.mem_get_info()
    assert torch.cuda.max_memory_allocated() < 0.9 * total


@pytest.mark.slow
def test_compiled_cpu_iteration_equals_the_eager_one(monkeypatch):
    monkeypatch.setenv("I3D_TVL1_COMPILE", "1")
    i0, i1, _ = validation_pairs(32, 40, 2, seed=8)
    compiled = ours(i0, i1, warps=2)
    monkeypatch.setenv("I3D_TVL1_COMPILE", "0")
    np.testing.assert_allclose(compiled, ours(i0, i1, warps=2), atol=2e-3)
