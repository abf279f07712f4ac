"""RGB shard -> flow shard: gray frames, TV-L1 between consecutive frames, bound-20 uint8, one JPEG per pair.

Parallelism (``workers``): on the CPU, that many forked worker processes, each running single-threaded OpenCV
on whole clips, rather than one process with ``cv2.setNumThreads(workers)``. Measured on the idle 2-core dev machine
(OpenCV 5.0, smooth moving texture), pairs/s serial / 2 processes / 1 process with 2 OpenCV threads:
85×64 6.2 / 11.6 / 9.7, 149×112 3.0 / 5.4 / 5.1; at 340×256 the two are closer (~1.5 vs ~1.3, machine not idle).
Processes share nothing, so they scale with cores at any frame size; OpenCV's parallel loops synchronise many
times per iteration, which costs most on small frames. A shard with a single clip falls back to OpenCV threads.
A GPU is fed from one process, with ``workers`` threads decoding frames and encoding flow beside the solver, and
the windows of short clips of one frame shape share its batch (up to ``GPU_PACK_PAIRS`` pairs per call,
:func:`pack_pairs`; clips of other shapes, as Kinetics' and HMDB's aspect ratios give, go to packs of their own).
Clips come back in shard order, so the output does not depend on ``workers``.

One bad clip never fails the shard: a clip whose flow cannot be computed (a corrupt JPEG frame, an error in the
backend) is left out, and its reason goes to the status table ``<flow shard>.csv`` written beside the shard
(the frames stage's columns: clip_id, label (its index), status ok/skipped/failed, reason, num_frames) and to
the summary. But a shard whose every clip with frame pairs failed fails the job (the fault is the job's, e.g. a
broken GPU context, and an empty shard would surface only at training), its status table written, no shard. A
worker process that dies (e.g. killed by the out-of-memory killer) fails the job with a message saying so,
instead of leaving it waiting forever for the dead worker's clip.
"""
from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

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
from ..data.status import failure_reason, write_status
from .backends import FlowBackend, get_backend
from .quantize import quantize

log = logging.getLogger(__name__)
_worker: tuple[ShardReader, FlowBackend, float] | None = None
T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class ClipFailure:
    """Why a clip's flow could not be computed; it stands in for the clip's flow frames, so the clip is skipped
    and the shard goes on (picklable: worker processes return it)."""

    reason: str


def _then(value: T | ClipFailure, step: Callable[[T], U]) -> U | ClipFailure:
    """``step(value)``, or the failure: a failed window's later steps are skipped, and a step that raises fails."""
    if isinstance(value, ClipFailure):
        return value
    try:
        return step(value)
    except Exception as exc:  # one clip's failure, whatever its type, never fails the shard
        return ClipFailure(failure_reason(exc))


#: Frame pairs of one clip handed to a backend at once: bounds the float flow held in memory for long clips (a
#: 10-minute 340×256 clip would be 10 GB of float32 flow) while still filling a GPU batch.
FLOW_WINDOW = 256
#: Frame pairs per solver call on a GPU when a backend takes pairs of several clips (``compute_pairs``): short clips'
#: windows share a call up to this many pairs (Kinetics' 10 s clips are 249 pairs; an H200 runs 340×256 TV-L1 at
#: ~1,400 pairs/s at batch 1024, far fewer at one clip's 249). On the CPU such a backend packs up to FLOW_WINDOW.
GPU_PACK_PAIRS = 1024
#: How far, in packs' worth of frame pairs, a pack reaches ahead in the shard for segments of its frame shape
#: (:func:`_packs`): the encoded flow held back to go out in shard order stays within a few packs.
PACK_REACH = 4

Segment = tuple[str, range]  # (clip id, frames): one window of one clip


def _gray(encoded: np.ndarray) -> np.ndarray:
    """One stored RGB frame -> the gray frame its flow is computed from."""
    return cv2.cvtColor(decode_jpeg(encoded, color=True), cv2.COLOR_RGB2GRAY)


def _flow_jpeg(flow: np.ndarray, bound: float) -> bytes:
    """One float flow field -> its stored form: bound-``bound`` uint8, x and y side by side, JPEG."""
    return encode_jpeg(stack_flow_image(quantize(flow, bound)), JPEG_QUALITY)


def pack_pairs(backend: FlowBackend) -> int:
    """Frame pairs per backend call when windows of several clips share it; 0: one window per call (a backend
    without ``compute_pairs``, such as OpenCV's, which runs pair by pair anyway)."""
    if not hasattr(backend, "compute_pairs"):
        return 0
    device = getattr(backend, "device", None)
    return GPU_PACK_PAIRS if device is not None and device.type == "cuda" else FLOW_WINDOW


def _packs(pairs: list[int], shapes: list[tuple[int, int]], limit: int) -> list[list[int]]:
    """Segments (their frame pairs and frame shapes) grouped into packs of one frame shape and at most ``limit``
    pairs, as lists of segment indices ordered by their first segment (``limit`` 0: one segment per pack).

    A segment joins the last pack of its shape while that has room and began less than ``PACK_REACH`` packs' worth
    of pairs earlier in the shard, else it starts one: results go out in shard order, so a pack's later segments
    wait for those in between, and the reach bounds what waits."""
    packs: list[list[int]] = []
    last: dict[tuple[int, int], tuple[int, int, int]] = {}  # shape -> (its pack, the pack's pairs, where it began)
    position = 0
    for index, (n, shape) in enumerate(zip(pairs, shapes)):
        pack, held, began = last.get(shape, (-1, 0, 0))
        if pack >= 0 and limit and held + n <= limit and position - began < PACK_REACH * limit:
            packs[pack].append(index)
            last[shape] = (pack, held + n, began)
        else:
            last[shape] = (len(packs), n, position)
            packs.append([index])
        position += n
    return packs


def _pack_flow(backend: FlowBackend, grays: list[np.ndarray]) -> np.ndarray:
    """The flow of every segment's consecutive pairs, in order, in one backend call."""
    if len(grays) == 1:
        return backend.compute(grays[0])
    return backend.compute_pairs(np.concatenate([g[:-1] for g in grays]), np.concatenate([g[1:] for g in grays]))


def _split(items: list, counts: list[int]) -> list[list]:
    bounds = np.cumsum([0, *counts])
    return [items[bounds[k]:bounds[k + 1]] for k in range(len(counts))]


def _pack_jpegs(reader: ShardReader, backend: FlowBackend, packs: list[list[Segment]], bound: float,
                pool: ThreadPoolExecutor | None) -> Iterator[list[list[bytes]] | ClipFailure]:
    """The encoded flow frames of each pack's segments (one list per segment), in order, or why the pack failed.

    With a thread pool, the next pack's frames decode and the previous pack's flow encodes while the backend
    computes this one: on a GPU the JPEG work (~2 ms per 340×256 pair on one core, more than the GPU's time per
    pair) would otherwise leave it idle most of the time. At most two packs of float flow are held.
    Without a pool the same steps run one after another. Each step's error is caught where its pack is known
    (a pool's error surfaces when its results are read), so it fails that pack only."""
    run = pool.map if pool is not None else map

    def start_decoding(k: int) -> list[Iterator[np.ndarray]] | ClipFailure:
        return _then(packs[k], lambda pack: [run(_gray, reader.encoded(*segment)) for segment in pack])

    decoding = start_decoding(0) if packs else None
    encoding = None
    for k in range(len(packs)):
        gray = _then(decoding, lambda segments: [np.stack(list(frames)) for frames in segments])
        if k + 1 < len(packs):
            decoding = start_decoding(k + 1)
        flow = _then(gray, lambda grays: _pack_flow(backend, grays))
        if encoding is not None:
            yield _then(encoding[0], lambda jpegs, counts=encoding[1]: _split(list(jpegs), counts))
        encoding = (_then(flow, lambda f: run(_flow_jpeg, f, itertools.repeat(bound))),
                    [len(segment[1]) - 1 for segment in packs[k]])
    if encoding is not None:
        yield _then(encoding[0], lambda jpegs, counts=encoding[1]: _split(list(jpegs), counts))


def _segment_jpegs(reader: ShardReader, backend: FlowBackend, segments: list[Segment],
                   shapes: list[tuple[int, int]], bound: float,
                   pool: ThreadPoolExecutor | None) -> Iterator[list[bytes] | ClipFailure]:
    """Each segment's encoded flow frames (or why it failed), in order, packed by frame shape (``shapes``, one per
    segment) as the backend allows (:func:`_packs`); a pack of several that fails is redone one segment at a time,
    so that only the bad clip fails."""
    packs = _packs([len(frames) - 1 for _, frames in segments], shapes, pack_pairs(backend))
    done: dict[int, list[bytes] | ClipFailure] = {}
    sent = 0
    results = _pack_jpegs(reader, backend, [[segments[i] for i in pack] for pack in packs], bound, pool)
    for k, (pack, result) in enumerate(zip(packs, results)):
        if not isinstance(result, ClipFailure):
            done.update(zip(pack, result))
        elif len(pack) == 1:
            done[pack[0]] = result
        else:
            for i in pack:
                alone = next(_pack_jpegs(reader, backend, [[segments[i]]], bound, pool))
                done[i] = alone if isinstance(alone, ClipFailure) else alone[0]
        ready = packs[k + 1][0] if k + 1 < len(packs) else len(segments)  # later packs begin after it
        for i in range(sent, ready):
            yield done.pop(i)
        sent = ready


def _clip_jpegs(reader: ShardReader, backend: FlowBackend, clips: list[ClipRecord], bound: float,
                pool: ThreadPoolExecutor | None) -> Iterator[list[bytes] | ClipFailure]:
    """Each clip's encoded flow frames (or its first window's failure), in ``clips`` order, computed
    ``FLOW_WINDOW`` pairs at a time: only a window's frames are decoded at once (a whole 10-minute 340×256 clip
    would be 3.9 GB of RGB); short clips' windows of one frame shape share a backend call where it takes pairs
    (:func:`pack_pairs`)."""
    starts = [range(0, c.num_frames - 1, FLOW_WINDOW) for c in clips]
    segments = [(c.clip_id, range(s, min(s + FLOW_WINDOW + 1, c.num_frames))) for c, st in zip(clips, starts)
                for s in st]
    shapes = [(c.height, c.width) for c, st in zip(clips, starts) for _ in st]
    produced = _segment_jpegs(reader, backend, segments, shapes, bound, pool)
    for st in starts:
        parts = [next(produced) for _ in st]
        failures = [part for part in parts if isinstance(part, ClipFailure)]
        yield failures[0] if failures else [jpeg for part in parts for jpeg in part]


def _init_worker(rgb_shard: Path, backend: str, tvl1: dict | None, bound: float) -> None:
    global _worker
    _worker = (ShardReader(rgb_shard), get_backend(backend, threads=1, tvl1=tvl1, device="cpu"), bound)


def _worker_clip(clip: ClipRecord) -> list[bytes] | ClipFailure:
    reader, backend, bound = _worker
    return next(_clip_jpegs(reader, backend, [clip], bound, None))


def _all_failed(rgb_shard: Path, out_path: Path, total: int, failed: dict[str, str]) -> str:
    """Why a flow job whose every clip with frame pairs failed is a failed job, with the first clips' reasons."""
    first = "; ".join(f"{clip}: {reason}" for clip, reason in itertools.islice(failed.items(), 3))
    return (f"every clip of {rgb_shard} with frame pairs failed ({len(failed)} of its {total} clips), so "
            f"{out_path} is not written: a fault of the job (e.g. a broken GPU context) rather than of the "
            f"clips; first: {first}; every clip's reason: {out_path.with_suffix('.csv')}")


def compute_flow_shard(rgb_shard: Path, out_path: Path, backend: str = "auto", bound: float = 20.0,
                       workers: int = 1, progress: bool = True, tvl1: dict | None = None,
                       device: str = "auto") -> dict:
    """Write the flow shard of every clip in ``rgb_shard`` (T frames -> T-1 flow frames) and summarise the run.

    Clips with fewer than 2 frames have no flow; they are left out of the flow shard and listed in ``skipped``;
    clips whose flow failed are left out too, with their reasons in ``failed`` (clip id -> reason). Both are
    in the status table ``<out_path>.csv`` as well (see the module docstring). If every clip with frame pairs
    failed, the job failed, not its clips: RuntimeError, with the status table written and no flow shard (a shard
    without clips, as the frames stage writes when every clip failed to decode, gives an empty flow shard).
    ``workers`` worker processes share the clips (see the module docstring); where one process does the work
    (on a GPU, or for a single clip), ``workers`` threads decode and encode the JPEGs beside it. The OpenCV
    backend sets ``cv2.setNumThreads`` in the calling process. ``tvl1`` overrides TV-L1 parameters (OpenCV's defaults
    otherwise); the parameters used are recorded in the shard. Raises RuntimeError if a worker process dies.
    """
    rgb_shard, out_path = Path(rgb_shard), Path(out_path)
    reader = ShardReader(rgb_shard)
    if reader.kind != "rgb":
        raise ValueError(f"{rgb_shard}: expected an rgb shard, got {reader.kind!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    clips = [c for c in reader.clips if c.num_frames >= 2]
    skipped = [c.clip_id for c in reader.clips if c.num_frames < 2]
    algo = get_backend(backend, threads=workers, tvl1=tvl1, device=device)  # also resolves "auto" for the params
    on_gpu = getattr(algo, "device", None) is not None and algo.device.type != "cpu"
    pool_size = 1 if on_gpu else min(workers, max(len(clips), 1))  # one process feeds a GPU (no fork after CUDA)
    if pool_size > 1:
        algo = get_backend(algo.name, threads=1, tvl1=tvl1, device="cpu")
    log.info("%s: %s%s", out_path.name, algo.describe(), f", in {pool_size} worker processes" if pool_size > 1 else "")
    params = {"backend": algo.name, **algo.params(), "bound": bound, "jpeg_quality": JPEG_QUALITY,
              "gray": "cv2.COLOR_RGB2GRAY", "source": rgb_shard.name}
    writer = ShardWriter(out_path, "flow", params)
    pairs = sum(c.num_frames - 1 for c in clips)
    status = {c.clip_id: dict(clip_id=c.clip_id, label=c.label, status="skipped", num_frames=0,
                              reason=f"{c.num_frames} frame(s): no frame pair for flow") for c in reader.clips}
    failed: dict[str, str] = {}
    start = time.perf_counter()
    # fork, not spawn: spawn re-imports the caller's __main__, which breaks scripts without a __main__ guard.
    # The workers start (at the first submit) before tqdm's monitor thread exists; each builds its own backend.
    # A process pool from concurrent.futures, not multiprocessing.Pool: it notices a dead worker
    # (BrokenProcessPool) where Pool.imap waits forever for the dead worker's clip.
    processes = jpeg_threads = None
    if pool_size > 1:
        processes = ProcessPoolExecutor(pool_size, mp.get_context("fork"), initializer=_init_worker,
                                        initargs=(rgb_shard, algo.name, tvl1, bound))
        encoded = processes.map(_worker_clip, clips)
    else:  # one process (a GPU, or a single clip): ``workers`` threads decode and encode JPEGs beside the backend
        jpeg_threads = ThreadPoolExecutor(workers, thread_name_prefix="jpeg")
        encoded = _clip_jpegs(reader, algo, clips, bound, jpeg_threads)
    try:
        with tqdm(total=pairs, unit="pair", disable=not progress, desc=out_path.name) as bar:
            for clip, jpegs in zip(clips, encoded):
                if isinstance(jpegs, ClipFailure):
                    failed[clip.clip_id] = jpegs.reason
                    status[clip.clip_id].update(status="failed", reason=jpegs.reason)
                else:
                    writer.add_clip(clip.clip_id, clip.label, jpegs, clip.fps, clip.height, clip.width)
                    status[clip.clip_id].update(status="ok", reason="", num_frames=len(jpegs))
                bar.update(clip.num_frames - 1)
    except BrokenProcessPool as exc:
        raise RuntimeError(f"a flow worker process died (killed by a signal, e.g. by the out-of-memory killer) while "
                           f"computing {out_path.name}, which is not written; rerun it, with fewer workers "
                           f"(flow.workers, i3d flow --workers) if memory is short ({exc})") from exc
    finally:
        reader.close()
        if processes is not None:
            processes.shutdown(wait=False, cancel_futures=True)
        if jpeg_threads is not None:
            jpeg_threads.shutdown(cancel_futures=True)
    write_status(list(status.values()), out_path)
    if clips and len(failed) == len(clips):
        raise RuntimeError(_all_failed(rgb_shard, out_path, len(reader.clips), failed))
    writer.close()
    seconds = time.perf_counter() - start
    return {"clips": len(clips), "pairs": pairs, "skipped": skipped, "failed": failed, "seconds": seconds,
            "pairs_per_second": pairs / seconds if seconds > 0 else float("inf")}
