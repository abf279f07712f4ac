"""RGB shard -> flow shard: gray frames, TV-L1 between consecutive frames, bound-20 uint8, one JPEG per pair.

Parallelism (``threads``): one forked worker process per thread, each running single-threaded OpenCV on whole
clips, rather than one process with ``cv2.setNumThreads(threads)``. Measured on the idle 2-core dev machine
(OpenCV 5.0, smooth moving texture), pairs/s serial / 2 processes / 1 process with 2 OpenCV threads:
85×64 6.2 / 11.6 / 9.7, 149×112 3.0 / 5.4 / 5.1; at 340×256 the two are closer (~1.5 vs ~1.3, machine not idle).
Processes share nothing, so they scale with cores at any frame size; OpenCV's parallel loops synchronise many
times per iteration, which costs most on small frames. A shard with a single clip falls back to OpenCV threads.
A GPU is fed from one process, with ``threads`` threads decoding frames and encoding flow beside the solver.
Clips come back in shard order, so the output does not depend on ``threads``.
"""
from __future__ import annotations

import itertools
import multiprocessing as mp
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..data.shards import (
    JPEG_QUALITY,
    ClipRecord,
    ShardReader,
    ShardWriter,
    decode_jpeg,
    encode_jpeg,
    stack_flow_image,
)
from .backends import FlowBackend, get_backend
from .quantize import quantize

_worker: tuple[ShardReader, FlowBackend, float] | None = None


#: Frame pairs handed to a backend at once: bounds the float flow held in memory for long clips (a 10-minute
#: 340×256 clip would be 10 GB of float32 flow) while still filling a GPU batch.
FLOW_WINDOW = 256


def _gray(encoded: np.ndarray) -> np.ndarray:
    """One stored RGB frame -> the gray frame its flow is computed from."""
    return cv2.cvtColor(decode_jpeg(encoded, color=True), cv2.COLOR_RGB2GRAY)


def _flow_jpeg(flow: np.ndarray, bound: float) -> bytes:
    """One float flow field -> its stored form: bound-``bound`` uint8, x and y side by side, JPEG."""
    return encode_jpeg(stack_flow_image(quantize(flow, bound)), JPEG_QUALITY)


def _window_jpegs(reader: ShardReader, backend: FlowBackend, windows: list[tuple[str, range]], bound: float,
                  pool: ThreadPoolExecutor | None) -> Iterator[list[bytes]]:
    """The encoded flow frames of each (clip, frames) window, in order.

    With a thread pool, the next window's frames decode and the previous window's flow encodes while the backend
    computes this one: on a GPU the JPEG work (~2 ms per 340×256 pair on one core, more than the GPU's time per
    pair) would otherwise leave it idle most of the time. At most two windows of float flow are held.
    Without a pool the same steps run one after another."""
    run = pool.map if pool is not None else map
    decoding = run(_gray, reader.encoded(*windows[0])) if windows else None
    encoding = None
    for k in range(len(windows)):
        gray = np.stack(list(decoding))
        if k + 1 < len(windows):
            decoding = run(_gray, reader.encoded(*windows[k + 1]))
        flow = backend.compute(gray)
        if encoding is not None:
            yield list(encoding)
        encoding = run(_flow_jpeg, flow, itertools.repeat(bound))
    if encoding is not None:
        yield list(encoding)


def _clip_jpegs(reader: ShardReader, backend: FlowBackend, clips: list[ClipRecord], bound: float,
                pool: ThreadPoolExecutor | None) -> Iterator[list[bytes]]:
    """Each clip's encoded flow frames, in ``clips`` order, computed ``FLOW_WINDOW`` pairs at a time: only a
    window's frames are decoded at once (a whole 10-minute 340×256 clip would be 3.9 GB of RGB)."""
    starts = [range(0, c.num_frames - 1, FLOW_WINDOW) for c in clips]
    windows = [(c.clip_id, range(s, min(s + FLOW_WINDOW + 1, c.num_frames))) for c, st in zip(clips, starts)
               for s in st]
    produced = _window_jpegs(reader, backend, windows, bound, pool)
    for st in starts:
        yield [jpeg for _ in st for jpeg in next(produced)]


def _init_worker(rgb_shard: Path, backend: str, tvl1: dict | None, bound: float) -> None:
    global _worker
    _worker = (ShardReader(rgb_shard), get_backend(backend, threads=1, tvl1=tvl1, device="cpu"), bound)


def _worker_clip(clip: ClipRecord) -> list[bytes]:
    reader, backend, bound = _worker
    return next(_clip_jpegs(reader, backend, [clip], bound, None))


def compute_flow_shard(rgb_shard: Path, out_path: Path, backend: str = "auto", bound: float = 20.0,
                       threads: int = 1, progress: bool = True, tvl1: dict | None = None,
                       device: str = "auto") -> dict:
    """Write the flow shard of every clip in ``rgb_shard`` (T frames -> T-1 flow frames) and summarise the run.

    Clips with fewer than 2 frames have no flow; they are left out of the flow shard and listed in ``skipped``.
    ``threads`` worker processes share the clips (see the module docstring); where one process does the work
    (on a GPU, or for a single clip), ``threads`` threads decode and encode the JPEGs beside it. The OpenCV
    backend sets ``cv2.setNumThreads`` in the calling process. ``tvl1`` overrides TV-L1 parameters (OpenCV's defaults
    otherwise); the parameters used are recorded in the shard.
    """
    rgb_shard, out_path = Path(rgb_shard), Path(out_path)
    reader = ShardReader(rgb_shard)
    if reader.kind != "rgb":
        raise ValueError(f"{rgb_shard}: expected an rgb shard, got {reader.kind!r}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    clips = [c for c in reader.clips if c.num_frames >= 2]
    skipped = [c.clip_id for c in reader.clips if c.num_frames < 2]
    algo = get_backend(backend, threads=threads, tvl1=tvl1, device=device)  # also resolves "auto" for the params
    on_gpu = getattr(algo, "device", None) is not None and algo.device.type != "cpu"
    workers = 1 if on_gpu else min(threads, max(len(clips), 1))  # one process feeds a GPU (no fork after CUDA)
    if workers > 1:
        algo = get_backend(algo.name, threads=1, tvl1=tvl1, device="cpu")
    params = {"backend": algo.name, **algo.params(), "bound": bound, "jpeg_quality": JPEG_QUALITY,
              "gray": "cv2.COLOR_RGB2GRAY", "source": rgb_shard.name}
    writer = ShardWriter(out_path, "flow", params)
    pairs = sum(c.num_frames - 1 for c in clips)
    start = time.perf_counter()
    # fork, not spawn: spawn re-imports the caller's __main__, which breaks scripts without a __main__ guard.
    # The pool starts before tqdm's monitor thread exists, and each worker builds its own backend.
    processes = None
    if workers > 1:
        processes = mp.get_context("fork").Pool(workers, _init_worker, (rgb_shard, algo.name, tvl1, bound))
    # One process (a GPU, or a single clip): ``threads`` threads decode and encode JPEGs beside the backend.
    jpeg_threads = ThreadPoolExecutor(threads, thread_name_prefix="jpeg") if processes is None else None
    try:
        with tqdm(total=pairs, unit="pair", disable=not progress, desc=out_path.name) as bar:
            if processes is not None:
                encoded = processes.imap(_worker_clip, clips)
            else:
                encoded = _clip_jpegs(reader, algo, clips, bound, jpeg_threads)
            for clip, jpegs in zip(clips, encoded):
                writer.add_clip(clip.clip_id, clip.label, jpegs, clip.fps, clip.height, clip.width)
                bar.update(len(jpegs))
    finally:
        reader.close()
        if processes is not None:
            processes.terminate()
        if jpeg_threads is not None:
            jpeg_threads.shutdown(cancel_futures=True)
    writer.close()
    seconds = time.perf_counter() - start
    return {"clips": len(clips), "pairs": pairs, "skipped": skipped, "seconds": seconds,
            "pairs_per_second": pairs / seconds if seconds > 0 else float("inf")}
