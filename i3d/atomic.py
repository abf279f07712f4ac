"""Write-then-rename: a killed job leaves the previous file or the complete new one, never half of one.

Every output of the pipeline goes through here, so that a rerun after a kill never mistakes a truncated file
for a finished one (Snakemake only checks that an output exists).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_name(path: str | os.PathLike) -> Path:
    """The temporary sibling of ``path``: same folder (so the rename is atomic) and same suffix (so tools that
    pick a format by extension, such as ffmpeg, still do)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.tmp{path.suffix}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; it becomes ``path`` when the block completes and is removed if it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
