"""TV-L1 speed side by side: OpenCV CPU (1 thread, all cores), our PyTorch path on the CPU, our CUDA path.

Every row is measured in this run on the same frame pairs, with the mean endpoint error to OpenCV's flow (and the
share of pixels within 0.1 px) beside it, so speed never hides a change in the result. Pairs: smooth and
piecewise synthetic flows (validation_pairs) mixed with consecutive frames of a rendered stand-in video and, when
tests/real_clips.sh has fetched them, of real camera footage.

    python benchmarks/flow.py                         # 340x256 and 224x224, CUDA batches 1..256 when present
    python benchmarks/flow.py --sizes 340x256 --batches 1 16 256 --json flow.json
    python benchmarks/flow.py --save-frames frames.npy --sizes 340x256   # keep the video frames for a GPU box
    python benchmarks/flow.py --summary a.json b.json  # the short table of rows saved by earlier runs (--json)

CUDA rows also give the iterations actually run (full-resolution equivalents per pair) and the achieved memory
bandwidth at the design's bytes per pixel-iteration (84 two-kernel, 60 fused; see i3d/flow/tvl1_triton.py).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from i3d.flow import tvl1
from i3d.flow.opencv_backend import create_tvl1
from tests.flow_pairs import real_footage_pairs, standin_video_frames, validation_pairs
from i3d.flow.params import TVL1Params
from i3d.flow.tvl1_triton import ITERATION_BYTES

CUDA_VARIANTS = {
    "two-kernel": {"I3D_TVL1_FUSED_ITERATION": "0", "I3D_TVL1_GRAPHS": "0"},
    "fused": {"I3D_TVL1_FUSED_ITERATION": "1", "I3D_TVL1_GRAPHS": "0"},
    "graphs": {"I3D_TVL1_FUSED_ITERATION": "0", "I3D_TVL1_GRAPHS": "1"},
    "fused+graphs": {"I3D_TVL1_FUSED_ITERATION": "1", "I3D_TVL1_GRAPHS": "1"},
}
"""Environment of each CUDA variant (read by i3d.flow.tvl1_triton.TritonStepper)."""


def _started(_: int) -> None:
    """A task for each pool worker before the clock starts: spawned workers first import torch and OpenCV."""
    time.sleep(0.1)


def _opencv_one(pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    cv2.setNumThreads(1)
    return create_tvl1(TVL1Params()).calc(pair[0], pair[1], None)


def make_pairs(h: int, w: int, count: int, frames: np.ndarray | None,
               real: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``count`` distinct pairs: every third one from the stand-in video frames (if any), the one after it from
    the real footage pairs ``real`` (2×N×H×W, if any; repeated), the rest synthetic."""
    i0, i1, _ = validation_pairs(h, w, count, seed=100)
    size = lambda f: cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
    if frames is not None and len(frames) > 1:
        video = np.stack([size(f) for f in frames])
        for k in range(0, count, 3):
            j = (k // 3) % (len(video) - 1)
            i0[k], i1[k] = video[j], video[j + 1]
    if real is not None:
        for k in range(1, count, 3):
            j = (k // 3) % real.shape[1]
            i0[k], i1[k] = size(real[0, j]), size(real[1, j])
    return i0, i1


def epe_stats(flow: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    e = np.linalg.norm(flow - ref, axis=-1)
    return float(e.mean()), float((e < 0.1).mean())


def timed(fn, min_seconds: float, max_reps: int) -> tuple[float, object]:
    """Median seconds of ``fn()`` over reps (at least one, until ``min_seconds`` or ``max_reps``)."""
    times, out = [], None
    while not times or (sum(times) < min_seconds and len(times) < max_reps):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def time_ours(i0: np.ndarray, i1: np.ndarray, device: str,
              args: argparse.Namespace) -> tuple[float, np.ndarray, dict]:
    """Seconds per call of our tvl1 on these pairs (after a warm-up call on CUDA), the flow, its stats."""
    a, b = torch.from_numpy(i0).to(device), torch.from_numpy(i1).to(device)
    stats: dict = {}

    def once() -> torch.Tensor:
        stats.clear()
        out = tvl1(a, b, stats=stats)
        if device == "cuda":
            torch.cuda.synchronize()
        return out
    if device == "cuda":
        once()  # compile the kernels for this shape
    seconds, out = timed(once, args.min_seconds, args.max_reps)
    return seconds, out.permute(0, 2, 3, 1).cpu().numpy(), dict(stats)


def iteration_design(variant: str) -> str:
    """The iteration kernels a CUDA variant (or row name) runs: "fused" or "two-kernel" (its ITERATION_BYTES)."""
    return "fused" if "fused" in variant else "two-kernel"


def make_row(impl: str, size: str, seconds: float, flow: np.ndarray, stats: dict, ref: np.ndarray) -> dict:
    """One result row: throughput, EPE to OpenCV over the pairs OpenCV computed, and on CUDA the bandwidth."""
    batch, h, w = flow.shape[:3]
    k = min(batch, len(ref))
    mean, within = epe_stats(flow[:k], ref[:k])
    row = {"impl": impl, "size": size, "batch": batch, "pairs_per_s": batch / seconds, "epe_mean": mean,
           "within_0.1": within}
    if impl.startswith("torch cuda"):
        pix = stats.get("pixel_iterations", 0)
        row["iterations_per_pair"] = pix / (batch * h * w)
        row["gbps"] = pix * ITERATION_BYTES[iteration_design(impl)] / seconds / 1e9
    return row


def peak_gbps() -> float | None:
    """The CUDA device's peak memory bandwidth from its properties (double data rate × bus width × memory
    clock), the yardstick for the iteration's achieved GB/s; None where PyTorch does not report them."""
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    bus_bits, clock_khz = getattr(props, "memory_bus_width", 0), getattr(props, "memory_clock_rate", 0)
    return 2 * bus_bits / 8 * clock_khz * 1e3 / 1e9 if bus_bits and clock_khz else None


def of_peak(gbps: float) -> str:
    """`` (N% of the P GB/s peak)`` on a CUDA device that reports its peak, else nothing."""
    peak = peak_gbps()
    return f" ({gbps / peak:.0%} of the {peak:.0f} GB/s peak)" if peak else ""


def kernel_profile(i0: np.ndarray, i1: np.ndarray, device: str, label: str, variant: str = "two-kernel",
                   top: int = 8) -> None:
    """One call of our tvl1 under torch.profiler: print the kernels (CUDA) or ops (CPU) that take its time, and
    the bandwidth the iteration kernels reach on their own, which is what explains the whole call's GB/s."""
    from torch.profiler import ProfilerActivity, profile
    a, b = torch.from_numpy(i0).to(device), torch.from_numpy(i1).to(device)
    tvl1(a, b)  # compile outside the profile
    stats: dict = {}
    cuda = device == "cuda"
    with profile(activities=[ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        tvl1(a, b, stats=stats)
        if cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
    timing = (lambda e: getattr(e, "device_time_total", 0) or getattr(e, "cuda_time_total", 0)) if cuda else \
        (lambda e: e.self_cpu_time_total)
    events = sorted(((e.key, e.count, timing(e)) for e in prof.key_averages() if timing(e) > 0), key=lambda e: -e[2])
    total = sum(us for _, _, us in events)
    print(f"# profile, {label}, batch {len(i0)}: {total / 1e3:.1f} ms of {device} time in {wall * 1e3:.1f} ms "
          "wall (under the profiler; on CUDA the difference is time the GPU waited for the host)", flush=True)
    for name, count, us in events[:top]:
        print(f"#   {us / total:6.1%} {us / 1e3:9.1f} ms {count:7d}x  {name[:80]}")
    iteration_us = sum(us for name, _, us in events if name in ("_primal_kernel", "_dual_kernel", "_iteration_kernel"))
    if iteration_us:
        gbps = stats["pixel_iterations"] * ITERATION_BYTES[variant] / (iteration_us * 1e-6) / 1e9
        print(f"#   iteration kernels: {gbps:.0f} GB/s{of_peak(gbps)} over their {iteration_us / 1e3:.1f} ms "
              f"({iteration_us / total:.0%} of the call)", flush=True)


def run(args: argparse.Namespace) -> list[dict]:
    rows: list[dict] = []
    cores = len(os.sched_getaffinity(0))
    frames = np.load(args.frames) if args.frames else standin_video_frames(256, 340, 17)
    real = None
    if args.real_pairs:
        real = np.load(args.real_pairs)
    elif Path(args.real_clips).is_dir():
        real = np.stack(real_footage_pairs(args.real_clips, 256, 340, per_clip=2))
    cuda = torch.cuda.is_available() and not args.no_cuda
    peak = f" (peak memory bandwidth {peak_gbps():.0f} GB/s)" if cuda and peak_gbps() else ""
    print(f"# {cores} CPU cores; CUDA: {torch.cuda.get_device_name() if cuda else 'none'}{peak}; "
          f"torch {torch.__version__}; OpenCV {cv2.__version__}", flush=True)

    def report(row: dict) -> None:
        rows.append(row)
        if args.json:  # after every row, so that a run cut short by a time limit still leaves its rows
            tmp = Path(args.json + ".tmp")
            tmp.write_text(json.dumps(rows, indent=1))
            tmp.replace(args.json)
        extra = ""
        if "gbps" in row:
            extra = f"  its/pair {row['iterations_per_pair']:.0f}  {row['gbps']:.0f} GB/s"
        print(f"{row['impl']:<16} {row['size']:>8} batch {row['batch']:>5}  {row['pairs_per_s']:9.2f} pairs/s  "
              f"EPE vs OpenCV {row['epe_mean']:.4f} px  within 0.1 px {row['within_0.1']:.3f}{extra}", flush=True)

    for size in args.sizes:
        w, h = map(int, size.split("x"))
        n_pool = max([args.opencv_pairs, *args.cpu_batches, args.profile or 0, *(args.batches if cuda else [])])
        i0, i1 = make_pairs(h, w, n_pool, frames, real)
        n_ref = args.opencv_pairs
        pairs = list(zip(i0[:n_ref], i1[:n_ref]))
        with mp.get_context("spawn").Pool(cores) as pool:  # forking after OpenCV started its threads can hang
            pool.map(_started, range(2 * cores), chunksize=1)
            start = time.perf_counter()
            ref = np.stack(pool.map(_opencv_one, pairs))
            all_cores = time.perf_counter() - start
        report({"impl": f"opencv {cores}proc", "size": size, "batch": 1, "pairs_per_s": n_ref / all_cores,
                "epe_mean": 0.0, "within_0.1": 1.0})
        single = min(n_ref, args.opencv_single)
        cv2.setNumThreads(1)
        start = time.perf_counter()
        for a, b in pairs[:single]:
            create_tvl1(TVL1Params()).calc(a, b, None)
        report({"impl": "opencv 1thread", "size": size, "batch": 1,
                "pairs_per_s": single / (time.perf_counter() - start), "epe_mean": 0.0, "within_0.1": 1.0})

        for compiled in ("0", "1") if args.cpu_compile else ("0",):
            os.environ["I3D_TVL1_COMPILE"] = compiled
            for threads in sorted({1, cores}):
                torch.set_num_threads(threads)
                for batch in args.cpu_batches:
                    if compiled == "1":
                        time_ours(i0[:batch], i1[:batch], "cpu", args)  # compile for these shapes first
                    seconds, flow, stats = time_ours(i0[:batch], i1[:batch], "cpu", args)
                    name = f"torch cpu{' compiled' if compiled == '1' else ''} {threads}thr"
                    report(make_row(name, size, seconds, flow, stats, ref))
        os.environ["I3D_TVL1_COMPILE"] = "0"
        torch.set_num_threads(cores)
        if args.profile and not cuda and size == args.sizes[0]:
            n = min(args.profile, max(args.cpu_batches))
            kernel_profile(i0[:n], i1[:n], "cpu", f"torch cpu {cores}thr {size}")
        if cuda:
            for variant in args.cuda_variants:
                os.environ.update(CUDA_VARIANTS[variant])
                for batch in args.batches:
                    seconds, flow, stats = time_ours(i0[:batch], i1[:batch], "cuda", args)
                    name = "torch cuda" + ("" if variant == "two-kernel" else f" {variant}")
                    report(make_row(name, size, seconds, flow, stats, ref))
                if args.profile and size == args.sizes[0]:
                    kernel_profile(i0[:args.profile], i1[:args.profile], "cuda", f"torch cuda {variant} {size}",
                                   iteration_design(variant))
                os.environ.update(CUDA_VARIANTS["two-kernel"])
    return rows


def summary(rows: list[dict]) -> str:
    """The short table printed last: best pairs/s per implementation and size, and ratios to OpenCV 1 thread."""
    lines = ["| implementation | size | best batch | pairs/s | × OpenCV 1 thread | EPE vs OpenCV (px) |",
             "|---|---|---|---|---|---|"]
    for size in dict.fromkeys(r["size"] for r in rows):
        base = next((r["pairs_per_s"] for r in rows if r["size"] == size and r["impl"] == "opencv 1thread"), None)
        for impl in dict.fromkeys(r["impl"] for r in rows if r["size"] == size):
            best = max((r for r in rows if r["size"] == size and r["impl"] == impl), key=lambda r: r["pairs_per_s"])
            ratio = f"{best['pairs_per_s'] / base:.2f}" if base else "–"
            lines.append(f"| {impl} | {size} | {best['batch']} | {best['pairs_per_s']:.1f} | {ratio} | "
                         f"{best['epe_mean']:.4f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["340x256", "224x224"], help="WxH frame sizes")
    p.add_argument("--batches", nargs="+", type=int, default=[1, 4, 16, 64, 256], help="CUDA batch sizes")
    p.add_argument("--cpu-batches", nargs="+", type=int, default=[1, 4], help="batch sizes of our CPU path")
    p.add_argument("--opencv-pairs", type=int, default=8, help="pairs OpenCV computes (the EPE reference)")
    p.add_argument("--opencv-single", type=int, default=4, help="of those, pairs timed on one thread")
    p.add_argument("--min-seconds", type=float, default=1.0, help="repeat a measurement until this long")
    p.add_argument("--max-reps", type=int, default=5)
    p.add_argument("--frames", help=".npy of gray video frames (default: render a stand-in video, needs ffmpeg)")
    p.add_argument("--save-frames", help="render the stand-in frames to this .npy and exit")
    p.add_argument("--real-clips", default=str(Path(__file__).resolve().parents[1] / "resources" / "real_clips"),
                   help="folder of real videos (tests/real_clips.sh fetches four) whose frame pairs join the pool "
                        "when it exists (default: %(default)s)")
    p.add_argument("--real-pairs", help=".npy of real frame pairs (2×N×H×W) to use instead of --real-clips "
                                        "(benchmarks/gpu_files.sh saves them for a machine without ffmpeg)")
    p.add_argument("--no-cuda", action="store_true", help="skip the CUDA rows")
    p.add_argument("--cuda-variants", nargs="+", choices=list(CUDA_VARIANTS), default=["two-kernel"],
                   help="CUDA iteration variants to time: two kernels per iteration (the default), one fused "
                        "kernel (I3D_TVL1_FUSED_ITERATION=1), either with CUDA graphs (I3D_TVL1_GRAPHS=1)")
    p.add_argument("--cpu-compile", action="store_true", help="also time the CPU path through torch.compile")
    p.add_argument("--profile", type=int, metavar="BATCH",
                   help="also profile one call of this batch at the first size: each CUDA variant, or without CUDA "
                        "the CPU path (at most the largest --cpu-batches)")
    p.add_argument("--json", help="also write the rows here (rewritten after each row)")
    p.add_argument("--summary", nargs="+", metavar="JSON", help="only print the short table of these saved rows")
    args = p.parse_args()
    if args.summary:
        print(summary([row for path in args.summary for row in json.loads(Path(path).read_text())]))
        return
    if args.save_frames:
        w, h = map(int, args.sizes[0].split("x"))
        np.save(args.save_frames, standin_video_frames(h, w, 17))
        return
    rows = run(args)
    print()
    print(summary(rows))


if __name__ == "__main__":
    main()
