"""Per-clip status tables written beside a shard, so a user sees which clips were skipped and why.

Both the frames stage (``<rgb shard>.csv``) and the flow stage (``<flow shard>.csv``) write one; a clip's
failure is recorded there and the clip skipped, it never fails the shard.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path

STATUS_COLUMNS = ("clip_id", "label", "status", "reason", "num_frames")


class ClipError(RuntimeError):
    """A clip that cannot be processed, with a message that names the problem (e.g. ``video.VideoError``).

    Defined here rather than in ``video`` so that the flow stage, which records failures too, does not run
    (and is not fingerprinted with) the video-decoding code."""


def failure_reason(exc: BaseException) -> str:
    """The reason recorded for a clip that raised ``exc``: a :class:`ClipError`'s own message (it names the
    problem), otherwise the exception type too, since ``ValueError: ...`` or ``MemoryError`` alone may say little."""
    if isinstance(exc, ClipError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def write_status(records: Sequence[dict], shard_path: str | Path) -> pd.DataFrame:
    """Write ``records`` (dicts with :data:`STATUS_COLUMNS`) as ``<shard>.csv`` (temporary name, then rename)."""
    table = pd.DataFrame(list(records), columns=list(STATUS_COLUMNS))
    csv_path = Path(shard_path).with_suffix(".csv")
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    return table
