"""A small real-footage dataset in UCF-101's native layout, cut from the clips ``tests/real_clips.sh`` fetches.

Why: the stand-ins are rendered; this runs the real-data path (``source: local``, the UCF-101 reader, released
weights) on camera footage, in minutes on a CPU. Each source (``SOURCES``) is cut into segments at UCF-101's
25 fps and 320x240 (MPEG-4 part 2 in ``.avi``, as UCF's XviD files), each clip ``seconds`` long, written as
``UCF-101/<Class>/v_<Class>_gGG_cCC.avi``. As UCF groups the clips cut from one long video, a group here is a
run of adjacent segments of one source; the groups are spread over the source with equal gaps between them
where it is longer than needed, so that a test group's frames do not continue a training group's. The three
splits hold out different groups, as UCF-101's do (split 1 tests groups 1-7, split 2 8-14, split 3 15-21 of 25):
here the first, second and third of three equal blocks of a class's groups, the rest always train. The lists
are written as UCF-101's are (CRLF lines, classes numbered alphabetically from 1).

Two tasks:

- ``scene``: one class per source video. Every clip of a class comes from one video, so a class is told apart
  by its scene as much as by its motion: Original (I3D from scratch), Fixed and Full-FT all reached 100% test
  top-1 on it, which exercises the pipeline on real footage but says nothing about what Kinetics brings.
- ``motion``: the classes are how a segment is played (``MOTIONS``): ``Forward`` as filmed, ``Reversed``
  backwards, ``Fast`` at twice the speed (every second frame of a segment twice as long). Every source gives
  each class the same number of clips, from the same stretches of it (a group of the source holds adjacent
  runs of each class's segments, in an order that rotates from group to group, and is held out for every class
  at once), so the scene says nothing about the class, and no frame is in two clips. The sources' groups are
  dealt to the classes' group numbers in turn (sources with more groups first), so that each split tests and
  trains on clips of several sources. Caveat: a tree swaying in the wind looks much the same backwards, and
  where nothing moves (much of box.mp4 and cup.mp4) Forward and Reversed are the same.

A build is written into a temporary sibling folder and renamed into place; ``STAMP`` in it records how it was
made (task, settings, the sources' digests, and the frames every clip was cut from), so that building again with
the same sources and settings does nothing and any other build refuses to replace it.
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
import pandas as pd

from i3d.atomic import write_text_atomic
from i3d.data.annotations import read_annotations
from i3d.data.ingest import MIN_FRAMES
from i3d.data.video import decode_windows, encode, probe
from i3d.digest import sha256_of

SOURCES = {"BoxMovedByHand": "box.mp4", "CupMovedByHand": "cup.mp4", "Pedestrians": "vtest.avi",
           "TreeInWind": "tree.avi"}
"""Class name (UCF-style CamelCase) of the scene task -> source video in the folder ``tests/real_clips.sh``
fills."""
UCF_FPS = 25.0  # UCF-101's frame rate
UCF_SHORT_SIDE = 240  # UCF-101's videos are 320x240; every source here is 4:3
STAMP = "real_footage.json"
SPLITS = 3
TASKS = ("scene", "motion")
VERSION = 2  # of how a build is cut; 1 (no version in the stamp): a segment beyond the decoded window that
# followed a gap came from too early frames (gaps collapsed, so test groups continued training groups' frames)


@dataclass(frozen=True)
class Motion:
    """How the motion task plays a segment: every ``step``-th source frame, backwards if ``reverse``."""

    step: int
    reverse: bool = False


MOTIONS = {"Forward": Motion(1), "Reversed": Motion(1, reverse=True), "Fast": Motion(2)}
"""The motion task's classes, in the order a group of a source lays out their runs (rotated per group)."""


@dataclass(frozen=True)
class FootageSettings:
    """How a build cuts its sources; with the task and the sources' digests, what the stamp compares."""

    seconds: float = 1.28  # 32 frames at 25 fps: the shortest source (cup.mp4, 8.1 s) gives 6 segments
    groups: int = 6  # scene: per class, a third of them (rounded down) held out in each split; motion: per source
    max_clips: int = 18  # scene: per class, so that the long sources do not outweigh the short ones; motion: per
    # class from one source (a short source gives fewer: cup.mp4 1 of each, box.mp4 2)

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


DEFAULTS = {"scene": FootageSettings(), "motion": FootageSettings(groups=3, max_clips=9)}
"""Each task's settings: motion's give 17 clips a class (cup.mp4 1, box.mp4 2, tree.avi 5, vtest.avi 9), 51 in
all, as many as the scene task's 53; each split tests 5-6 a class."""


@dataclass(frozen=True)
class Segment:
    """One clip's frames: source frames ``start`` .. ``stop - 1`` at 25 fps, every ``step``-th, backwards if
    ``reverse``."""

    source: str
    start: int
    stop: int
    step: int = 1
    reverse: bool = False


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


def scene_plan(available: dict[str, int], settings: FootageSettings) -> dict[str, list[list[Segment]]]:
    """The scene task's segments: class -> per group, its segments; ``available``: frames per source."""
    length, plan = settings.frames, {}
    for label, source in sorted(SOURCES.items()):
        clips = min(settings.max_clips, available[source] // length)
        if clips < settings.groups:
            raise ValueError(f"{source} ({available[source]} frames at {UCF_FPS:g} fps) holds {clips} segments "
                             f"of {length} frames, fewer than --groups {settings.groups}; shorten --seconds")
        plan[label] = [[Segment(source, start, start + length) for start in group]
                       for group in group_starts(available[source], clips, settings.groups, length)]
    return plan


def motion_plan(available: dict[str, int], settings: FootageSettings) -> dict[str, list[list[Segment]]]:
    """The motion task's segments: class -> per group, its segments (see the module docstring)."""
    length = settings.frames
    unit = sum(length * motion.step for motion in MOTIONS.values())  # source frames for one clip of each class
    by_source: dict[str, list[dict[str, list[Segment]]]] = {}
    for source in sorted(SOURCES.values()):
        units = min(settings.max_clips, available[source] // unit)
        if units == 0:
            raise ValueError(f"{source} ({available[source]} frames at {UCF_FPS:g} fps) is shorter than one clip "
                             f"of each motion class ({unit} frames); shorten --seconds")
        groups, names = [], list(MOTIONS)
        for g, starts in enumerate(group_starts(available[source], units, min(settings.groups, units), unit)):
            position, runs = starts[0], {}
            for name in names[g % len(names):] + names[:g % len(names)]:
                motion, span = MOTIONS[name], length * MOTIONS[name].step
                runs[name] = [Segment(source, position + k * span, position + (k + 1) * span, motion.step,
                                      motion.reverse) for k in range(len(starts))]
                position += len(starts) * span
            groups.append(runs)
        by_source[source] = groups
    return {name: [group[name] for group in deal(by_source)] for name in MOTIONS}


def deal(by_source: dict[str, list]) -> list:
    """The sources' groups in turn, one of each source a round, sources with more groups first (then by name):
    so that each block of consecutive groups that a split holds out mixes sources."""
    order = sorted(by_source, key=lambda source: (-len(by_source[source]), source))
    rounds = max(map(len, by_source.values()), default=0)
    return [by_source[source][r] for r in range(rounds) for source in order if r < len(by_source[source])]


PLANS = {"scene": scene_plan, "motion": motion_plan}


def build_real_footage(clips_dir: str | Path, out: str | Path, settings: FootageSettings | None = None,
                       task: str = "scene") -> dict[str, int]:
    """Write the ``task`` dataset under ``out`` (see the module docstring), with ``settings`` (default: the
    task's ``DEFAULTS``); return the clips per class.

    Missing sources: FileNotFoundError naming them. ``out`` built before from the same sources, task and
    settings: left as it is. ``out`` holding anything else: FileExistsError (remove it, or build elsewhere).
    """
    if task not in TASKS:
        raise ValueError(f"unknown real-footage task {task!r}; choose one of {', '.join(TASKS)}")
    settings = settings or DEFAULTS[task]
    settings.check()
    clips_dir, out = Path(clips_dir), Path(out)
    missing = [name for name in SOURCES.values() if not (clips_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"real clips missing in {clips_dir}: {', '.join(missing)} "
                                f"(tests/real_clips.sh fetches them)")
    stamp = {"version": VERSION, "task": task, "settings": asdict(settings), "fps": UCF_FPS,
             "short_side": UCF_SHORT_SIDE,
             "sources": {name: sha256_of(clips_dir / name) for name in sorted(SOURCES.values())}}
    built = _existing_build(out, stamp)
    if built is not None:
        return built
    # one frame less than the duration promises: the last may not come out of the 25 fps resampling
    available = {name: math.floor(probe(clips_dir / name).duration * UCF_FPS) - 1 for name in SOURCES.values()}
    plan = PLANS[task](available, settings)
    rels = {label: [[f"{label}/v_{label}_g{g + 1:02d}_c{c + 1:02d}.avi" for c in range(len(group))]
                    for g, group in enumerate(by_group)] for label, by_group in plan.items()}
    segments = {rel: segment for label, by_group in plan.items()
                for names, group in zip(rels[label], by_group) for rel, segment in zip(names, group)}
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed build
    for source in sorted(SOURCES.values()):
        _cut(clips_dir / source, staging / "UCF-101",
             {rel: segment for rel, segment in segments.items() if segment.source == source}, available[source])
    for name, text in split_lists(rels).items():
        write_text_atomic(staging / "ucfTrainTestlist" / name, text)
    stamp["clips"] = {label: sum(map(len, by_group)) for label, by_group in sorted(plan.items())}
    stamp["segments"] = {rel: asdict(segment) for rel, segment in sorted(segments.items())}
    write_text_atomic(staging / STAMP, json.dumps(stamp, indent=1) + "\n")
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    os.rename(staging, out)
    return stamp["clips"]


def clip_counts(out: str | Path) -> pd.DataFrame:
    """Clips of the build in ``out`` per (set, class) and source: the whole build (set ``all``) and each split's
    train and test lists as the UCF-101 reader reads them, the source from the stamp's record of the frames each
    clip was cut from."""
    segments = json.loads((Path(out) / STAMP).read_text())["segments"]
    manifest = read_annotations("ucf101", out)
    manifest["source"] = [segments[f"{label}/{clip_id}.avi"]["source"]
                          for label, clip_id in zip(manifest.label, manifest.clip_id)]
    sets = [manifest.assign(set="all")] + [manifest[manifest[split] == role].assign(set=f"{split} {role}")
                                           for split in ("split1", "split2", "split3") for role in ("train", "test")]
    rows = pd.concat(sets)
    table = pd.crosstab([rows.set, rows.label], rows.source).reindex(list(dict.fromkeys(rows.set)), level=0)
    return table.assign(total=table.sum(axis=1))


def _existing_build(out: Path, stamp: dict) -> dict[str, int] | None:
    """The clips per class of ``out`` if it is a build from ``stamp``'s sources, task and settings; None if it is
    absent or empty; otherwise FileExistsError saying why it is not replaced."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return None
    path = out / STAMP
    if not path.is_file():
        raise FileExistsError(f"{out} exists and is not a real-footage build (no {STAMP}); not replacing it")
    previous = {"version": 1, "task": "scene", **json.loads(path.read_text())}  # version 1 kept neither: scene
    differs = [key for key in ("version", "task", "settings", "fps", "short_side", "sources")
               if previous.get(key) != stamp[key]]
    if differs:
        raise FileExistsError(f"{out} holds a real-footage build with other {', '.join(differs)} "
                              f"({path}); remove it or build elsewhere")
    return previous["clips"]


def _cut(source: Path, videos: Path, segments: dict[str, Segment], available: int) -> None:
    """Encode ``segments`` (relative path under ``videos`` -> segment) of ``source``, which promises
    ``available`` frames."""
    by_start = {segment.start: (rel, segment) for rel, segment in segments.items()}
    done = 0
    for start, frames in _segments(source, sorted((s.start, s.stop - s.start) for s in segments.values())):
        rel, segment = by_start[start]
        frames = frames[::segment.step]
        encode(videos / rel, frames[::-1] if segment.reverse else frames, UCF_FPS, codec="mpeg4")
        done += 1
    if done != len(segments):
        last = max(segment.stop for segment in segments.values())
        raise ValueError(f"{source.name} ended before its last segment (frame {last} of the {available} its "
                         f"duration promises)")


def _segments(source: Path, spans: list[tuple[int, int]]) -> Iterator[tuple[int, np.ndarray]]:
    """(start, frames) of the segments of ``source`` at 25 fps and UCF's size given as (start, length) in
    ``spans`` (sorted, not overlapping), decoded once, a window at a time."""
    pending, buffer, position = list(spans), [], 0  # position: index of the first frame in buffer
    windows = decode_windows(source, fps=UCF_FPS, short_side=UCF_SHORT_SIDE)
    try:
        for window in windows:
            buffer.append(window)
            frames = np.concatenate(buffer)
            while pending and sum(pending[0]) <= position + len(frames):  # the next segment ends in frames
                start, length = pending.pop(0)
                yield start, frames[start - position:start - position + length]
            if not pending:
                return
            drop = min(max(pending[0][0] - position, 0), len(frames))  # frames before the next segment
            buffer, position = [frames[drop:]], position + drop
    finally:
        windows.close()
