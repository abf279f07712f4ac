"""``i3d data real-footage``: the real clips tests/real_clips.sh fetches, cut into a dataset in UCF-101's layout that
the project's own UCF-101 reader (what ``source: local`` runs) ingests unchanged, with group-disjoint splits; for
``--task scene`` one class per source, for ``--task motion`` one per way of playing a segment (forward, backward,
twice the speed), each with clips of every source.

The clips are looked for in ``I3D_REAL_CLIPS`` (default ``resources/real_clips``); without them the tests that cut
them skip, except in CI (``CI=true``), where that is an error, as in tests/test_tvl1.py.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from i3d.cli import main
from i3d.data.annotations import read_annotations
from i3d.data.validation import clip_groups
from i3d.data.video import decode
from i3d.standin import real_footage
from i3d.standin.real_footage import (DEFAULTS, FootageSettings, Segment, build_real_footage, clip_counts, deal,
                                      group_starts, held_out_groups, motion_plan, split_lists)

# what the default settings cut from the four clips (1.28 s segments, at most 18 a class): cup.mp4's 8.1 s hold 6,
# box.mp4's 15.2 s 11; the other two are longer than 18 segments
EXPECTED_CLIPS = {"BoxMovedByHand": 11, "CupMovedByHand": 6, "Pedestrians": 18, "TreeInWind": 18}
# the motion task's default clips of each class per source: one clip of each class takes 32 + 32 + 64 source frames,
# so cup.mp4's 201 frames give 1, box.mp4's 378 2, tree.avi's 739 5, and vtest.avi (1986) is capped at 9
MOTION_SOURCES = {"box.mp4": 2, "cup.mp4": 1, "tree.avi": 5, "vtest.avi": 9}
AVAILABLE = {"box.mp4": 378, "cup.mp4": 201, "tree.avi": 739, "vtest.avi": 1986}  # frames at 25 fps, less one


def real_clips_folder() -> Path:
    """The folder of the four real clips; skip without them, except in CI, which fetches them."""
    folder = Path(os.environ.get("I3D_REAL_CLIPS", Path(__file__).parents[1] / "resources" / "real_clips"))
    missing = [name for name in real_footage.SOURCES.values() if not (folder / name).is_file()]
    if not missing:
        return folder
    reason = f"real clips missing in {folder} ({', '.join(missing)}): tests/real_clips.sh fetches them"
    if os.environ.get("CI", "").lower() in ("1", "true"):
        pytest.fail(f"{reason}; .ci/run does, so in CI this is an error")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The dataset with the default settings, written by the command a user runs."""
    root = tmp_path_factory.mktemp("real") / "real_ucf101"
    assert main(["data", "real-footage", "--clips", str(real_clips_folder()), "--out", str(root)]) == 0
    return root


@pytest.fixture(scope="module")
def manifest(built):
    return read_annotations("ucf101", built)


@pytest.fixture(scope="module")
def built_motion(tmp_path_factory) -> Path:
    """The motion task's dataset with its default settings, written by the command a user runs."""
    root = tmp_path_factory.mktemp("real") / "real_ucf101_motion"
    assert main(["data", "real-footage", "--task", "motion", "--clips", str(real_clips_folder()),
                 "--out", str(root)]) == 0
    return root


@pytest.fixture(scope="module")
def motion_manifest(built_motion):
    return read_annotations("ucf101", built_motion)


@pytest.fixture(scope="module")
def source_frames():
    """A source's frames, decoded as the build decodes it (whole, at 25 fps and 240 high), once per module."""
    cache = {}

    def frames(name: str) -> np.ndarray:
        if name not in cache:
            cache[name] = decode(real_clips_folder() / name, fps=25, short_side=240).astype(np.int16)
        return cache[name]
    return frames


def segments(root: Path) -> dict[str, Segment]:
    """The build's own record of the frames each clip was cut from."""
    record = json.loads((root / real_footage.STAMP).read_text())["segments"]
    return {rel: Segment(**fields) for rel, fields in record.items()}


def motion_of(clip: np.ndarray) -> float:
    """Mean absolute difference between consecutive frames, in grey levels."""
    return float(np.abs(np.diff(clip.astype(np.int16), axis=0)).mean())


def test_the_ucf101_reader_finds_every_clip_with_its_class(built, manifest):
    assert (manifest.status == "ok").all(), manifest.loc[manifest.status != "ok", "reason"].tolist()
    assert manifest.groupby("label").size().to_dict() == EXPECTED_CLIPS
    on_disk = {c: len(list((built / "UCF-101" / c).glob("v_*.avi"))) for c in EXPECTED_CLIPS}
    assert on_disk == EXPECTED_CLIPS
    assert dict(zip(manifest.label, manifest.label_index)) == {c: i for i, c in enumerate(sorted(EXPECTED_CLIPS))}
    assert (built / "ucfTrainTestlist" / "classInd.txt").read_bytes().endswith(b"TreeInWind\r\n")  # UCF's CRLF


@pytest.mark.parametrize("which", ["manifest", "motion_manifest"])
def test_each_split_trains_and_tests_every_class_and_uses_every_clip(request, which):
    manifest = request.getfixturevalue(which)
    for split in ("split1", "split2", "split3"):
        assert set(manifest[split]) == {"train", "test"}, split  # no clip left out of a split
        for role in ("train", "test"):
            assert set(manifest.loc[manifest[split] == role, "label"]) == set(manifest.label), (split, role)


@pytest.mark.parametrize("which", ["manifest", "motion_manifest"])
def test_splits_keep_groups_whole_and_hold_out_different_groups(request, which):
    manifest = request.getfixturevalue(which)
    groups = manifest.assign(group=clip_groups(manifest))
    tested = []
    for split in ("split1", "split2", "split3"):
        train = set(groups.loc[groups[split] == "train", "group"])
        test = set(groups.loc[groups[split] == "test", "group"])
        assert not train & test, (split, sorted(train & test))
        tested.append(test)
    assert not (tested[0] & tested[1] or tested[0] & tested[2] or tested[1] & tested[2])
    # enough for the probe's 3-fold cross-validation, which keeps groups whole: 3 training groups a class or more
    train1 = groups[groups.split1 == "train"]
    assert train1.groupby("label").group.nunique().min() >= 3


def test_the_clips_decode_at_25_fps_for_their_length(manifest):
    """The first and last clip of each class (the last lies near its source's end) through the frames stage's
    decoder: 1.28 s at 25 fps is 32 frames, at UCF-101's 320x240."""
    expected = round(FootageSettings().seconds * 25)
    for _, clips in manifest.groupby("label"):
        for path in (clips.path.iloc[0], clips.path.iloc[-1]):
            frames = decode(path, fps=25, short_side=240)
            assert abs(len(frames) - expected) <= 1, (path, len(frames))
            assert frames.shape[1:] == (240, 320, 3), path
            assert frames.std() > 10, path  # footage, not a blank frame


def test_a_second_build_changes_nothing_and_another_is_refused(built, tmp_path):
    stamp = built / real_footage.STAMP
    before = {p: p.stat().st_mtime_ns for p in built.rglob("*")}
    assert build_real_footage(real_clips_folder(), built) == EXPECTED_CLIPS
    assert {p: p.stat().st_mtime_ns for p in built.rglob("*")} == before
    with pytest.raises(FileExistsError, match="other settings"):
        build_real_footage(real_clips_folder(), built, FootageSettings(seconds=1.0))
    assert json.loads(stamp.read_text())["settings"]["seconds"] == FootageSettings().seconds
    foreign = tmp_path / "ucf101"
    (foreign / "UCF-101").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not a real-footage build"):
        build_real_footage(real_clips_folder(), foreign)


def test_a_build_that_fails_leaves_no_dataset_and_the_next_one_completes(tmp_path, monkeypatch):
    clips, out = real_clips_folder(), tmp_path / "real_ucf101"
    calls = []

    def failing_encode(path, frames, fps, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        return encode(path, frames, fps, **kwargs)

    encode = real_footage.encode
    monkeypatch.setattr(real_footage, "encode", failing_encode)
    small = FootageSettings(seconds=1.0, groups=3, max_clips=3)
    with pytest.raises(OSError, match="disk full"):
        build_real_footage(clips, out, small)
    assert not out.exists()
    monkeypatch.setattr(real_footage, "encode", encode)
    assert build_real_footage(clips, out, small) == dict.fromkeys(EXPECTED_CLIPS, 3)
    assert len(read_annotations("ucf101", out)) == 12
    assert [p.name for p in tmp_path.iterdir()] == ["real_ucf101"]  # the partial build is gone


def test_missing_clips_are_named_with_the_script_that_fetches_them(tmp_path):
    (tmp_path / "vtest.avi").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"box\.mp4, cup\.mp4, tree\.avi .*tests/real_clips\.sh"):
        build_real_footage(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_real_clips_fail_in_ci_and_skip_elsewhere(monkeypatch, tmp_path, ci, outcome):
    monkeypatch.setenv("I3D_REAL_CLIPS", str(tmp_path / "absent"))
    monkeypatch.setenv("CI", ci)
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception)) as raised:
        real_clips_folder()
    assert raised.type is outcome


def test_groups_are_runs_of_adjacent_segments_spread_over_the_source():
    starts = group_starts(available=1000, clips=11, groups=6, length=32)
    assert [len(g) for g in starts] == [2, 2, 2, 2, 2, 1]
    for group in starts:
        assert [b - a for a, b in zip(group, group[1:])] == [32] * (len(group) - 1)
    gaps = [nxt[0] - (cur[-1] + 32) for cur, nxt in zip(starts, starts[1:])]
    assert len(set(gaps)) == 1 and gaps[0] == (1000 - 11 * 32) // 5
    assert starts[-1][-1] + 32 <= 1000
    with pytest.raises(ValueError, match="cannot place 7 segments"):
        group_starts(available=200, clips=7, groups=6, length=32)


def test_split_lists_are_written_as_ucf101_writes_them():
    clips = {"Walk": [[f"Walk/v_Walk_g{g:02d}_c01.avi"] for g in range(1, 8)],
             "Run": [[f"Run/v_Run_g{g:02d}_c01.avi"] for g in range(1, 4)]}
    texts = split_lists(clips)
    assert texts["classInd.txt"] == "1 Run\r\n2 Walk\r\n"
    assert texts["testlist02.txt"] == "Run/v_Run_g02_c01.avi\r\nWalk/v_Walk_g03_c01.avi\r\nWalk/v_Walk_g04_c01.avi\r\n"
    assert texts["trainlist03.txt"].startswith("Run/v_Run_g01_c01.avi 1\r\nRun/v_Run_g02_c01.avi 1\r\n")
    assert "Walk/v_Walk_g07_c01.avi 2\r\n" in texts["trainlist01.txt"]  # beyond the three blocks: always trains
    assert [list(held_out_groups(7, s)) for s in (1, 2, 3)] == [[0, 1], [2, 3], [4, 5]]


def test_settings_that_cannot_make_a_dataset_are_refused(tmp_path):
    for settings, message in ((FootageSettings(seconds=0.02), "--seconds"), (FootageSettings(groups=2), "--groups"),
                              (FootageSettings(max_clips=4), "--max-clips")):
        with pytest.raises(ValueError, match=message):
            build_real_footage(tmp_path, tmp_path / "out", settings)


def test_the_motion_task_reads_as_ucf101_with_every_source_in_every_class_alike(built_motion, motion_manifest):
    bad = motion_manifest[motion_manifest.status != "ok"]
    assert bad.empty, bad.reason.tolist()
    assert dict(zip(motion_manifest.label, motion_manifest.label_index)) == {"Fast": 0, "Forward": 1, "Reversed": 2}
    assert set(segments(built_motion)) == {p.relative_to(built_motion / "UCF-101").as_posix()
                                           for p in (built_motion / "UCF-101").rglob("*.avi")}
    counts = clip_counts(built_motion)
    for label in ("Fast", "Forward", "Reversed"):
        assert counts.loc[("all", label)].drop("total").to_dict() == MOTION_SOURCES, label


def test_in_the_motion_task_the_scene_says_nothing_and_split1_mixes_sources(built_motion):
    """In every split's train and test lists, each class has as many clips of each source as the others (so the
    scene says nothing about the class), and in split 1 (the one config/real_footage.yaml runs) clips of three
    sources or more."""
    counts = clip_counts(built_motion).drop(columns="total")
    for name, table in counts.groupby(level="set"):
        assert (table.nunique() == 1).all(), (name, table)
    for role in ("split1 train", "split1 test"):
        assert ((counts.loc[role] > 0).sum(axis=1) >= 3).all(), (role, counts.loc[role])


def test_no_frame_is_in_two_clips_and_test_clips_do_not_continue_training_clips(built_motion, motion_manifest):
    """From the build's own record: per source, the clips' frame ranges do not overlap; and in each split, at least
    a second (25 frames) lies between a test clip and any training clip of the same source, whatever its class."""
    record = segments(built_motion)
    for source in MOTION_SOURCES:
        spans = sorted((s.start, s.stop, rel) for rel, s in record.items() if s.source == source)
        assert all(stop <= start for (_, stop, _), (start, _, _) in zip(spans, spans[1:])), (source, spans)
    for split in ("split1", "split2", "split3"):
        role = {f"{label}/{clip_id}.avi": r for label, clip_id, r in
                zip(motion_manifest.label, motion_manifest.clip_id, motion_manifest[split])}
        for rel, test in record.items():
            if role[rel] != "test":
                continue
            for other, train in record.items():
                if role[other] == "train" and train.source == test.source:
                    gap = max(train.start - test.stop, test.start - train.stop)
                    assert gap >= 25, (split, rel, other, gap)


@pytest.mark.parametrize("which", ["built", "built_motion"])
def test_every_clip_holds_the_source_frames_its_record_names(request, which, source_frames):
    """Each clip of the two short sources, decoded, against its source decoded the same way: its recorded frames,
    every ``step``-th, backwards for Reversed, within the re-encoding's error (2-3 grey levels); a Reversed clip
    played forwards, or a clip cut from elsewhere, is far off. Clips after a gap longer than a decoding window
    are among them."""
    root = request.getfixturevalue(which)
    checked = 0
    for rel, segment in segments(root).items():
        if segment.source not in ("box.mp4", "cup.mp4"):
            continue
        clip = decode(root / "UCF-101" / rel, fps=25, short_side=240).astype(np.int16)
        frames = source_frames(segment.source)[segment.start:segment.stop:segment.step]
        expected = frames[::-1] if segment.reverse else frames
        assert clip.shape == expected.shape, rel
        error = np.abs(clip - expected).mean(axis=(1, 2, 3))
        assert error.max() < 6, (rel, segment, error.round(1))
        if rel.startswith("Reversed/") and motion_of(frames) > 1:  # a still stretch looks the same either way
            assert np.abs(clip - frames).mean() > 2 * error.mean(), rel
        checked += 1
    assert checked == (17 if which == "built" else 9)


def test_fast_clips_move_more_and_reversed_as_much_as_forward(built_motion):
    """Mean absolute difference between consecutive frames, over each long source's clips of a class (the same
    stretches of the source for every class): at twice the speed it is clearly larger (1.6x here), backwards about
    the same. (On box.mp4 and cup.mp4, 1-2 clips a class, whether the hand moves in a clip decides it.)"""
    record = segments(built_motion)
    for source in ("tree.avi", "vtest.avi"):
        motion = {label: np.mean([motion_of(decode(built_motion / "UCF-101" / rel, fps=25, short_side=240))
                                  for rel, s in record.items() if s.source == source and rel.startswith(f"{label}/")])
                  for label in ("Fast", "Forward", "Reversed")}
        assert motion["Fast"] > 1.4 * motion["Forward"], (source, motion)
        assert 0.85 < motion["Reversed"] / motion["Forward"] < 1.15, (source, motion)


def test_stamps_tell_the_tasks_apart(built, built_motion, tmp_path):
    scene, motion = (json.loads((root / real_footage.STAMP).read_text()) for root in (built, built_motion))
    assert (scene["task"], motion["task"]) == ("scene", "motion")
    with pytest.raises(FileExistsError, match=r"other task \("):  # the same settings, another task
        build_real_footage(real_clips_folder(), built, DEFAULTS["scene"], task="motion")
    with pytest.raises(FileExistsError, match=r"other task \("):
        build_real_footage(real_clips_folder(), built_motion, DEFAULTS["motion"], task="scene")
    old = tmp_path / "real_ucf101"  # a scene build from before the stamp kept a version (cut with the window bug)
    old.mkdir()
    (old / real_footage.STAMP).write_text(json.dumps({k: v for k, v in scene.items() if k not in ("version", "task")}))
    with pytest.raises(FileExistsError, match=r"other version \("):
        build_real_footage(real_clips_folder(), old)


def test_the_motion_plan_deals_each_sources_groups_to_every_class_alike():
    """Without video: the default plan for the four sources' lengths gives every class the same segments' worth of
    each source; a group number is one stretch of one source in every class (so a split holds it out for all of
    them); split 1 tests and trains on three sources or more; no frame is in two segments."""
    plan = motion_plan(AVAILABLE, DEFAULTS["motion"])
    assert list(plan) == ["Forward", "Reversed", "Fast"]
    layout = {label: [[s.source for s in group] for group in groups] for label, groups in plan.items()}
    assert layout["Forward"] == layout["Reversed"] == layout["Fast"] and len(layout["Fast"]) == 9  # 1 + 2 + 3 + 3
    assert all(len(set(group)) == 1 for group in layout["Fast"])  # a group: one source
    for label, groups in plan.items():
        assert {source: sum(s.source == source for g in groups for s in g) for source in AVAILABLE} == MOTION_SOURCES
        held = held_out_groups(len(groups), 1)
        assert len({g[0].source for i, g in enumerate(groups) if i in held}) >= 3, label
        assert len({g[0].source for i, g in enumerate(groups) if i not in held}) >= 3, label
        step, reverse = {"Forward": (1, False), "Reversed": (1, True), "Fast": (2, False)}[label]
        assert {(s.stop - s.start, s.step, s.reverse) for g in groups for s in g} == {(32 * step, step, reverse)}
    for i in range(9):  # group i of every class: adjacent runs filling one stretch of the source
        stretch = [s for groups in plan.values() for s in groups[i]]
        assert max(s.stop for s in stretch) - min(s.start for s in stretch) == sum(s.stop - s.start for s in stretch)
    spans = sorted((s.source, s.start, s.stop) for groups in plan.values() for g in groups for s in g)
    assert all(a[0] != b[0] or a[2] <= b[1] for a, b in zip(spans, spans[1:]))
    assert all(stop <= AVAILABLE[source] for source, _, stop in spans)


def test_deal_takes_one_group_of_each_source_a_round_longest_first():
    assert deal({"b": ["b1"], "a": ["a1", "a2"], "c": ["c1", "c2", "c3"]}) == ["c1", "a1", "b1", "c2", "a2", "c3"]


def test_motion_settings_that_cannot_make_a_dataset_are_refused():
    with pytest.raises(ValueError, match=r"cup\.mp4 \(201 frames at 25 fps\) is shorter than one clip of each motion "
                                         r"class \(204 frames\)"):
        motion_plan(AVAILABLE, FootageSettings(seconds=2.04, groups=3, max_clips=9))
    with pytest.raises(ValueError, match="unknown real-footage task 'speed'"):
        build_real_footage("nowhere", "nowhere", task="speed")
