"""How fast the training loader turns shard JPEGs into batches, against raw JPEG decoding measured in the same run.

At the paper's settings by default: RGB frames of short side 256 (from real camera footage: the clips that
``tests/real_clips.sh`` fetches, decoded at 25 fps by the pipeline's own ffmpeg reader; without them a textured
pan, and the output says so), I3D's training sample of 64 consecutive frames, a random 224² crop and a random
horizontal flip, batches of 8 clips, uint8 out (the loader scales to [-1, 1] on the device).

Rows:
  raw decode        ``cv2.imdecode`` of the same frames, one thread: the most one core can do
  items, 1 core     ``ClipDataset`` items in this process, one torch/OpenCV thread: the loader's frames/s per core
  workers=W         a ``training_loader`` with W worker processes (this process only takes the batches):
                    frames/s in all and per worker
  fed step / model-only step   (``--step``) I3D training steps fed by that loader vs the same step on one
                    resident batch; on a GPU the issue asks for >= 90%

    python benchmarks/loader.py                      # this machine's cores, paper settings
    python benchmarks/loader.py --step --device cuda # and the loader-fed training step (the GPU check)
    python benchmarks/loader.py --smoke              # a few seconds: 8 frames of 64² from 80-pixel frames
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from i3d.data.loader import ClipDataset, ClipSample, model_input, training_loader  # noqa: E402
from i3d.data.shards import ShardReader, ShardWriter, encode_jpeg  # noqa: E402
from i3d.models import Sampling, build  # noqa: E402

REAL_CLIPS = ROOT / "resources" / "real_clips"


def real_frames(short_side: int, per_clip: int) -> list[np.ndarray]:
    """Up to ``per_clip`` frames of each real clip, at 25 fps and the given short side (empty without the clips)."""
    from i3d.data.video import decode
    clips = []
    for name in ("vtest.avi", "box.mp4", "cup.mp4", "tree.avi"):
        path = REAL_CLIPS / name
        if path.is_file():
            frames = decode(path, fps=25.0, short_side=short_side)
            if len(frames) >= 2:
                clips.append(frames[:per_clip])
    return clips


def pan_frames(short_side: int, count: int, clips: int) -> list[np.ndarray]:
    """A blurred-noise scene panning 2 px per frame, 4:3 (the fallback without real footage)."""
    rng = np.random.default_rng(1)
    height, width = short_side, short_side * 4 // 3
    out = []
    for _ in range(clips):
        scene = cv2.GaussianBlur(rng.integers(0, 255, (height, width + 2 * count, 3), dtype=np.uint8), (5, 5), 1)
        out.append(np.stack([scene[:, 2 * t:2 * t + width] for t in range(count)]))
    return out


def write_shard(path: Path, clips: list[np.ndarray]) -> None:
    writer = ShardWriter(path, "rgb", {"source": "benchmarks/loader.py"})
    for k, frames in enumerate(clips):
        writer.add_clip(f"clip{k}", k % 2, [encode_jpeg(np.ascontiguousarray(f)) for f in frames], 25.0,
                        frames.shape[1], frames.shape[2])
    writer.close()


def raw_decode_rate(shard: Path, seconds: float) -> float:
    """Frames/s of ``cv2.imdecode`` alone over the shard's frames, in this thread."""
    reader = ShardReader(shard)
    encoded = [e for c in reader.clips for e in reader.encoded(c.clip_id, range(c.num_frames))]
    count, tic = 0, time.perf_counter()
    while time.perf_counter() - tic < seconds:
        for data in encoded:
            cv2.imdecode(data, cv2.IMREAD_COLOR)
        count += len(encoded)
    return count / (time.perf_counter() - tic)


def dataset(shard: Path, frames: int, crop: int, items: int) -> ClipDataset:
    """Training items of ``frames`` consecutive frames: ``items`` keys over the shard's clips (a clip is drawn
    again with another crop, start and flip)."""
    clips = ShardReader(shard).clips
    samples = [ClipSample(clips[k % len(clips)].clip_id, clips[k % len(clips)].label) for k in range(items)]
    return ClipDataset({"rgb": [shard]}, samples, {"rgb": Sampling(frames)}, train=True, crop_size=crop)


def in_process_rate(data: ClipDataset, seconds: float) -> float:
    """Frames/s of items made in this process, one after another."""
    frames, tic, epoch = 0, time.perf_counter(), 0
    while time.perf_counter() - tic < seconds:
        for i in range(len(data)):
            (x,), _ = data[(epoch, i)]
            frames += x.shape[1]
        epoch += 1
    return frames / (time.perf_counter() - tic)


def loader_rate(data: ClipDataset, workers: int, batch: int, seconds: float) -> float:
    """Frames/s of a ``training_loader`` with ``workers`` processes, after its first batch (worker start-up)."""
    loader = training_loader(data, batch_size=batch, workers=workers, seed=0)
    frames, epoch, tic = 0, 0, None
    while tic is None or time.perf_counter() - tic < seconds:
        loader.sampler.set_epoch(epoch)
        for (x,), _ in loader:
            if tic is None:
                tic = time.perf_counter()
                continue
            frames += x.shape[0] * x.shape[2]
            if time.perf_counter() - tic >= seconds:
                break
        epoch += 1
    return frames / (time.perf_counter() - tic)


def step_rates(data: ClipDataset, workers: int, batch: int, steps: int, device: torch.device,
               bf16: bool) -> tuple[float, float]:
    """(loader-fed, model-only) clips/s of I3D training steps as ``i3d train`` takes them (uint8 in, scaled on
    the device, channels_last_3d, SGD); model-only repeats one resident batch."""
    model = build("i3d", num_classes=2, stream="rgb").to(device, memory_format=torch.channels_last_3d).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with autocast:
            loss = F.cross_entropy(model(model_input(x, device)), y.to(device, non_blocking=True))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    loader = training_loader(data, batch_size=batch, workers=workers, seed=0, pin_memory=device.type == "cuda")
    batches = iter(loader)
    (x, ), y = next(batches)
    step(x, y)  # warm-up (cuDNN algorithm choice, worker start-up)
    resident = x.to(device)
    for _ in range(2):
        step(resident, y)
    sync()
    tic = time.perf_counter()
    for _ in range(steps):
        step(resident, y)
    sync()
    model_only = steps * batch / (time.perf_counter() - tic)
    done, epoch, tic = 0, 0, time.perf_counter()
    while done < steps:
        for (x,), y in batches:
            step(x, y)
            done += 1
            if done == steps:
                break
        epoch += 1
        loader.sampler.set_epoch(epoch)
        batches = iter(loader)
    sync()
    return steps * batch / (time.perf_counter() - tic), model_only


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short-side", type=int, default=256)
    p.add_argument("--frames", type=int, default=64, help="frames per training sample (I3D: 64)")
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="*", help="worker counts (default 1, 2, 4, ... up to the cores)")
    p.add_argument("--seconds", type=float, default=4.0, help="each rate is measured for about this long")
    p.add_argument("--step", action="store_true", help="also the loader-fed training step vs model-only")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--step-workers", type=int, help="workers feeding the step (default: cores - 2, at least 1)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--bf16", action="store_true", help="the step under bf16 autocast")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for a check that it runs")
    p.add_argument("--frames-npy", type=Path,
                   help="T x H x W x 3 uint8 video frames to use instead (the GPU check's .gpu/frames_340x256.npy)")
    p.add_argument("--json", type=Path, help="write the rows here too")
    p.add_argument("--summary", type=Path, help="only print the short lines of a --json file, and exit")
    args = p.parse_args(argv)
    if args.summary:
        print_summary(json.loads(args.summary.read_text()))
        return []
    if args.smoke:
        args.short_side, args.frames, args.crop, args.batch, args.seconds, args.steps = 80, 8, 64, 2, 0.5, 2
    cores = len(os.sched_getaffinity(0))
    workers = args.workers or sorted({1 << k for k in range(8) if 1 << k <= cores} | {cores})
    torch.set_num_threads(1)
    cv2.setNumThreads(1)

    rows: list[dict] = []

    def row(what: str, rate: float, per: float | None, unit: str = "frames/s") -> None:
        rows.append(dict(what=what, rate=round(rate, 1), per_core=None if per is None else round(per, 1), unit=unit))
        print(f"{what:<28} {rate:10.1f} {unit}" + ("" if per is None else f"   {per:8.1f} per core"), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        if args.frames_npy:
            video = np.load(args.frames_npy)
            clips = [video[k:k + 4 * args.frames] for k in range(0, len(video), 4 * args.frames)]
            source = str(args.frames_npy)
        else:
            clips = real_frames(args.short_side, per_clip=4 * args.frames) if not args.smoke else []
            source = "real footage (resources/real_clips)" if clips else "a synthetic pan (no real clips here)"
        if not clips:
            clips = pan_frames(args.short_side, 2 * args.frames, clips=3)
        shard = Path(tmp) / "rgb.h5"
        write_shard(shard, clips)
        h, w = clips[0].shape[1:3]
        print(f"{cores} cores; {sum(len(c) for c in clips)} frames of {w}x{h} from {source}; samples of "
              f"{args.frames} frames, {args.crop}² random crop + flip, batch {args.batch}, uint8 out", flush=True)
        raw = raw_decode_rate(shard, args.seconds)
        row("raw decode (cv2, 1 thread)", raw, raw)
        data = dataset(shard, args.frames, args.crop, items=max(4 * args.batch, 2 * len(clips)))
        one = in_process_rate(data, args.seconds)
        row("items, 1 core", one, one)
        for n in workers:
            rate = loader_rate(data, n, args.batch, args.seconds)
            row(f"workers={n}", rate, rate / n)
        if args.step:
            device = torch.device(args.device)
            feeders = args.step_workers or max(1, cores - 2)
            torch.set_num_threads(max(1, cores - feeders) if device.type == "cpu" else 1)
            fed, model_only = step_rates(data, feeders, args.batch, args.steps, device, args.bf16)
            row(f"fed step ({feeders} workers)", fed, None, "clips/s")
            row("model-only step", model_only, None, "clips/s")
            print(f"fed / model-only: {fed / model_only:.2f}", flush=True)
    print(f"items per core / raw decode: {one / raw:.2f}")
    if args.json:
        args.json.write_text(json.dumps(dict(source=source, cores=cores, rows=rows), indent=1))
    return rows


def print_summary(saved: dict) -> None:
    """The GPU check's closing lines: the loader per core against raw decode, and the fed step against model-only."""
    rate = {r["what"].split(" (")[0]: r["rate"] for r in saved["rows"]}
    best = max((r for r in saved["rows"] if r["what"].startswith("workers=")), key=lambda r: r["rate"], default=None)
    print(f"loader ({saved['cores']} cores): {rate.get('items, 1 core', 0):.0f} frames/s per core vs raw decode "
          f"{rate.get('raw decode', 0):.0f}" + (f"; {best['what']}: {best['rate']:.0f} frames/s" if best else ""))
    if "model-only step" in rate:
        fed = next(r for r in saved["rows"] if r["what"].startswith("fed step"))
        print(f"training step fed by the loader: {fed['rate']:.1f} clips/s vs model-only {rate['model-only step']:.1f}"
              f" ({fed['rate'] / rate['model-only step']:.2f}; the issue asks for >= 0.90)")


if __name__ == "__main__":
    main()
