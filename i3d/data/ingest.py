"""Clips -> RGB shard: trim, resample to a fixed frame rate, resize the short side, store JPEG frames.

A clip that is missing, empty or undecodable, whose ffmpeg hangs (see ``video``'s timeouts), or whose decoding
or JPEG encoding raises anything else (a ``ValueError``, an ``OSError``, a ``MemoryError`` on a huge clip) is
recorded in the shard's status table with its reason and skipped; it never fails the shard. Writing the shard
itself is not isolated: a failed write means the shard is broken, and the job fails (and can be rerun).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm import tqdm

from . import video
from .annotations import shard_rows
from .shards import ShardWriter, encode_jpeg
from .status import failure_reason, write_status

MIN_FRAMES = 2  # flow needs a pair


def _window(start: float, end: float) -> tuple[float | None, float | None]:
    """The trim window in seconds, or (None, None) for a clip that is already trimmed."""
    if pd.isna(start):
        return None, None
    return float(start), float(end)


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
                frames = video.decode(row.path, fps=fps, short_side=short_side, start=start, end=end)
                if len(frames) < MIN_FRAMES:
                    raise video.VideoError(f"only {len(frames)} frame(s) decoded; need {MIN_FRAMES}")
                jpegs = [encode_jpeg(f) for f in frames]
            except Exception as exc:  # one bad clip never fails the shard (see the module docstring)
                record.update(status="failed", reason=failure_reason(exc))
            else:
                writer.add_clip(row.clip_id, row.label_index, jpegs, fps, frames.shape[1], frames.shape[2])
                record["num_frames"] = len(frames)
            frames = jpegs = None  # a failed clip's frames are not held while the next one decodes
        status.append(record)
    writer.close()
    return write_status(status, out_path)
