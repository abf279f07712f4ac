"""Clips -> RGB shard: trim, resample to a fixed frame rate, resize the short side, store JPEG frames.

A clip is decoded, JPEG-encoded and written in windows of frames (``video.decode_windows``), so memory stays
bounded however long the video is. A clip that is missing, empty or undecodable, whose time window starts past
the end of the video, whose ffmpeg hangs (see ``video``'s timeouts), or whose decoding or JPEG encoding raises
anything else (a ``ValueError``, an ``OSError``, a ``MemoryError``), even after some of its frames were written,
is recorded in the shard's status table with its reason and left out of the shard; it never fails the shard
nor its neighbours. Writing the shard itself is not isolated: a failed write means the shard is broken, and
the job fails (and can be rerun).

A clip that decodes is kept with the frames it has, and its status is ``ok``; when that count may surprise,
the ``reason`` column says why: the time window runs past the end of the video, or far fewer frames came out
than the duration promises (a truncated or corrupt file), or far more (timestamps that jump back, as in
concatenated recordings).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import video
from .annotations import shard_rows
from .shards import ShardWriter, encode_jpeg
from .status import failure_reason, write_status

MIN_FRAMES = 2  # flow needs a pair
#: a frame count off by more than this fraction of the expected count (and more than 2 frames) gets a note
COUNT_TOLERANCE = 0.05


def _window(start: float, end: float) -> tuple[float | None, float | None]:
    """The trim window in seconds, or (None, None) for a clip that is already trimmed."""
    if pd.isna(start):
        return None, None
    return float(start), float(end)


def _jpegs(windows: Iterable[np.ndarray]) -> Iterator[bytes]:
    """JPEG-encode the decoded windows frame by frame; too few frames for a flow pair raise at the end (the
    writer then drops what it wrote of the clip)."""
    count = 0
    for frames in windows:
        for frame in frames:
            yield encode_jpeg(frame)
        count += len(frames)
    if count < MIN_FRAMES:
        raise video.VideoError(f"only {count} frame(s) decoded; need {MIN_FRAMES}")


def count_note(info: video.VideoInfo, fps: float, start: float | None, end: float | None, count: int) -> str:
    """Why a decoded clip's ``count`` of frames may surprise, or "" when it matches the duration."""
    notes = []
    if end is not None and info.duration and end - info.duration >= 1 / fps:
        notes.append(f"segment [{start:g}, {end:g}] s ends past the end of the video ({info.duration:g} s); "
                     f"kept the {video.span(info, start, end):g} s inside it")
    expected = round(video.span(info, start, end) * fps)
    if expected and abs(count - expected) > max(2, COUNT_TOLERANCE * expected):
        why = "truncated or corrupt file?" if count < expected else "timestamps that jump back?"
        notes.append(f"{count} frames decoded where the duration ({info.duration:g} s) promises {expected}: {why}")
    return "; ".join(notes)


def ingest_shard(manifest: pd.DataFrame, shard: int, num_shards: int, out_path: str | Path, *,
                 fps: float = 25.0, short_side: int = 256, progress: bool = True) -> pd.DataFrame:
    """Decode this shard's clips into ``out_path`` and return the per-clip status table.

    The status table (clip_id, label, status, reason, num_frames) is also written next to the shard as
    ``<shard>.csv`` (temporary name, then rename) so a user can see what was skipped and why.
    """
    rows = shard_rows(manifest, shard, num_shards)
    writer = ShardWriter(out_path, "rgb", params=dict(fps=fps, short_side=short_side, shard=shard,
                                                      num_shards=num_shards))
    status = []
    for row in tqdm(list(rows.itertuples(index=False)), desc=f"frames shard {shard}", unit="clip",
                    disable=not progress):
        record = dict(clip_id=row.clip_id, label=row.label, status=row.status, reason=row.reason, num_frames=0)
        if row.status == "ok":
            start, end = _window(row.time_start, row.time_end)
            try:
                info = video.probe(row.path)
                width, height = video.output_size(info.width, info.height, short_side)
                windows = video.decode_windows(row.path, fps=fps, short_side=short_side, start=start, end=end,
                                               info=info)
                count = writer.add_clip(row.clip_id, row.label_index, _jpegs(windows), fps, height, width)
            except Exception as exc:  # one bad clip never fails the shard (see the module docstring)
                record.update(status="failed", reason=failure_reason(exc))
            else:
                record.update(num_frames=count, reason=count_note(info, fps, start, end, count))
        status.append(record)
    writer.close()
    return write_status(status, out_path)
