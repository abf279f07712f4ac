"""Procedurally rendered stand-in datasets: native layouts, decodable videos, determinism, class-free actors and
an imperfect, class-typical scene for at most half of the classes."""
from __future__ import annotations

import csv
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from i3d.standin.synthetic import (
    _SCENE,
    CLASSES,
    DATASETS,
    MOTIONS,
    SCENE_ODDS,
    _rng,
    draw_scene,
    has_scene,
    render_standin,
)
from i3d.data.video import decode, ffmpeg_exe, probe

TINY = dict(classes=3, clips_per_class=4, short_side=(48, 64), seconds=(1.0, 1.5), progress=False)


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for dataset in DATASETS:
        out[dataset] = tmp_path_factory.mktemp(dataset)
        render_standin(dataset, out[dataset], seed=0, **TINY)
    return out


def kinetics_rows(root: Path) -> list[dict[str, str]]:
    rows = []
    for name in ("train.csv", "validate.csv"):
        with open(root / "annotations" / name, newline="") as f:
            reader = csv.reader(f)
            assert next(reader) == ["label", "youtube_id", "time_start", "time_end", "split"]
            rows += [dict(zip(("label", "youtube_id", "time_start", "time_end", "split", "file"), r + [name]))
                     for r in reader]
    return rows


def first_frame_mean(path: Path) -> np.ndarray:
    return decode(path, fps=25, short_side=48, end=0.2)[0].reshape(-1, 3).mean(axis=0)


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="allowed: kinetics400, ucf101, hmdb51"):
        render_standin("ucf1o1", tmp_path, classes=2, clips_per_class=3)
    with pytest.raises(ValueError, match="classes"):
        render_standin("hmdb51", tmp_path, classes=len(CLASSES["hmdb51"]) + 1, clips_per_class=3)
    assert not any(tmp_path.iterdir())


def test_class_lists_draw_on_one_motion_library():
    names = {m.name for m in MOTIONS}
    assert len(names) == len(MOTIONS) >= 16
    assert len(CLASSES["kinetics400"]) == max(len(c) for c in CLASSES.values())
    for dataset, classes in CLASSES.items():
        assert {motion for _, motion in classes} <= names
        assert len({name for name, _ in classes}) == len({motion for _, motion in classes}) == len(classes)
    assert all(re.fullmatch(r"[A-Z][A-Za-z]+", name) for name, _ in CLASSES["ucf101"])
    assert all(re.fullmatch(r"[a-z_]+", name) for name, _ in CLASSES["hmdb51"])
    t = np.linspace(-1.0, 1.0, 9)
    for motion in MOTIONS:
        pose = motion.pose(t, 1.0, 0.3)
        assert len(pose) == 4 and all(p.shape == t.shape for p in pose)


def test_kinetics_layout_and_segments(roots):
    root = roots["kinetics400"]
    rows = kinetics_rows(root)
    assert len(rows) == 3 * 4
    assert {r["file"]: r["split"] for r in rows} == {"train.csv": "train", "validate.csv": "val"}
    assert {r["label"] for r in rows} == {name for name, _ in CLASSES["kinetics400"][:3]}
    for label in {r["label"] for r in rows}:
        assert sorted(r["split"] for r in rows if r["label"] == label) == ["train", "train", "train", "val"]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{11}", r["youtube_id"]) for r in rows)
    assert '\n"floating up",' in (root / "annotations" / "train.csv").read_text()  # quoted like DeepMind's CSVs
    assert sorted(p.name for p in (root / "videos").iterdir()) == sorted(f"{r['youtube_id']}.mp4" for r in rows)
    for r in rows:
        start, end = int(r["time_start"]), int(r["time_end"])  # integer seconds, as in the real CSVs
        duration = probe(root / "videos" / f"{r['youtube_id']}.mp4").duration
        assert 0 <= start and end - start >= 1 and end <= duration + 0.05
        assert duration >= end - start + 0.9  # untrimmed: distractor seconds around the segment


def test_kinetics_action_moves_more_than_distractors(roots):
    root = roots["kinetics400"]
    inside, outside = [], []
    for r in kinetics_rows(root):
        frames = decode(root / "videos" / f"{r['youtube_id']}.mp4", fps=25, short_side=48).astype(np.float32)
        change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
        t = (np.arange(len(change)) + 1) / 25
        segment = (t > int(r["time_start"]) + 0.1) & (t < int(r["time_end"]) - 0.1)
        inside.append(change[segment].mean())
        outside.append(change[(t < int(r["time_start"]) - 0.3) | (t > int(r["time_end"]) + 0.3)].mean())
    assert np.mean(inside) > 1.3 * np.mean(outside)  # the background drifts throughout
    assert np.mean(np.array(inside) > np.array(outside)) >= 0.75


def test_ucf_layout_and_group_disjoint_splits(roots):
    lists = roots["ucf101"] / "ucfTrainTestlist"
    class_ind = dict(line.split()[::-1] for line in (lists / "classInd.txt").read_text().splitlines())
    assert sorted(class_ind.values(), key=int) == ["1", "2", "3"]
    assert set(class_ind) == {name for name, _ in CLASSES["ucf101"][:3]}
    on_disk = {str(p.relative_to(roots["ucf101"] / "UCF-101")) for p in (roots["ucf101"] / "UCF-101").rglob("*.avi")}
    assert len(on_disk) == 3 * 4
    assert all(re.fullmatch(r"(\w+)/v_\1_g\d\d_c\d\d\.avi", p) for p in on_disk)
    test_sets = []
    for split in (1, 2, 3):
        train = [line.split() for line in (lists / f"trainlist0{split}.txt").read_text().splitlines()]
        test = (lists / f"testlist0{split}.txt").read_text().split()
        assert all(class_ind[path.split("/")[0]] == label for path, label in train)
        assert {path for path, _ in train} | set(test) == on_disk and not {path for path, _ in train} & set(test)
        group = lambda path: re.search(r"(\w+)/v_\w+_g(\d\d)", path).groups()  # noqa: E731
        assert not {group(path) for path, _ in train} & {group(path) for path in test}
        test_sets.append(frozenset(test))
    assert len(set(test_sets)) == 3


def test_hmdb_layout_and_split_flags(roots):
    root = roots["hmdb51"]
    classes = [name for name, _ in CLASSES["hmdb51"][:3]]
    assert sorted(p.name for p in (root / "hmdb51_org").iterdir()) == sorted(classes)
    for name in classes:
        videos = sorted(p.name for p in (root / "hmdb51_org" / name).glob("*.avi"))
        assert len(videos) == 4
        assert all(re.fullmatch(rf"[A-Za-z]+_{name}_f_(cm|nm)_np1_(fr|ba|le|ri)_(goo|med|bad)_\d+\.avi", v)
                   for v in videos)
        flag_sets = []
        for split in (1, 2, 3):
            lines = (root / "testTrainMulti_7030_splits" / f"{name}_test_split{split}.txt").read_text().splitlines()
            flags = dict(line.split() for line in lines)
            assert sorted(flags) == videos and set(flags.values()) <= {"0", "1", "2"}
            assert list(flags.values()).count("1") == 3 and list(flags.values()).count("2") == 1
            flag_sets.append(tuple(sorted(flags.items())))
        assert len(set(flag_sets)) > 1


def native_fps(path: Path) -> float:
    """The frame rate ffmpeg reports for a video (the pipeline itself never needs it: it resamples to 25 fps)."""
    banner = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return float(re.search(r"([\d.]+) fps", banner).group(1))


def test_videos_decode_at_25_fps_with_expected_length(roots):
    videos = [p for root in roots.values() for p in sorted(root.rglob("*.mp4")) + sorted(root.rglob("*.avi"))]
    infos = [probe(p) for p in videos]
    assert len({native_fps(p) for p in videos}) >= 2 and len({(i.width, i.height) for i in infos}) >= 2
    for path, info in list(zip(videos, infos))[::3]:
        frames = decode(path, fps=25, short_side=48)
        assert min(frames.shape[1:3]) == 48
        assert abs(len(frames) - info.duration * 25) <= 2
        if path.suffix == ".avi":  # UCF/HMDB clips are trimmed: duration drawn from `seconds`
            assert 0.95 <= info.duration <= 1.55


def test_appearance_is_not_tied_to_class_without_a_typical_scene(roots):
    per_class: dict[str, list[np.ndarray]] = defaultdict(list)
    for dataset, root in roots.items():
        names = [name for name, _ in CLASSES[dataset]]
        for path in sorted(root.rglob("*.avi")) if dataset != "kinetics400" else []:
            if not has_scene(names.index(path.parent.name)):
                per_class[f"{dataset}/{path.parent.name}"].append(first_frame_mean(path))
    for r in kinetics_rows(roots["kinetics400"]):
        if not has_scene([name for name, _ in CLASSES["kinetics400"]].index(r["label"])):
            per_class[f"kinetics/{r['label']}"].append(first_frame_mean(roots["kinetics400"] / "videos" /
                                                                        f"{r['youtube_id']}.mp4"))
    assert len(per_class) == 6  # classes 0 and 2 of each dataset
    for name, means in per_class.items():
        spread = max(np.linalg.norm(a - b) for a in means for b in means)
        assert spread > 40, f"{name}: first frames too alike (mean colours within {spread:.0f} grey levels)"


def test_typical_scenes_are_an_imperfect_cue_for_at_most_half_the_classes():
    for dataset in DATASETS:
        for n in range(2, len(CLASSES[dataset]) + 1):
            assert 1 <= sum(has_scene(c) for c in range(n)) <= n // 2
    own = {d: SCENE_ODDS[d][0] for d in DATASETS}
    assert own["hmdb51"] < own["ucf101"] and all(0.5 <= p < 1 for p in own.values())  # HMDB: least reliable
    rng = np.random.default_rng(0)
    draws = {c: [draw_scene(rng, "ucf101", c, 8) for _ in range(4000)] for c in range(8)}
    for c, scenes in draws.items():
        shown = np.array([-1 if s is None else s for s in scenes])
        if has_scene(c):
            assert abs(np.mean(shown == c) - SCENE_ODDS["ucf101"][0]) < 0.03
        else:
            assert not np.any(shown == c)
        decoys = shown[(shown >= 0) & (shown != c)]
        assert set(decoys.tolist()) <= {k for k in range(8) if has_scene(k)} - {c} and len(decoys) > 0
    # a scene still points to its class more often than to any other (the cue generalises, train and test alike)
    for k in (k for k in range(8) if has_scene(k)):
        counts = [sum(s == k for s in draws[c]) for c in range(8)]
        assert int(np.argmax(counts)) == k and counts[k] < sum(counts)


def test_a_typical_scene_looks_alike_across_clips(roots):
    """Clips of a scene class that show their scene share its palette: mean colours closer than random scenes."""
    root, names = roots["ucf101"], [name for name, _ in CLASSES["ucf101"]]
    means = defaultdict(list)
    for path in sorted((root / "UCF-101").rglob("*.avi")):
        c = names.index(path.parent.name)
        g, k = (int(x) - 1 for x in re.search(r"_g(\d\d)_c(\d\d)", path.name).groups())
        scene = draw_scene(_rng(0, 1, _SCENE, c, g, k), "ucf101", c, 3)
        means["random" if scene is None else scene].append(first_frame_mean(path))
    assert len(means[1]) >= 2 and len(means["random"]) >= 2
    spread = lambda ms: np.mean([np.linalg.norm(a - b) for i, a in enumerate(ms) for b in ms[i + 1:]])
    assert spread(means[1]) < 0.6 * spread(means["random"])


def test_deterministic_and_resumable(tmp_path):
    small = dict(TINY, classes=2, clips_per_class=3)
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        render_standin("kinetics400", tmp_path / name, seed=seed, **small)
    notes = lambda root: [(root / "annotations" / f).read_bytes() for f in ("train.csv", "validate.csv")]  # noqa: E731
    assert notes(tmp_path / "a") == notes(tmp_path / "b") != notes(tmp_path / "c")
    first = lambda root: root / "videos" / f"{kinetics_rows(root)[0]['youtube_id']}.mp4"  # noqa: E731
    frames_a = decode(first(tmp_path / "a"), fps=25, short_side=48)
    assert frames_a.tobytes() == decode(first(tmp_path / "b"), fps=25, short_side=48).tobytes()
    frames_c = decode(first(tmp_path / "c"), fps=25, short_side=48)
    assert frames_a.shape != frames_c.shape or not np.array_equal(frames_a, frames_c)

    videos = sorted((tmp_path / "a" / "videos").iterdir())
    stamps = {p: p.stat().st_mtime_ns for p in videos}
    videos[0].unlink()
    (tmp_path / "a" / "annotations" / "train.csv").unlink()
    render_standin("kinetics400", tmp_path / "a", seed=0, **small)
    assert notes(tmp_path / "a") == notes(tmp_path / "b")
    assert videos[0].read_bytes() == (tmp_path / "b" / "videos" / videos[0].name).read_bytes()
    assert all(p.stat().st_mtime_ns == stamps[p] for p in videos[1:])
    assert not list(tmp_path.rglob("*.tmp*"))


def test_a_render_with_other_parameters_replaces_the_old_files_and_the_same_parameters_resume(tmp_path, monkeypatch):
    from i3d.standin import synthetic
    small = dict(TINY, classes=2, clips_per_class=3)
    root = tmp_path / "k"
    render_standin("kinetics400", root, seed=0, **small)
    rows, videos = kinetics_rows(root), sorted((root / "videos").iterdir())
    stamps = {p: p.stat().st_mtime_ns for p in videos}

    rendered = []
    real = synthetic._render_to_file
    monkeypatch.setattr(synthetic, "_render_to_file", lambda job, **kw: rendered.append(job.path) or real(job, **kw))
    render_standin("kinetics400", root, seed=0, **small)  # the same parameters: nothing to do
    assert rendered == [] and all(p.stat().st_mtime_ns == stamps[p] for p in videos)

    render_standin("kinetics400", root, seed=1, **small)  # another seed: other ids, and the old videos go
    assert len(rendered) == len(videos) and kinetics_rows(root) != rows
    assert sorted((root / "videos").iterdir()) == sorted(rendered)
    assert not set(videos) & set(rendered)

    rendered.clear()
    by_id = {r["youtube_id"]: r for r in kinetics_rows(root)}
    before = {p: p.read_bytes() for p in (root / "videos").iterdir()}
    render_standin("kinetics400", root, seed=1, **dict(small, seconds=(2.0, 2.5)))  # same ids, other durations
    assert sorted(rendered) == sorted(before)
    after = {r["youtube_id"]: r for r in kinetics_rows(root)}
    assert any(after[i]["time_end"] != by_id[i]["time_end"] for i in by_id)
    assert all(p.read_bytes() != data for p, data in before.items())
    assert not list(tmp_path.rglob("*.tmp*"))
