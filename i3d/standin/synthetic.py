"""Procedurally rendered stand-ins for Kinetics-400, UCF-101 and HMDB-51 in the real datasets' on-disk formats.

Why: the pipeline must run end to end (decode, resample to 25 fps, resize, trim, flow, train, evaluate) where
the real datasets cannot be downloaded. Classes are defined by *motion* only, drawn from one shared library of
motion primitives, so pre-training on the Kinetics stand-in transfers to the other two. The actor (sprite
shape, texture, colours, position, size) is always drawn independently of the class. The *scene* is too, except
that, as in the real datasets (diving happens by a pool), some classes have a typical scene: every second class
(odd index, so never more than half of them) has a scene of its own, a background palette and a static prop of
a fixed shape and colour (`_scene_palette`), which its clips show with probability ``own`` and which clips of the
other classes show as a decoy with a smaller probability (`SCENE_ODDS`). Train and test clips draw the scene the
same way, so an RGB model can learn a context cue that generalises, but an imperfect one: it cannot separate the
classes without a typical scene, nor catch the decoys, and there only motion (flow, or a temporal RGB model)
tells the class. The remaining clips show a random scene. Videos are real encoded files at varied
frame rates, sizes and durations; Kinetics sources are untrimmed (distractor seconds around the annotated
segment) and the HMDB stand-in adds camera shake, clutter, occlusion and noise.

Everything is deterministic in ``seed``: each clip draws from its own generator keyed by (seed, dataset,
purpose, class, clip), so clips can be rendered in any order, in parallel, and resumed. A resumed render keeps
only videos rendered with the same parameters and code: ``standin.json`` in the root records them (`STAMP`).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from i3d.atomic import write_text_atomic
from i3d.data.annotations import DATASETS
from i3d.data.video import encode
from i3d.fingerprint import code_fingerprint

KINETICS_HEADER = ("label", "youtube_id", "time_start", "time_end", "split")
STAMP = "standin.json"  # in a rendered root: the parameters and code its files were rendered with, and the files

Pose = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Sprite = tuple[np.ndarray, np.ndarray]  # premultiplied RGB and 1 - alpha (both h×w×3 float32): fastest to composite
_TAU = 2.0 * np.pi
SHAPES = ("ellipse", "rectangle", "triangle", "star", "blob")  # kinds of `_shape_mask`, in its order
TEXTURES = ("stripes", "checker", "rings", "blobs")  # kinds of `_texture`, in its order


@dataclass(frozen=True)
class Motion:
    """A named motion primitive, defined in time so that every frame rate shows the same motion.

    ``pose(t, rate, phase)`` maps seconds (0 = middle of the action) to (dx, dy) in units of the frame's
    short side (y down), angle in degrees (anticlockwise on screen) and scale; ``rate`` (0.8-1.2) and
    ``phase`` vary the motion within its class.
    """

    name: str
    pose: Callable[[np.ndarray, float, float], Pose]


def _pose(t: np.ndarray, dx: np.ndarray | float = 0.0, dy: np.ndarray | float = 0.0,
          angle: np.ndarray | float = 0.0, scale: np.ndarray | float = 1.0) -> Pose:
    return tuple(np.broadcast_to(np.asarray(v, dtype=np.float64), t.shape) for v in (dx, dy, angle, scale))


def _translate(vx: float, vy: float) -> Callable[[np.ndarray, float, float], Pose]:
    return lambda t, r, p: _pose(t, dx=vx * r * t, dy=vy * r * t)


def _oscillate(ax: float, ay: float, hz: float) -> Callable[[np.ndarray, float, float], Pose]:
    return lambda t, r, p: _pose(t, dx=ax * np.sin(_TAU * hz * r * t + p), dy=ay * np.sin(_TAU * hz * r * t + p))


def _circle(radius: float, hz: float, clockwise: bool) -> Callable[[np.ndarray, float, float], Pose]:
    sign = 1.0 if clockwise else -1.0  # with y pointing down, an increasing angle turns clockwise on screen
    return lambda t, r, p: _pose(t, dx=radius * np.cos(sign * _TAU * hz * r * t + p),
                                 dy=radius * np.sin(sign * _TAU * hz * r * t + p))


# Ordered so that the first twelve keep their meaning under a horizontal flip (a common training
# augmentation); the last six come in mirror pairs that a flip swaps.
MOTIONS: tuple[Motion, ...] = (
    Motion("move_up", _translate(0.0, -0.45)),
    Motion("move_down", _translate(0.0, 0.45)),
    Motion("zoom_in", lambda t, r, p: _pose(t, scale=np.exp(1.0 * r * t))),
    Motion("zoom_out", lambda t, r, p: _pose(t, scale=np.exp(-1.0 * r * t))),
    Motion("oscillate_horizontal", _oscillate(0.22, 0.0, 1.3)),
    Motion("oscillate_vertical", _oscillate(0.0, 0.22, 1.3)),
    Motion("pulsate", lambda t, r, p: _pose(t, scale=1.0 + 0.35 * np.sin(_TAU * 1.5 * r * t + p))),
    Motion("hop", lambda t, r, p: _pose(t, dy=-0.35 * np.abs(np.sin(np.pi * 1.4 * r * t + p)))),
    Motion("swing", lambda t, r, p: _pose(t, angle=50.0 * np.sin(_TAU * 1.2 * r * t + p))),
    Motion("figure_eight", lambda t, r, p: _pose(t, dx=0.22 * np.sin(_TAU * 0.8 * r * t + p),
                                                 dy=0.11 * np.sin(2.0 * (_TAU * 0.8 * r * t + p)))),
    Motion("move_diagonal_up_right", _translate(0.32, -0.32)),
    Motion("move_diagonal_down_left", _translate(-0.32, 0.32)),
    Motion("move_right", _translate(0.45, 0.0)),
    Motion("move_left", _translate(-0.45, 0.0)),
    Motion("rotate_cw", lambda t, r, p: _pose(t, angle=-270.0 * r * t)),
    Motion("rotate_ccw", lambda t, r, p: _pose(t, angle=270.0 * r * t)),
    Motion("circle_cw", _circle(0.2, 0.9, clockwise=True)),
    Motion("circle_ccw", _circle(0.2, 0.9, clockwise=False)),
)
_MOTION = {m.name: m for m in MOTIONS}

# Per dataset: (class name in the dataset's naming style, motion name); `classes=N` takes the first N.
CLASSES: dict[str, tuple[tuple[str, str], ...]] = {
    "kinetics400": (
        ("floating up", "move_up"), ("sinking down", "move_down"), ("approaching the camera", "zoom_in"),
        ("backing away", "zoom_out"), ("swaying side to side", "oscillate_horizontal"),
        ("bobbing up and down", "oscillate_vertical"), ("pulsating", "pulsate"), ("hopping", "hop"),
        ("rocking back and forth", "swing"), ("tracing a figure eight", "figure_eight"),
        ("climbing diagonally", "move_diagonal_up_right"), ("sliding down a slope", "move_diagonal_down_left"),
        ("sliding right", "move_right"), ("sliding left", "move_left"), ("spinning clockwise", "rotate_cw"),
        ("spinning anticlockwise", "rotate_ccw"), ("circling clockwise", "circle_cw"),
        ("circling anticlockwise", "circle_ccw"),
    ),
    "ucf101": (
        ("SwaySideways", "oscillate_horizontal"), ("RiseUp", "move_up"), ("ZoomTowards", "zoom_in"),
        ("BobUpDown", "oscillate_vertical"), ("FallDown", "move_down"), ("ZoomAway", "zoom_out"),
        ("PendulumSwing", "swing"), ("Pulsate", "pulsate"), ("Bounce", "hop"), ("FigureEight", "figure_eight"),
        ("SpinClockwise", "rotate_cw"), ("SpinAnticlockwise", "rotate_ccw"), ("SlideRight", "move_right"),
        ("SlideLeft", "move_left"),
    ),
    "hmdb51": (
        ("rise", "move_up"), ("sway", "oscillate_horizontal"), ("approach", "zoom_in"), ("fall_down", "move_down"),
        ("retreat", "zoom_out"), ("bounce", "hop"), ("rock", "swing"), ("pulsate", "pulsate"),
        ("climb_slope", "move_diagonal_up_right"), ("slide_down_slope", "move_diagonal_down_left"),
        ("turn_clockwise", "rotate_cw"), ("turn_anticlockwise", "rotate_ccw"),
    ),
}

_FPS = (24.0, 25.0, 30000 / 1001, 30.0)
_YOUTUBE_CHARS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"))
_TITLE_WORDS = (("Silent", "Crimson", "Northern", "Hidden", "Broken", "Golden", "Midnight", "Paper"),
                ("Harbor", "Garden", "Road", "Circus", "Valley", "Station", "Dream", "River"))
_HMDB_NOISE = {"goo": 3.0, "med": 6.0, "bad": 10.0}
_PLAN, _LOOK, _CLIP, _SPLIT, _SCENE = range(5)  # purposes of the random streams

# Per dataset: (own, decoy). A clip of a class with a typical scene shows that scene with probability ``own``;
# any clip that does not show its own scene shows another class's typical scene with probability ``decoy``
# (uniformly among them), else a random scene. The HMDB stand-in's context is the least reliable (harder).
SCENE_ODDS: dict[str, tuple[float, float]] = {"kinetics400": (0.7, 0.3), "ucf101": (0.75, 0.3),
                                               "hmdb51": (0.6, 0.4)}


def has_scene(class_index: int) -> bool:
    """Whether a class (by its index in the dataset's class list) has a typical scene: every second one."""
    return class_index % 2 == 1


def draw_scene(rng: np.random.Generator, dataset: str, class_index: int, classes: int) -> int | None:
    """The typical scene (a class index) a clip of ``class_index`` shows, or None for a random scene."""
    own, decoy = SCENE_ODDS[dataset]
    if has_scene(class_index) and rng.random() < own:
        return class_index
    others = [c for c in range(classes) if has_scene(c) and c != class_index]
    if others and rng.random() < decoy:
        return int(rng.choice(others))
    return None


def _rng(seed: int, dataset: int, purpose: int, a: int = 0, b: int = 0, c: int = 0) -> np.random.Generator:
    # Fixed-length keys: SeedSequence ignores trailing zeros, so keys of different lengths could collide.
    return np.random.default_rng([seed, dataset, purpose, a, b, c])


@dataclass(frozen=True)
class _Job:
    """One video to render: where, which motion, which random streams, and how hard."""

    path: Path
    motion: Motion
    look_key: tuple[int, int, int, int, int, int]  # arguments of _rng
    clip_key: tuple[int, int, int, int, int, int]
    seconds: float  # duration of the action
    pre: float = 0.0  # distractor seconds before/after the action (untrimmed Kinetics sources)
    post: float = 0.0
    portrait: float = 0.0  # chance of a portrait camera
    clutter: int = 0  # distractor objects with random motion
    occluder: bool = False  # a bar sweeping across in front of the actor
    shake: bool = False  # camera shake
    noise: float = 1.0  # sensor noise, grey levels
    scene: tuple[int, int] | None = None  # (dataset index, class index) of a class-typical scene, None: random


@dataclass(frozen=True)
class _Look:
    """A camera and a pre-rendered actor and scene, drawn per clip."""

    width: int
    height: int
    fps: float
    sprite: Sprite
    background: np.ndarray  # (H+2m)×(W+2m)×3 float32
    margin: int
    drift: tuple[float, float]  # background motion, pixels per second


def render_standin(dataset: str, root: Path, *, classes: int, clips_per_class: int, seed: int = 0,
                   short_side: tuple[int, int] = (72, 112), seconds: tuple[float, float] = (1.6, 2.6),
                   progress: bool = True) -> None:
    """Render a motion-defined stand-in for ``dataset`` under ``root`` in that dataset's native layout.

    Deterministic in ``seed`` (a non-negative int) and resumable: videos that already exist are skipped, if
    they were rendered with the same parameters and code (see :func:`_keep_only_same_render`).
    Annotation files are written last, so their presence means the render finished.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
    available = CLASSES[dataset]
    if not 1 <= classes <= len(available):
        raise ValueError(f"{dataset} stand-in has 1..{len(available)} classes, asked for {classes}")
    if clips_per_class < 3:
        raise ValueError(f"clips_per_class must be >= 3 (train/test splits), got {clips_per_class}")
    root = Path(root)
    chosen = [(name, _MOTION[motion]) for name, motion in available[:classes]]
    jobs, texts = _PLANNERS[dataset](root, chosen, clips_per_class, seed, seconds)
    render = {"dataset": dataset, "classes": classes, "clips_per_class": clips_per_class, "seed": seed,
                  "short_side": list(short_side), "seconds": list(seconds), "code": code_fingerprint(__name__)}
    _keep_only_same_render(root, render, sorted(str(job.path.relative_to(root)) for job in jobs) + sorted(texts))
    todo = [job for job in jobs if not job.path.exists()]
    longest = max(2, math.ceil(seconds[1])) + 4.0  # a Kinetics source: action plus up to 4 s of distractors
    render = partial(_render_to_file, short_side=short_side, max_seconds=longest)
    with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
        for _ in tqdm(pool.map(render, todo), total=len(todo), desc=f"render {dataset}", unit="clip",
                      disable=not progress):
            pass
    for rel, text in texts.items():
        write_text_atomic(root / rel, text)


def _keep_only_same_render(root: Path, render: dict, files: list[str]) -> None:
    """Remove what an earlier render with other parameters or code left under ``root``, and stamp ``root`` with
    ``render`` and its ``files`` (relative paths), before anything is rendered.

    Why: the render resumes by file existence, so a file from another seed, duration or size would otherwise be
    kept while every stage downstream reruns (and Kinetics annotation windows would not match their videos).
    Without a stamp (a render from before stamps, or killed before stamping) nothing on disk can be trusted
    either. Deleting comes first and the stamp after: a render killed in between deletes again when rerun, and
    once the stamp is written every file present was rendered with ``render``.
    """
    stamp = root / STAMP
    previous = json.loads(stamp.read_text()) if stamp.exists() else {"render": None, "files": []}
    if previous["render"] == render:
        return
    for rel in sorted(set(files) | set(previous["files"])):
        (root / rel).unlink(missing_ok=True)
    write_text_atomic(stamp, json.dumps({"render": render, "files": files}, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------- layouts

def _plan_kinetics(root: Path, classes: list[tuple[str, Motion]], n: int, seed: int,
                   seconds: tuple[float, float]) -> tuple[list[_Job], dict[str, str]]:
    """Untrimmed sources ``videos/<youtube_id>.mp4`` plus DeepMind-style train/validate CSVs (~80/20 per class)."""
    jobs, rows = [], {"train": [], "val": []}
    for c, (label, motion) in enumerate(classes):
        val = set(_rng(seed, 0, _SPLIT, c).choice(n, max(1, round(0.2 * n)), replace=False).tolist())
        for k in range(n):
            rng = _rng(seed, 0, _PLAN, c, k)
            youtube_id = "".join(rng.choice(_YOUTUBE_CHARS, 11))
            action = max(1, round(rng.uniform(*seconds)))  # Kinetics times are whole seconds
            pre = int(rng.integers(0, 3))
            post = int(rng.integers(0 if pre else 1, 3))
            split = "val" if k in val else "train"
            rows[split].append((label, youtube_id, pre, pre + action, split))
            jobs.append(_Job(root / "videos" / f"{youtube_id}.mp4", motion, (seed, 0, _LOOK, c, k, 0),
                             (seed, 0, _CLIP, c, k, 0), seconds=action, pre=pre, post=post, portrait=0.1,
                             clutter=int(rng.random() < 0.3), noise=2.0,
                             scene=_scene(seed, "kinetics400", len(classes), c, k)))
    return jobs, {"annotations/train.csv": _kinetics_csv(rows["train"]),
                  "annotations/validate.csv": _kinetics_csv(rows["val"])}


def _kinetics_csv(rows: list[tuple]) -> str:
    """Like DeepMind's files: labels with spaces in double quotes (``"air drumming",...``), other fields bare."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    quote_label = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator=",")
    writer.writerow(KINETICS_HEADER)
    for label, *rest in sorted(rows):
        if " " in label:
            quote_label.writerow([label])
            writer.writerow(rest)
        else:
            writer.writerow([label, *rest])
    return buf.getvalue()


def _plan_ucf(root: Path, classes: list[tuple[str, Motion]], n: int, seed: int,
              seconds: tuple[float, float]) -> tuple[list[_Job], dict[str, str]]:
    """``UCF-101/<Class>/v_<Class>_gXX_cYY.avi`` in groups, with three group-disjoint splits."""
    sizes = _group_sizes(n)
    n_test = min(len(sizes) - 1, max(1, round(0.28 * len(sizes))))  # real protocol: 7 of 25 groups
    test_groups = [{(split * n_test + j) % len(sizes) for j in range(n_test)} for split in range(3)]
    index = {name: i for i, name in enumerate(sorted(name for name, _ in classes), start=1)}
    jobs, train, test = [], [[], [], []], [[], [], []]
    for c, (name, motion) in enumerate(classes):
        for g, size in enumerate(sizes):
            for k in range(size):
                rel = f"{name}/v_{name}_g{g + 1:02d}_c{k + 1:02d}.avi"
                duration = _rng(seed, 1, _PLAN, c, g, k).uniform(*seconds)
                # Appearance is drawn per clip, not per group: a look shared by a group (as in real UCF) is a
                # shortcut that a from-scratch RGB model on a few hundred clips learns instead of the motion
                # (measured: RGB I3D at 3.6% top-1 on unseen groups, below chance, with shared looks).
                jobs.append(_Job(root / "UCF-101" / rel, motion, (seed, 1, _LOOK, c, g, k),
                                 (seed, 1, _CLIP, c, g, k), seconds=duration,
                                 scene=_scene(seed, "ucf101", len(classes), c, g, k)))
                for split in range(3):
                    if g in test_groups[split]:
                        test[split].append(f"{rel}\n")
                    else:
                        train[split].append(f"{rel} {index[name]}\n")
    texts = {"ucfTrainTestlist/classInd.txt": "".join(f"{i} {name}\n" for name, i in index.items())}
    for split in range(3):
        texts[f"ucfTrainTestlist/trainlist0{split + 1}.txt"] = "".join(sorted(train[split]))
        texts[f"ucfTrainTestlist/testlist0{split + 1}.txt"] = "".join(sorted(test[split]))
    return jobs, texts


def _group_sizes(n: int) -> list[int]:
    """Split n clips into groups of about three (at least three groups, so three splits can differ)."""
    groups = min(n, max(3, round(n / 3)))
    return [n // groups + (g < n % groups) for g in range(groups)]


def _plan_hmdb(root: Path, classes: list[tuple[str, Motion]], n: int, seed: int,
               seconds: tuple[float, float]) -> tuple[list[_Job], dict[str, str]]:
    """Hard clips ``hmdb51_org/<class>/<title>_<class>_f_cm_np1_ri_med_<k>.avi`` with 70/30 split flag files."""
    jobs, texts = [], {}
    for c, (name, motion) in enumerate(classes):
        names, per_title = [], Counter()
        for k in range(n):
            rng = _rng(seed, 2, _PLAN, c, k)
            title = "".join(rng.choice(words) for words in _TITLE_WORDS)
            shake = bool(rng.random() < 0.75)
            view, quality = rng.choice(["fr", "ba", "le", "ri"]), rng.choice(list(_HMDB_NOISE))
            names.append(f"{title}_{name}_f_{'cm' if shake else 'nm'}_np1_{view}_{quality}_{per_title[title]}.avi")
            per_title[title] += 1
            jobs.append(_Job(root / "hmdb51_org" / name / names[-1], motion, (seed, 2, _LOOK, c, k, 0),
                             (seed, 2, _CLIP, c, k, 0), seconds=rng.uniform(*seconds),
                             clutter=int(rng.integers(1, 4)), occluder=bool(rng.random() < 0.6), shake=shake,
                             noise=_HMDB_NOISE[quality], scene=_scene(seed, "hmdb51", len(classes), c, k)))
        for split in (1, 2, 3):
            flags = _hmdb_flags(_rng(seed, 2, _SPLIT, c, split), n)
            lines = sorted(f"{video} {flag}\n" for video, flag in zip(names, flags))
            texts[f"testTrainMulti_7030_splits/{name}_test_split{split}.txt"] = "".join(lines)
    return jobs, texts


def _hmdb_flags(rng: np.random.Generator, n: int) -> np.ndarray:
    """1 = train, 2 = test, 0 = unused: ~70/30 of the used clips, a few (6%) unused, as in the real splits."""
    unused = round(0.06 * n)
    test = max(1, round(0.3 * (n - unused)))
    flags = np.ones(n, dtype=int)
    order = rng.permutation(n)
    flags[order[:test]] = 2
    flags[order[test:test + unused]] = 0
    return flags


def _scene(seed: int, dataset: str, classes: int, c: int, a: int, b: int = 0) -> tuple[int, int] | None:
    d = DATASETS.index(dataset)
    scene = draw_scene(_rng(seed, d, _SCENE, c, a, b), dataset, c, classes)
    return None if scene is None else (d, scene)


_PLANNERS = {"kinetics400": _plan_kinetics, "ucf101": _plan_ucf, "hmdb51": _plan_hmdb}


# ---------------------------------------------------------------------------------------------- appearance

def _colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two random colours at least 80 grey levels apart per channel, so textures have contrast for flow."""
    a = rng.uniform(0, 256, 3)
    return a, (a + rng.uniform(80, 176, 3)) % 256


def _texture(rng: np.random.Generator, h: int, w: int, cell: float, kind: int | None = None) -> np.ndarray:
    """h×w pattern in [0, 1] (``TEXTURES[kind]`` of scale ``cell`` px, a random kind if None) plus fine grain."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = rng.integers(len(TEXTURES)) if kind is None else kind
    if kind == 0:
        theta, period = rng.uniform(0, np.pi), rng.uniform(0.8, 1.6) * cell
        pattern = 0.5 + 0.5 * np.sin(_TAU * (xx * np.cos(theta) + yy * np.sin(theta)) / period)
    elif kind == 1:
        size = max(2, round(rng.uniform(0.5, 1.0) * cell))
        pattern = (xx // size + yy // size) % 2
    elif kind == 2:
        cy, cx, period = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.8, 1.6) * cell
        pattern = 0.5 + 0.5 * np.sin(_TAU * np.hypot(xx - cx, yy - cy) / period)
    else:
        pattern = _smooth_noise(rng, h, w, cell)
    return np.clip(0.75 * pattern + 0.25 * _smooth_noise(rng, h, w, 2.0), 0.0, 1.0)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    grid = rng.random((int(h / cell) + 2, int(w / cell) + 2)).astype(np.float32)
    return np.clip(cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def _shape_mask(rng: np.random.Generator, size: int, diameter: float, kind: int | None = None) -> np.ndarray:
    """Antialiased mask (drawn 4× larger, then area-downsampled) of a randomly turned, not rotationally symmetric
    shape (``SHAPES[kind]``, a random kind if None)."""
    k = 4
    big = np.zeros((size * k, size * k), np.uint8)
    centre, radius, turn = size * k / 2, diameter * k / 2, rng.uniform(0, _TAU)
    kind = rng.integers(len(SHAPES)) if kind is None else kind
    if kind == 0:  # ellipse
        axes = (round(radius), round(radius * rng.uniform(0.45, 0.75)))
        cv2.ellipse(big, (round(centre), round(centre)), axes, math.degrees(turn), 0, 360, 255, -1)
    else:
        if kind == 1:  # rectangle
            a = rng.uniform(0.45, 0.9)
            angles, radii = np.array([a, np.pi - a, np.pi + a, _TAU - a]), np.full(4, radius)
        elif kind == 2:  # triangle
            angles, radii = np.arange(3) * _TAU / 3 + rng.uniform(-0.3, 0.3, 3), np.full(3, radius)
        elif kind == 3:  # star
            points = int(rng.integers(4, 7))
            angles, radii = np.arange(2 * points) * np.pi / points, np.tile([radius, 0.5 * radius], points)
        else:  # blob
            angles, radii = np.arange(9) * _TAU / 9, radius * rng.uniform(0.55, 1.0, 9)
        pts = np.stack([centre + radii * np.cos(angles + turn), centre + radii * np.sin(angles + turn)], axis=1)
        cv2.fillPoly(big, [np.round(pts).astype(np.int32)], 255)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def draw_sprite(rng: np.random.Generator, diameter: float, shape: int | None = None,
            texture: int | None = None) -> Sprite:
    """A textured, outlined object of about ``diameter`` pixels (kinds ``SHAPES[shape]``, ``TEXTURES[texture]``;
    random if None, as in every video: there the actor's look is not tied to the class)."""
    size = int(np.ceil(diameter)) + 4
    mask = _shape_mask(rng, size, diameter, shape)
    a, b = _colour_pair(rng)
    rgb = a + (b - a) * _texture(rng, size, size, max(3.0, diameter / 3), texture)[..., None]
    edge = (mask - cv2.erode(mask, np.ones((3, 3), np.uint8)))[..., None]
    rgb = rgb * (1.0 - edge) + rng.choice([20.0, 235.0]) * edge
    alpha = np.repeat(mask[..., None], 3, axis=2)
    return (rgb * alpha).astype(np.float32), (1.0 - alpha).astype(np.float32)


def _scene_palette(scene: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A class-typical scene: background colour pair and prop colour pair, fixed per (dataset, class)."""
    rng = np.random.default_rng([7919, *scene])
    return (*_colour_pair(rng), *_colour_pair(rng))


def _prop_sprite(scene: tuple[int, int], rng: np.random.Generator, diameter: float) -> Sprite:
    """The scene's static prop: a shape fixed per scene (drawn from the scene's own stream), per-clip shading."""
    size = int(np.ceil(diameter)) + 4
    mask = _shape_mask(np.random.default_rng([7919, *scene, 1]), size, diameter)
    _, _, a, b = _scene_palette(scene)
    rgb = a + (b - a) * (0.3 * _smooth_noise(rng, size, size, max(3.0, diameter / 4)))[..., None]
    alpha = np.repeat(mask[..., None], 3, axis=2)
    return (rgb * alpha).astype(np.float32), (1.0 - alpha).astype(np.float32)


def _make_look(rng: np.random.Generator, short_side: tuple[int, int], portrait: float,
               max_seconds: float, scene: tuple[int, int] | None = None) -> _Look:
    """Camera (size 4:3 or 16:9, maybe portrait; frame rate), actor (independent of the class) and scene (a
    random one, or with ``scene`` a class-typical palette and prop, jittered per clip)."""
    short = 2 * int(rng.integers(short_side[0] // 2, short_side[1] // 2 + 1))
    long = 2 * round(short * rng.choice([4 / 3, 16 / 9]) / 2)
    width, height = (short, long) if rng.random() < portrait else (long, short)
    fps = float(rng.choice(_FPS))
    sprite = draw_sprite(rng, rng.uniform(0.32, 0.46) * short)
    speed, heading = rng.uniform(0.0, 0.06) * short, rng.uniform(0, _TAU)
    margin = int(np.ceil(speed * max_seconds + 0.05 * short)) + 2
    background = draw_background(rng, width, height, short, margin, scene)
    return _Look(width, height, fps, sprite, background, margin, (speed * np.cos(heading), speed * np.sin(heading)))


def draw_background(rng: np.random.Generator, width: int, height: int, short: int, margin: int = 0,
                scene: tuple[int, int] | None = None) -> np.ndarray:
    """A (height+2·margin)×(width+2·margin)×3 float32 textured, shaded scene: random colours, or with ``scene`` a
    class-typical palette (jittered) and its static prop at a random place in the central ``width``×``height``."""
    a, b = _colour_pair(rng)
    if scene is not None:
        a, b, _, _ = _scene_palette(scene)
        a, b = np.clip(a + rng.normal(0, 12, 3), 0, 255), np.clip(b + rng.normal(0, 12, 3), 0, 255)
    cell = short * rng.uniform(0.06, 0.15)
    shading = 0.75 + 0.25 * _smooth_noise(rng, height + 2 * margin, width + 2 * margin, short / 2)
    pattern = _texture(rng, height + 2 * margin, width + 2 * margin, cell)
    background = (a + (b - a) * (0.25 + 0.5 * pattern)[..., None]) * shading[..., None]
    if scene is not None:  # the prop stands still in the scene (it moves with the camera only)
        prop = _prop_sprite(scene, rng, rng.uniform(0.3, 0.45) * short)
        c = (len(prop[0]) - 1) / 2
        x, y = margin + rng.uniform(0.15, 0.85) * width, margin + rng.uniform(0.15, 0.85) * height
        background = np.ascontiguousarray(background, dtype=np.float32)
        paste(background, prop, np.float64([[1, 0, x - c], [0, 1, y - c]]))
    return background.astype(np.float32)


# ---------------------------------------------------------------------------------------------- rendering

def _render_to_file(job: _Job, short_side: tuple[int, int], max_seconds: float) -> None:
    frames, fps = _render(job, short_side, max_seconds)
    encode(job.path, frames, fps, codec="mpeg4" if job.path.suffix == ".avi" else "libx264")


def _wander(rng: np.random.Generator, t: np.ndarray, amplitude: float, hz: tuple[float, float]) -> np.ndarray:
    """Smooth random motion (sum of three random sinusoids) that belongs to no class; 2×T."""
    freq = rng.uniform(*hz, (2, 3, 1))
    phase = rng.uniform(0, _TAU, (2, 3, 1))
    return amplitude * np.sin(_TAU * freq * t + phase).mean(axis=1)


def _place(rng: np.random.Generator, path: np.ndarray, extent: int) -> float:
    """Start offset that keeps a trajectory inside the central 60% of the frame where it fits (else centred)."""
    lo, hi = 0.2 * extent - path.min(), 0.8 * extent - path.max()
    return float(rng.uniform(lo, hi)) if lo < hi else float(lo + hi) / 2


def _sprite_matrices(size: int, x: np.ndarray, y: np.ndarray, angle: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """T×2×3 affines taking a size×size sprite, rotated and scaled about its centre, to centre (x, y)."""
    c = (size - 1) / 2
    alpha = scale * np.cos(np.radians(angle))
    beta = scale * np.sin(np.radians(angle))  # same convention as cv2.getRotationMatrix2D
    return np.stack([np.stack([alpha, beta, x - (alpha + beta) * c], axis=-1),
                     np.stack([-beta, alpha, y + (beta - alpha) * c], axis=-1)], axis=1)


def paste(frame: np.ndarray, sprite: Sprite, m: np.ndarray) -> None:
    """Composite ``sprite`` warped by ``m`` over ``frame`` in place, warping only its bounding box."""
    colour, clear = sprite
    h, w = colour.shape[:2]
    (a, b, tx), (c, d, ty) = m.tolist()
    xs, ys = (tx, a * w + tx, b * h + tx, a * w + b * h + tx), (ty, c * w + ty, d * h + ty, c * w + d * h + ty)
    x0, y0 = max(math.floor(min(xs)) - 1, 0), max(math.floor(min(ys)) - 1, 0)
    x1, y1 = min(math.ceil(max(xs)) + 2, frame.shape[1]), min(math.ceil(max(ys)) + 2, frame.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    shifted, size = m - np.float64([[0, 0, x0], [0, 0, y0]]), (x1 - x0, y1 - y0)
    roi = frame[y0:y1, x0:x1]
    roi *= cv2.warpAffine(clear, shifted, size, flags=cv2.INTER_LINEAR, borderValue=(1.0, 1.0, 1.0))
    roi += cv2.warpAffine(colour, shifted, size, flags=cv2.INTER_LINEAR)


def _render(job: _Job, short_side: tuple[int, int], max_seconds: float) -> tuple[np.ndarray, float]:
    """Frames (T×H×W×3 uint8 RGB) and frame rate of one clip: background, clutter, actor, occluder, camera."""
    look = _make_look(_rng(*job.look_key), short_side, job.portrait, max_seconds, job.scene)
    rng = _rng(*job.clip_key)
    w, h, short = look.width, look.height, min(look.width, look.height)
    total = job.pre + job.seconds + job.post
    t = np.arange(math.ceil(total * look.fps - 1e-6)) / look.fps
    ones = np.ones_like(t)

    # The actor: the class motion during the action, held (still or jittering) in the distractor seconds.
    dx, dy, angle, scale = job.motion.pose(np.clip(t - job.pre, 0.0, job.seconds) - job.seconds / 2,
                                           rng.uniform(0.8, 1.2), rng.uniform(0, _TAU))
    outside = np.clip(np.maximum(job.pre - t, t - job.pre - job.seconds) / 0.3, 0.0, 1.0)
    jitter = _wander(rng, t, rng.choice([0.0, rng.uniform(0.01, 0.03)]) * short, (0.5, 2.0)) * outside
    x, y = dx * short + jitter[0], dy * short + jitter[1]
    x, y = x + _place(rng, x, w), y + _place(rng, y, h)
    layers = []  # (sprite, T×2×3 affines, T visibility), back to front
    for _ in range(job.clutter):
        sprite = draw_sprite(rng, rng.uniform(0.1, 0.18) * short)
        path = _wander(rng, t, 0.25 * short, (0.2, 0.8))
        spin = _wander(rng, t, 60.0, (0.1, 0.5))[0]
        mats = _sprite_matrices(len(sprite[0]), path[0] + rng.uniform(0, w), path[1] + rng.uniform(0, h), spin, ones)
        layers.append((sprite, mats, ones > 0))
    layers.append((look.sprite, _sprite_matrices(len(look.sprite[0]), x, y, angle, scale), ones > 0))
    if job.occluder:
        layers.append(_occluder(rng, t, w, h, short))

    # Camera: slow background drift; shake (translation) moves the background and every layer alike.
    camera = np.outer(look.drift, t)
    if job.shake:
        shake = _wander(rng, t, rng.uniform(0.015, 0.03) * short, (2.0, 6.0))
        camera += shake
        for _, mats, _ in layers:
            mats[:, :, 2] -= shake.T
    centre = look.margin + (np.float64([w, h])[:, None] - 1) / 2 + camera
    noise = rng.standard_normal((3, h + 8, w + 8, 3), dtype=np.float32) * job.noise
    pick = rng.integers(0, (3, 9, 9), (len(t), 3))

    frames = np.empty((len(t), h, w, 3), np.uint8)
    for i in range(len(t)):
        frame = cv2.getRectSubPix(look.background, (w, h), (float(centre[0, i]), float(centre[1, i])))
        for sprite, mats, visible in layers:
            if visible[i]:
                paste(frame, sprite, mats[i])
        k, oy, ox = pick[i]
        frame += noise[k, oy:oy + h, ox:ox + w]
        frames[i] = np.clip(frame + 0.5, 0, 255)
    return frames, look.fps


def _occluder(rng: np.random.Generator, t: np.ndarray, w: int, h: int,
              short: int) -> tuple[Sprite, np.ndarray, np.ndarray]:
    """A textured full-height bar sweeping across the frame once, in front of the actor (partial occlusion)."""
    bar_w = max(4, round(rng.uniform(0.1, 0.18) * w))
    a, b = _colour_pair(rng)
    bar = a + (b - a) * _texture(rng, h + 8, bar_w, short * 0.08)[..., None]
    crossing = rng.uniform(0.8, 1.5)
    u = (t - rng.uniform(-0.3, max(0.0, t[-1] - crossing) + 0.3)) / crossing
    x = -bar_w + u * (w + bar_w) if rng.random() < 0.5 else w - u * (w + bar_w)
    mats = np.zeros((len(t), 2, 3))
    mats[:, 0, 0] = mats[:, 1, 1] = 1.0
    mats[:, 0, 2], mats[:, 1, 2] = x, -4.0
    return (bar.astype(np.float32), np.zeros_like(bar, np.float32)), mats, (u >= 0.0) & (u <= 1.0)
