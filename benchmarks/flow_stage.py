"""The flow stage's own throughput around a fast backend: does the JPEG work keep up with a GPU?

A GPU computes a 340×256 pair in about a millisecond, and decoding its frame and encoding its flow take about two
on one core. This runs ``compute_flow_shard`` on a shard of rendered 340×256 clips and prints the stage's pairs/s
for each ``--workers`` beside two baselines measured in the same run: the backend's own rate (on a GPU at the batch
the stage packs, up to ``GPU_PACK_PAIRS`` pairs of several clips per call), and the serial
estimate (the JPEG work per pair, timed here, plus the backend's time per pair), which is what the stage managed
before its JPEG threads.

Without a GPU the backend is a stand-in that takes ``1/--rate`` seconds per pair (it sleeps, which releases the
GIL as waiting for CUDA does) and returns a fixed, realistic flow field; on a GPU machine ``--backend torch`` times
the real one.

    python benchmarks/flow_stage.py --rate 1000 --workers 1 2
    python benchmarks/flow_stage.py --backend torch --workers 1 4 8     # on a GPU machine
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import types
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from i3d.data.shards import ShardReader, ShardWriter, encode_jpeg
from i3d.flow import shard
from tests.flow_pairs import smooth_pair


class StandInBackend:
    """A backend at a fixed rate: sleeps ``1/rate`` s per pair and returns copies of one smooth flow field."""

    name = "stand-in"
    device = types.SimpleNamespace(type="cuda")  # the flow stage feeds it from one process, as it feeds a GPU

    def __init__(self, rate: float, height: int, width: int) -> None:
        self.rate = rate
        _, _, flow = smooth_pair(height, width, seed=0)
        self.field = (flow * 3 + np.random.default_rng(0).normal(0, 0.2, flow.shape)).astype(np.float32)

    def params(self) -> dict:
        return {"rate": self.rate}

    def compute(self, frames: np.ndarray) -> np.ndarray:
        time.sleep((len(frames) - 1) / self.rate)
        return np.repeat(self.field[None], len(frames) - 1, axis=0)


def make_shard(path: Path, clips: int, frames: int, height: int, width: int) -> None:
    """``clips`` clips of a textured scene panning 2 px per frame, as JPEG frames in an RGB shard."""
    rng = np.random.default_rng(1)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (height, width + 2 * frames, 3), dtype=np.uint8), (5, 5), 1)
    writer = ShardWriter(path, "rgb", {"source": "benchmarks/flow_stage.py"})
    for c in range(clips):
        jpegs = [encode_jpeg(np.ascontiguousarray(scene[:, 2 * t:2 * t + width])) for t in range(frames)]
        writer.add_clip(f"clip{c}", c, jpegs, 25.0, height, width)
    writer.close()


def jpeg_seconds_per_pair(rgb: Path, field: np.ndarray, bound: float = 20.0, pairs: int = 200) -> float:
    """The stage's JPEG work for one pair on one thread: decode a frame to gray, encode a flow field."""
    reader = ShardReader(rgb)
    clip = reader.clips[0]
    encoded = reader.encoded(clip.clip_id, range(min(pairs, clip.num_frames)))
    start = time.perf_counter()
    for data in encoded:
        shard._gray(data)
        shard._flow_jpeg(field, bound)
    return (time.perf_counter() - start) / len(encoded)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="stand-in", choices=["stand-in", "torch"])
    p.add_argument("--rate", type=float, default=1000.0, help="the stand-in backend's pairs/s")
    p.add_argument("--workers", nargs="+", type=int, default=[1, 2], help="the stage's --workers to time")
    p.add_argument("--clips", type=int, default=8, help="clips in the shard (on a GPU the stage packs the pairs of "
                   "several into one solver call, up to i3d.flow.shard.GPU_PACK_PAIRS)")
    p.add_argument("--frames", type=int, default=251, help="frames per clip (a 10 s Kinetics clip: 251)")
    p.add_argument("--size", default="340x256", help="WxH")
    args = p.parse_args()
    if args.backend == "torch" and not torch.cuda.is_available():
        print("--backend torch: no CUDA device here (the stand-in backend measures the stage without one)")
        return
    width, height = map(int, args.size.split("x"))
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        rgb = Path(tmp) / "rgb.h5"
        make_shard(rgb, args.clips, args.frames, height, width)
        stand_in = StandInBackend(args.rate, height, width)
        jpeg = jpeg_seconds_per_pair(rgb, stand_in.field)
        if args.backend == "stand-in":
            shard.get_backend = lambda *_, **__: stand_in
            backend_rate = args.rate
        else:  # the real backend's rate alone, at the batch the stage packs (clip0's pairs, repeated)
            from i3d.flow.backends import get_backend
            real = get_backend("torch")
            gray = np.stack([shard._gray(b) for b in ShardReader(rgb).encoded("clip0", range(args.frames))])
            index = np.arange(min(shard.pack_pairs(real), args.clips * (args.frames - 1))) % (args.frames - 1)
            real.compute_pairs(gray[index], gray[index + 1])  # compile the kernels
            start = time.perf_counter()
            real.compute_pairs(gray[index], gray[index + 1])
            backend_rate = len(index) / (time.perf_counter() - start)
        serial = 1 / (jpeg + 1 / backend_rate)
        print(f"# {args.clips} clips × {args.frames - 1} pairs of {args.size}; backend {args.backend} "
              f"{backend_rate:.0f} pairs/s alone (at the stage's batch); JPEG work {jpeg * 1e3:.2f} ms per pair on one thread; "
              f"serial estimate {serial:.0f} pairs/s")
        print("| --workers | stage pairs/s | × backend alone | × serial estimate |")
        print("|---|---|---|---|")
        for workers in args.workers:
            out = Path(tmp) / f"flow{workers}.h5"
            summary = shard.compute_flow_shard(rgb, out, backend=args.backend, workers=workers, progress=False)
            rate = summary["pairs_per_second"]
            print(f"| {workers} | {rate:.0f} | {rate / backend_rate:.2f} | {rate / serial:.2f} |", flush=True)
            out.unlink()


if __name__ == "__main__":
    main()
