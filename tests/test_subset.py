"""``subset.max_per_class`` caps each class in each split (issue 27 item 9), on UCF-101's layout, where a clip's
role differs between the three splits (each group is in the test split of one split and trains in the others)."""
from __future__ import annotations

from pathlib import Path

import pytest

from i3d.data.annotations import SPLIT_COLUMNS, read_annotations, select_subset

CLASSES = ("Archery", "Biking", "Diving")


def _test_split(group: int) -> int | None:
    """UCF-101's rotation: groups 1-7 are tested in split 1, 8-14 in split 2, 15-21 in split 3, 22-25 never."""
    return (group - 1) // 7 + 1 if group <= 21 else None


@pytest.fixture
def ucf_lists(tmp_path: Path) -> Path:
    """UCF-101's annotation lists (no videos: the manifest marks them missing, which the subset ignores):
    3 classes x 25 groups x 4 clips."""
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(CLASSES, start=1)))
    clips = [(f"{c}/v_{c}_g{g:02d}_c{k:02d}.avi", i, g) for i, c in enumerate(CLASSES, start=1)
             for g in range(1, 26) for k in range(1, 5)]
    for n in (1, 2, 3):
        (lists / f"trainlist0{n}.txt").write_text("".join(f"{r} {i}\n" for r, i, g in clips if _test_split(g) != n))
        (lists / f"testlist0{n}.txt").write_text("".join(f"{r}\n" for r, _, g in clips if _test_split(g) == n))
    return tmp_path


def test_max_per_class_caps_each_split_on_its_own(ucf_lists):
    manifest = read_annotations("ucf101", ucf_lists)
    subset = select_subset(manifest, max_per_class=10)
    for column in SPLIT_COLUMNS:
        counts = subset[subset[column] != "none"].groupby(["label", column]).size()
        assert counts.to_dict() == {(c, role): 10 for c in CLASSES for role in ("train", "test")}, column
        for (label, role), chosen in subset[subset[column] != "none"].groupby(["label", column]).clip_id:
            pool = manifest[(manifest.label == label) & (manifest[column] == role)].clip_id
            assert sorted(chosen) == sorted(pool)[:10]  # the first by clip id: the same on every run
    original = manifest.set_index("clip_id")
    for clip in subset.itertuples():  # a clip's role is the list's, or none where it is beyond that split's cap
        assert all(getattr(clip, c) in (original.at[clip.clip_id, c], "none") for c in SPLIT_COLUMNS)
        assert any(getattr(clip, c) != "none" for c in SPLIT_COLUMNS)  # kept for some split
    # split 1's test clips (groups 1-7) and training clips (group 8 on) do not share a group, as in the lists
    split1 = subset[subset.split1 != "none"]
    groups = split1.clip_id.str.extract(r"_g(\d\d)_", expand=False).astype(int)
    assert (groups[split1.split1 == "test"] <= 7).all() and (groups[split1.split1 == "train"] > 7).all()


def test_max_per_class_with_classes_and_a_cap_above_the_split(ucf_lists):
    manifest = read_annotations("ucf101", ucf_lists)
    subset = select_subset(manifest, classes=2, max_per_class=1000)
    assert set(subset.label) == {"Archery", "Biking"} and sorted(subset.label_index.unique()) == [0, 1]
    assert len(subset) == 2 * 25 * 4  # every clip of the two classes: none is beyond the cap
    assert subset[list(SPLIT_COLUMNS)].equals(
        manifest[manifest.label.isin(["Archery", "Biking"])][list(SPLIT_COLUMNS)].reset_index(drop=True))


def test_max_per_class_keeps_kinetics_official_validation_list(tmp_path):
    """With a labelled test list, Kinetics' official val list is a third role (``val``, model selection): the cap
    keeps N of each class there too instead of dropping them all (the two changes met in one merge)."""
    ann = tmp_path / "annotations"
    ann.mkdir()
    for name, split, tag in (("train", "train", "r"), ("validate", "val", "v"), ("test", "test", "t")):
        rows = [f"{c},{tag}{c[:1]}{k:09d},{10 * k},{10 * k + 10},{split}\n" for c in ("abseiling", "bowling")
                for k in range(5)]
        (ann / f"{name}.csv").write_text("label,youtube_id,time_start,time_end,split\n" + "".join(rows))
    manifest = read_annotations("kinetics400", tmp_path)
    assert set(manifest.split1) == {"train", "val", "test"}
    subset = select_subset(manifest, max_per_class=2)
    assert subset.groupby(["label", "split1"]).size().to_dict() == {
        (c, role): 2 for c in ("abseiling", "bowling") for role in ("train", "val", "test")}
