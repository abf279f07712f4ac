"""A small real-footage dataset in UCF-101's native layout, cut from the clips ``tests/real_clips.sh`` fetches.

Why: the stand-ins are rendered; this runs the real-data path (``source: local``, the UCF-101 reader, released
weights) on camera footage, in minutes on a CPU. One class per source video (``SOURCES``). Each source is cut
into consecutive segments of ``seconds`` at UCF-101's 25 fps and 320x240 (MPEG-4 part 2 in ``.avi``, as UCF's
XviD files), written as ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi``. As UCF groups the clips cut from one long
video, a group here is a run of adjacent segments; the groups are spread over the source with equal gaps
between them where it is longer than needed, so that a test group's frames do not continue a training group's.
The three splits hold out different groups, as UCF-101's do (split 1 tests groups 1-7, split 2 8-14, split 3
15-21 of 25): here the first, second and third of three equal blocks of groups, the rest always train. The
lists are written as UCF-101's are (CRLF lines, classes numbered alphabetically from 1).

Caveat: every clip of a class comes from one video, so a class is told apart by its scene as much as by its
motion. This exercises the pipeline on real footage; its accuracies say nothing about action recognition.

A build is written into a temporary sibling folder and renamed into place; ``STAMP`` in it records how it was
made, so that building again with the same sources and settings does nothing and any other build refuses to
replace it.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from i3d.atomic import write_text_atomic
from i3d.digest import sha256_of
from i3d.data.ingest import MIN_FRAMES
from i3d.data.video import decode_windows, encode, probe

SOURCES = {"BoxMovedByHand": "box.mp4", "CupMovedByHand": "cup.mp4", "Pedestrians": "vtest.avi",
           "TreeInWind": "tree.avi"}
"""Class name (UCF-style CamelCase) -> source video in the folder ``tests/real_clips.sh`` fills."""
UCF_FPS = 25.0  # UCF-101's frame rate
UCF_SHORT_SIDE = 240  # UCF-101's videos are 320x240; every source here is 4:3
STAMP = "real_footage.json"
SPLITS = 3


@dataclass(frozen=True)
class FootageSettings:
    """How a build cuts its sources; with the sources' digests, what the stamp compares."""

    seconds: float = 1.28  # 32 frames at 25 fps: the shortest source (cup.mp4, 8.1 s) gives 6 segments
    groups: int = 6  # per class; a third of them (rounded down) is held out in each split
    max_clips: int = 18  # per class, so that the long sources do not outweigh the short ones

    @property
    def frames(self) -> int:
        return round(self.seconds * UCF_FPS)

    def check(self) -> None:
        """ValueError naming the setting that cannot make a dataset."""
        if self.frames < MIN_FRAMES:
            raise ValueError(f"--seconds {self.seconds:g} is {self.frames} frame(s) at {UCF_FPS:g} fps; "
                             f"a clip needs at least {MIN_FRAMES}")
        if self.groups < SPLITS:
            raise ValueError(f"--groups {self.groups}: need at least {SPLITS}, one held out in each split")
        if self.max_clips < self.groups:
            raise ValueError(f"--max-clips {self.max_clips} is fewer than --groups {self.groups}")


def group_starts(available: int, clips: int, groups: int, length: int) -> list[list[int]]:
    """First frame of each segment, per group: ``clips`` segments of ``length`` frames in ``groups`` runs of
    adjacent segments (sizes differing by at most one, larger first), spread over ``available`` frames with the
    frames left over shared out as equal gaps between the runs."""
    if clips < groups or clips * length > available:
        raise ValueError(f"cannot place {clips} segments of {length} frames in {groups} groups within "
                         f"{available} frames")
    sizes = [clips // groups + (g < clips % groups) for g in range(groups)]
    gap = (available - clips * length) // (groups - 1) if groups > 1 else 0
    starts, position = [], 0
    for size in sizes:
        starts.append([position + k * length for k in range(size)])
        position += size * length + gap
    return starts


def held_out_groups(groups: int, split: int) -> range:
    """The groups (0-based) split ``split`` (1..3) tests: the split-th of three equal blocks, as UCF-101's split
    N tests groups 7(N-1)+1 .. 7N of its 25."""
    block = groups // SPLITS
    return range((split - 1) * block, split * block)


def split_lists(clips: dict[str, list[list[str]]]) -> dict[str, str]:
    """``ucfTrainTestlist`` files (name -> text) for ``clips``: class -> per group, its clips' relative paths."""
    index = {name: i for i, name in enumerate(sorted(clips), start=1)}
    texts = {"classInd.txt": "".join(f"{i} {name}\r\n" for name, i in index.items())}
    for split in range(1, SPLITS + 1):
        train, test = [], []
        for name, by_group in clips.items():
            held = held_out_groups(len(by_group), split)
            for g, rels in enumerate(by_group):
                (test if g in held else train).extend((rel, index[name]) for rel in rels)
        texts[f"trainlist0{split}.txt"] = "".join(f"{rel} {i}\r\n" for rel, i in sorted(train))
        texts[f"testlist0{split}.txt"] = "".join(f"{rel}\r\n" for rel, _ in sorted(test))
    return texts


def build_real_footage(clips_dir: str | Path, out: str | Path, settings: FootageSettings = FootageSettings(),
                       ) -> dict[str, int]:
    """Write the dataset under ``out`` (see the module docstring); return the clips per class.

    Missing sources: FileNotFoundError naming them. ``out`` built before from the same sources and settings: left
    as it is. ``out`` holding anything else: FileExistsError (remove it, or build elsewhere).
    """
    settings.check()
    clips_dir, out = Path(clips_dir), Path(out)
    missing = [name for name in SOURCES.values() if not (clips_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"real clips missing in {clips_dir}: {', '.join(missing)} "
                                f"(tests/real_clips.sh fetches them)")
    stamp = {"settings": asdict(settings), "fps": UCF_FPS, "short_side": UCF_SHORT_SIDE,
             "sources": {name: sha256_of(clips_dir / name) for name in sorted(SOURCES.values())}}
    built = _existing_build(out, stamp)
    if built is not None:
        return built
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed build
    clips = {label: _cut(clips_dir / source, staging / "UCF-101", label, settings)
             for label, source in sorted(SOURCES.items())}
    for name, text in split_lists(clips).items():
        write_text_atomic(staging / "ucfTrainTestlist" / name, text)
    stamp["clips"] = {label: sum(map(len, by_group)) for label, by_group in clips.items()}
    write_text_atomic(staging / STAMP, json.dumps(stamp, indent=1) + "\n")
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    os.rename(staging, out)
    return stamp["clips"]


def _existing_build(out: Path, stamp: dict) -> dict[str, int] | None:
    """The clips per class of ``out`` if it is a build from ``stamp``'s sources and settings; None if it is absent
    or empty; otherwise FileExistsError saying why it is not replaced."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return None
    path = out / STAMP
    if not path.is_file():
        raise FileExistsError(f"{out} exists and is not a real-footage build (no {STAMP}); not replacing it")
    previous = json.loads(path.read_text())
    differs = [key for key in ("settings", "fps", "short_side", "sources") if previous.get(key) != stamp[key]]
    if differs:
        raise FileExistsError(f"{out} holds a real-footage build with other {', '.join(differs)} "
                              f"({path}); remove it or build elsewhere")
    return previous["clips"]


def _cut(source: Path, videos: Path, label: str, settings: FootageSettings) -> list[list[str]]:
    """Encode ``label``'s segments of ``source`` under ``videos``; their paths relative to it, per group."""
    length = settings.frames
    # one frame less than the duration promises: the last may not come out of the 25 fps resampling
    available = math.floor(probe(source).duration * UCF_FPS) - 1
    clips = min(settings.max_clips, available // length)
    if clips < settings.groups:
        raise ValueError(f"{source.name} ({available} frames at {UCF_FPS:g} fps) holds {clips} segments of "
                         f"{length} frames, fewer than --groups {settings.groups}; shorten --seconds")
    starts = group_starts(available, clips, settings.groups, length)
    wanted = {start: (g, c) for g, group in enumerate(starts) for c, start in enumerate(group)}
    rels: list[list[str]] = [[] for _ in starts]
    for start, segment in _segments(source, sorted(wanted), length):
        g, c = wanted[start]
        rel = f"{label}/v_{label}_g{g + 1:02d}_c{c + 1:02d}.avi"
        encode(videos / rel, segment, UCF_FPS, codec="mpeg4")
        rels[g].append(rel)
    if sum(map(len, rels)) != clips:
        raise ValueError(f"{source.name} ended before its last segment (frame {max(wanted) + length} of the "
                         f"{available} its duration promises)")
    return rels


def _segments(source: Path, starts: list[int], length: int) -> Iterator[tuple[int, np.ndarray]]:
    """(start, frames) of the ``length``-frame segments of ``source`` at 25 fps and UCF's size that begin at
    ``starts`` (sorted, not overlapping), decoded once, a window at a time."""
    pending, buffer, position = list(starts), [], 0  # position: index of the first frame in buffer
    windows = decode_windows(source, fps=UCF_FPS, short_side=UCF_SHORT_SIDE)
    try:
        for window in windows:
            buffer.append(window)
            frames = np.concatenate(buffer)
            while pending and pending[0] + length <= position + len(frames):
                offset = pending[0] - position
                yield pending.pop(0), frames[offset:offset + length]
            if not pending:
                return
            keep = max(pending[0] - position, 0)
            buffer, position = [frames[keep:]], position + keep
    finally:
        windows.close()
