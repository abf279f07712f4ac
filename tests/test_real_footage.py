"""``i3d data real-footage``: the real clips tests/real_clips.sh fetches, cut into a dataset in UCF-101's layout that
the project's own UCF-101 reader (what ``source: local`` runs) ingests unchanged, with group-disjoint splits.

The clips are looked for in ``I3D_REAL_CLIPS`` (default ``resources/real_clips``); without them the tests that cut
them skip, except in CI (``CI=true``), where that is an error, as in tests/test_tvl1.py.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from i3d.cli import main
from i3d.data.annotations import read_annotations
from i3d.data.validation import clip_groups
from i3d.data.video import decode
from i3d.standin import real_footage
from i3d.standin.real_footage import FootageSettings, build_real_footage, group_starts, held_out_groups, split_lists

# what the default settings cut from the four clips (1.28 s segments, at most 18 a class): cup.mp4's 8.1 s hold 6,
# box.mp4's 15.2 s 11; the other two are longer than 18 segments
EXPECTED_CLIPS = {"BoxMovedByHand": 11, "CupMovedByHand": 6, "Pedestrians": 18, "TreeInWind": 18}


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


def test_the_ucf101_reader_finds_every_clip_with_its_class(built, manifest):
    assert (manifest.status == "ok").all(), manifest.loc[manifest.status != "ok", "reason"].tolist()
    assert manifest.groupby("label").size().to_dict() == EXPECTED_CLIPS
    on_disk = {c: len(list((built / "UCF-101" / c).glob("v_*.avi"))) for c in EXPECTED_CLIPS}
    assert on_disk == EXPECTED_CLIPS
    assert dict(zip(manifest.label, manifest.label_index)) == {c: i for i, c in enumerate(sorted(EXPECTED_CLIPS))}
    assert (built / "ucfTrainTestlist" / "classInd.txt").read_bytes().endswith(b"TreeInWind\r\n")  # UCF's CRLF


def test_each_split_trains_and_tests_every_class_and_uses_every_clip(manifest):
    for split in ("split1", "split2", "split3"):
        assert set(manifest[split]) == {"train", "test"}, split  # no clip left out of a split
        for role in ("train", "test"):
            assert set(manifest.loc[manifest[split] == role, "label"]) == set(EXPECTED_CLIPS), (split, role)


def test_splits_keep_groups_whole_and_hold_out_different_groups(manifest):
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
