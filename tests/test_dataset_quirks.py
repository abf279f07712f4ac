"""The real distributions' quirks, each fixture written byte for byte the way the real files are
(datasets reference §1.2-§2.2), so that a reader that only works on tidied-up copies fails here:

- CVDF part tarballs: a ``./`` directory entry first, then ``./<id>_<start>_<end>.mp4`` members, mode 0755;
- ``replacement_for_corrupted_k400.tgz``: ``replacement_for_corrupted_k400/<the train clip's name>.mp4``;
- Kinetics-400 CSVs quote multi-word labels (``"air drumming",--nQbRBEz2s,104,114,val,0``), the labelled test CSV
  may lack ``is_cc``; Kinetics-600's val CSV quotes nothing and has no ``is_cc``; YouTube ids start with ``-``/``_``;
- UCF-101 split lists end every line with CRLF, test lists carry no label, and the class ``HandstandPushups`` holds
  ``v_HandStandPushups_gNN_cNN.avi``;
- HMDB-51 ``<class>_test_split<N>.txt``: ``<video>.avi <0|1|2>`` with a trailing space, and names with
  ``(``, ``)``, ``!``, ``-``, ``&``, ``;``.
"""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from i3d.acquire.cvdf import fetch_annotations, fetch_part, fetch_replacement
from i3d.acquire.layouts import install_hmdb51, install_ucf101
from i3d.data.annotations import read_annotations
from i3d.data.validation import carve_validation
from loopback import LoopbackServer
from test_layouts import _tar as tar_bytes
from test_layouts import _zip

DASH_ID, UNDERSCORE_ID = "--nQbRBEz2s", "_0pGNHBdpGo"
K400_TRAIN = ('label,youtube_id,time_start,time_end,split,is_cc\r\n'
              f'"air drumming",{DASH_ID},4,14,train,0\r\n'
              f'abseiling,{UNDERSCORE_ID},30,40,train,1\r\n')
K400_VAL = f'label,youtube_id,time_start,time_end,split,is_cc\r\n"air drumming",{DASH_ID},104,114,val,0\r\n'
K400_TEST = f'label,youtube_id,time_start,time_end,split\r\nabseiling,-abcdefghij,0,10,test\r\n'  # no is_cc
K600_VAL = ("label,youtube_id,time_start,time_end,split\n"
            "mountain climber (exercise),-xyzxyzxyzx,12,22,val\nair drumming,_xyzxyzxyzx,0,10,val\n")


def _cvdf_part(members: list[str]) -> bytes:
    """A part as CVDF's tar made it: the ``./`` directory first, then ``./<clip>.mp4`` files, all mode 0755."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        top = tarfile.TarInfo("./")
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(top)
        for clip in members:
            info = tarfile.TarInfo(f"./{clip}.mp4")
            info.size, info.mode = len(clip), 0o755
            tf.addfile(info, io.BytesIO(clip.encode()))
    return buf.getvalue()


@pytest.fixture
def k400_mirror(tmp_path: Path):
    served = tmp_path / "served" / "400"
    (served / "annotations").mkdir(parents=True)
    (served / "annotations" / "train.csv").write_text(K400_TRAIN, newline="")
    (served / "annotations" / "val.csv").write_text(K400_VAL, newline="")
    (served / "annotations" / "test.csv").write_text(K400_TEST, newline="")
    train = [f"{DASH_ID}_000004_000014", f"{UNDERSCORE_ID}_000030_000040"]
    for split, clips in (("train", train), ("val", [f"{DASH_ID}_000104_000114"]),
                         ("test", ["-abcdefghij_000000_000010"])):
        (served / split).mkdir()
        (served / split / "part_0.tar.gz").write_bytes(_cvdf_part(clips))
        (served / split / f"k400_{split}_path.txt").write_text(
            f"https://s3.amazonaws.com/kinetics/400/{split}/part_0.tar.gz\n")
    repl = tarfile.TarInfo(f"replacement_for_corrupted_k400/{train[0]}.mp4")
    fixed = b"re-encoded copy"
    repl.size = len(fixed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.addfile(repl, io.BytesIO(fixed))
    (served / "replacement_for_corrupted_k400.tgz").write_bytes(buf.getvalue())
    with LoopbackServer(served.parent) as srv:
        yield srv, train


def test_cvdf_parts_with_a_dot_slash_directory_entry_and_mode_0755(k400_mirror, tmp_path):
    srv, train = k400_mirror
    root = tmp_path / "k400"
    mirrors = [f"{srv.url}/400"]
    fetch_annotations(mirrors, root, splits=("train", "val", "test"), progress=False)
    rows = fetch_part(mirrors, root, "train", 0, progress=False)
    assert {r["item"] for r in rows if r["kind"] == "clip"} == set(train)
    assert sorted(p.name for p in (root / "clips").iterdir()) == sorted(f"{c}.mp4" for c in train)
    marker = json.loads((root / "cvdf" / "train" / "part_0.done").read_text())
    assert sorted(marker["members"]) == sorted(f"{c}.mp4" for c in train)  # no "./" or "" member


def test_the_replacement_archive_holds_its_folder_and_the_train_names(k400_mirror, tmp_path):
    srv, train = k400_mirror
    root = tmp_path / "k400"
    mirrors = [f"{srv.url}/400"]
    fetch_annotations(mirrors, root, progress=False)
    fetch_part(mirrors, root, "train", 0, progress=False)
    rows = fetch_replacement(mirrors, root, progress=False)
    assert {r["item"] for r in rows if r["kind"] == "clip"} == {train[0]}
    assert (root / "clips" / f"{train[0]}.mp4").read_bytes() == b"re-encoded copy"


def test_k400_csvs_quoted_labels_dash_ids_and_a_test_list_without_is_cc(k400_mirror, tmp_path):
    srv, _ = k400_mirror
    root = tmp_path / "k400"
    fetch_annotations([f"{srv.url}/400"], root, splits=("train", "val", "test"), path_lists=False, progress=False)
    manifest = read_annotations("kinetics400", root).set_index("clip_id")
    assert manifest.loc[f"{DASH_ID}_000004_000014", "label"] == "air drumming"
    assert manifest.loc[f"{UNDERSCORE_ID}_000030_000040", "label"] == "abseiling"
    assert manifest.loc["-abcdefghij_000000_000010", "label"] == "abseiling"
    assert manifest.loc["-abcdefghij_000000_000010", "label_index"] == 0
    # one clip per YouTube video in validation groups, whatever its id starts with
    assert carve_validation(manifest.reset_index(), 1, 0.5) <= {f"{DASH_ID}_000004_000014",
                                                                f"{UNDERSCORE_ID}_000030_000040"}


def test_k600_val_csv_without_quotes_or_is_cc(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "train.csv").write_text(K600_VAL.replace(",val\n", ",train\n"))
    (tmp_path / "annotations" / "validate.csv").write_text(K600_VAL)
    manifest = read_annotations("kinetics400", tmp_path).set_index("clip_id")
    assert manifest.loc["-xyzxyzxyzx_000012_000022", "label"] == "mountain climber (exercise)"
    assert manifest.loc["_xyzxyzxyzx_000000_000010", "label"] == "air drumming"
    assert sorted(manifest.label.unique()) == ["air drumming", "mountain climber (exercise)"]


UCF_TRAIN = ["HandstandPushups/v_HandStandPushups_g08_c01.avi", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"]
UCF_TEST = ["HandstandPushups/v_HandStandPushups_g01_c01.avi", "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"]


def test_ucf101_crlf_lists_unlabelled_test_lists_and_handstand_pushups(tmp_path):
    archives = tmp_path / "archives"
    archives.mkdir()
    classes = {"ApplyEyeMakeup": 1, "HandstandPushups": 37}
    lists = {"classInd.txt": "".join(f"{i} {c}\r\n" for c, i in classes.items())}
    for n in (1, 2, 3):
        lists[f"trainlist0{n}.txt"] = "".join(f"{r} {classes[r.split('/')[0]]}\r\n" for r in UCF_TRAIN)
        lists[f"testlist0{n}.txt"] = "".join(f"{r}\r\n" for r in UCF_TEST)
    (archives / "splits.zip").write_bytes(_zip({f"ucfTrainTestlist/{k}": v.encode() for k, v in lists.items()}))
    (archives / "UCF101.rar").write_bytes(_zip({f"UCF-101/{r}": r.encode() for r in UCF_TRAIN + UCF_TEST}))
    counts = install_ucf101(archives / "UCF101.rar", archives / "splits.zip", tmp_path / "ucf101")
    assert counts["missing"] == 0 and counts["listed"] == 4
    manifest = read_annotations("ucf101", tmp_path / "ucf101").set_index("clip_id")
    row = manifest.loc["v_HandStandPushups_g01_c01"]
    assert (row.label, row.label_index, row.split1, row.status) == ("HandstandPushups", 36, "test", "ok")
    assert manifest.loc["v_HandStandPushups_g08_c01", "split2"] == "train"
    assert not any("\r" in str(v) for v in manifest.reset_index().to_numpy().ravel())


HMDB_NAMES = ["American_History_X_(1998)_brush_hair_h_nm_np1_fr_goo_0.avi",
              "Die_Hard!_brush_hair_f_cm_np1_ba_med_1.avi",
              "Rat-Race_&_Friends;_brush_hair_u_nm_np1_le_goo_2.avi"]


def test_hmdb51_split_lines_with_a_trailing_space_and_odd_names(tmp_path):
    archives = tmp_path / "archives"
    archives.mkdir()
    inner = _zip({f"brush_hair/{n}": n.encode() for n in HMDB_NAMES})
    (archives / "hmdb51_org.rar").write_bytes(tar_bytes({"brush_hair.rar": inner}))
    split = "".join(f"{n} {flag} \n" for n, flag in zip(HMDB_NAMES, "120"))
    (archives / "splits.rar").write_bytes(_zip({f"testTrainMulti_7030_splits/brush_hair_test_split{n}.txt":
                                                split.encode() for n in (1, 2, 3)}))
    counts = install_hmdb51(archives / "hmdb51_org.rar", archives / "splits.rar", tmp_path / "hmdb51")
    assert counts["missing"] == 0 and counts["listed"] == 3
    manifest = read_annotations("hmdb51", tmp_path / "hmdb51").set_index("clip_id")
    assert list(manifest.loc[[Path(n).stem for n in HMDB_NAMES], "split1"]) == ["train", "test", "none"]
    assert (manifest.status == "ok").all() and set(manifest.label) == {"brush_hair"}
    assert pd.Series([Path(p).is_file() for p in manifest.path]).all()
