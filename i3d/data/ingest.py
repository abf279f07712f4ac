"""Clips -> RGB shard: trim, resample to a fixed frame rate, resize the short side, store JPEG frames.

A clip that is missing, empty or undecodable is recorded in the shard's status table with its reason and
skipped; it never fails the shard.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from . import video
from .annotations import shard_rows
from .shards import ShardWriter, encode_jpeg

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
            except video.VideoError as exc:
                record.update(status="failed", reason=str(exc))
            else:
                writer.add_clip(row.clip_id, row.label_index, [encode_jpeg(f) for f in frames], fps,
                                frames.shape[1], frames.shape[2])
                record["num_frames"] = len(frames)
        status.append(record)
    writer.close()
    table = pd.DataFrame(status, columns=["clip_id", "label", "status", "reason", "num_frames"])
    csv_path = Path(out_path).with_suffix(".csv")
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, csv_path)
    return table
