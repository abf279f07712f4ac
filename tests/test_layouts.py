"""i3d.acquire.layouts: UCF-101 and HMDB-51 archives built here (zip/tar standing in for the RARs, under the real file
names, as a re-packing mirror would), served on 127.0.0.1, downloaded with i3d.acquire.download, installed, and read
back with read_annotations."""
from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from i3d.acquire import layouts
from i3d.data.annotations import read_annotations
from i3d.acquire.archives import ArchiveError
from i3d.acquire.download import download
from i3d.acquire.layouts import install_hmdb51, install_ucf101
from loopback import LoopbackServer

FAST = {"timeout_s": 5.0, "backoff_s": 0.001, "progress": False}
UCF_CLIPS = [f"{c}/v_{c}_g{g:02d}_c01.avi" for c in ("ApplyEyeMakeup", "YoYo") for g in (1, 2, 8)]
UCF_MISSING = "YoYo/v_YoYo_g09_c01.avi"  # listed, but the mirror lacks it
HMDB_CLIPS = {"brush_hair": ["Aussie_brush_hair_0.avi", "Blonde_brush_hair_1.avi"],
              "cartwheel": ["Cartwheel_f_cm_np1_le_bad_0.avi", "Cartwheel_f_cm_np1_ri_bad_1.avi"]}


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def ucf_archives(folder: Path) -> None:
    """UCF101.rar as a zip with top folder UCF101/ (not UCF-101/), and the split zip as published."""
    (folder / "UCF101.rar").write_bytes(_zip({f"UCF101/{rel}": rel.encode() for rel in UCF_CLIPS}))
    train = [rel for rel in UCF_CLIPS if "_g08_" in rel] + [UCF_MISSING]
    lists = {"classInd.txt": "1 ApplyEyeMakeup\n2 YoYo\n"}
    for n in (1, 2, 3):
        lists[f"trainlist0{n}.txt"] = "".join(f"{r} {1 + r.startswith('YoYo')}\n" for r in train)
        lists[f"testlist0{n}.txt"] = "".join(f"{r}\n" for r in UCF_CLIPS if r not in train)
    (folder / "UCF101TrainTestSplits-RecognitionTask.zip").write_bytes(
        _zip({f"ucfTrainTestlist/{k}": v.encode() for k, v in lists.items()}))


def hmdb_archives(folder: Path) -> None:
    """hmdb51_org.rar as a tar of per-class archives (a zip and a gzipped tar, named .rar), and the splits."""
    inner = {"brush_hair.rar": _zip, "cartwheel.rar": lambda m: _tar(m, "w:gz")}
    outer = {name: pack({f"{name[:-4]}/{clip}": clip.encode() for clip in HMDB_CLIPS[name[:-4]]})
             for name, pack in inner.items()}
    (folder / "hmdb51_org.rar").write_bytes(_tar(outer))
    splits = {f"testTrainMulti_7030_splits/{label}_test_split{n}.txt": f"{clips[0]} 1 \n{clips[1]} 2 \n".encode()
              for label, clips in HMDB_CLIPS.items() for n in (1, 2, 3)}
    (folder / "test_train_splits.rar").write_bytes(_zip(splits))


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[LoopbackServer]:
    served = tmp_path / "served"
    served.mkdir()
    ucf_archives(served)
    hmdb_archives(served)
    with LoopbackServer(served) as srv:
        yield srv


def _fetch(srv: LoopbackServer, name: str, folder: Path) -> Path:
    """Download ``name`` through a mirror list whose first entry answers 404."""
    download([f"{srv.url}/gone/{name}", f"{srv.url}/{name}"], folder / name, **FAST)
    return folder / name


def _ucf(srv: LoopbackServer, tmp_path: Path) -> tuple[Path, Path]:
    return (_fetch(srv, "UCF101.rar", tmp_path / "dl"),
            _fetch(srv, "UCF101TrainTestSplits-RecognitionTask.zip", tmp_path / "dl"))


def _hmdb(srv: LoopbackServer, tmp_path: Path) -> tuple[Path, Path]:
    return _fetch(srv, "hmdb51_org.rar", tmp_path / "dl"), _fetch(srv, "test_train_splits.rar", tmp_path / "dl")


def test_ucf101_from_a_repacked_mirror(mirror: LoopbackServer, tmp_path: Path) -> None:
    videos, splits = _ucf(mirror, tmp_path)
    root = tmp_path / "ucf101"
    assert install_ucf101(videos, splits, root) == {
        "videos": 6, "listed": 7, "missing": 1, "extracted": [videos.name, splits.name]}
    assert sorted(p.relative_to(root / "UCF-101").as_posix() for p in root.rglob("*.avi")) == sorted(UCF_CLIPS)
    df = read_annotations("ucf101", root).set_index("clip_id")
    assert len(df) == 7 and (df.drop(Path(UCF_MISSING).stem).status == "ok").all()
    assert df.loc[Path(UCF_MISSING).stem, "status"] == "missing"
    assert df.loc["v_YoYo_g01_c01", ["label", "label_index", "split1"]].tolist() == ["YoYo", 1, "test"]
    assert sorted(p.name for p in root.iterdir()) == [
        ".installed-UCF101.rar", ".installed-UCF101TrainTestSplits-RecognitionTask.zip", "UCF-101",
        "ucfTrainTestlist"]  # no staging folder left
    assert [path for path, _ in mirror.seen] == [
        "/gone/UCF101.rar", "/UCF101.rar", "/gone/UCF101TrainTestSplits-RecognitionTask.zip",
        "/UCF101TrainTestSplits-RecognitionTask.zip"]


def test_hmdb51_unpacks_each_class_archive(mirror: LoopbackServer, tmp_path: Path) -> None:
    videos, splits = _hmdb(mirror, tmp_path)
    root = tmp_path / "hmdb51"
    assert install_hmdb51(videos, splits, root) == {
        "videos": 4, "listed": 4, "missing": 0, "extracted": [videos.name, splits.name]}
    assert sorted(p.name for p in root.iterdir()) == [
        ".installed-hmdb51_org.rar", ".installed-test_train_splits.rar", "hmdb51_org", "testTrainMulti_7030_splits"]
    assert not list((root / "hmdb51_org").rglob("*.rar"))
    df = read_annotations("hmdb51", root)
    assert (df.status == "ok").all()
    assert sorted(zip(df.label, df.clip_id, df.split1)) == [
        ("brush_hair", "Aussie_brush_hair_0", "train"), ("brush_hair", "Blonde_brush_hair_1", "test"),
        ("cartwheel", "Cartwheel_f_cm_np1_le_bad_0", "train"), ("cartwheel", "Cartwheel_f_cm_np1_ri_bad_1", "test")]
    assert (root / "hmdb51_org/cartwheel/Cartwheel_f_cm_np1_le_bad_0.avi").read_bytes() == \
        b"Cartwheel_f_cm_np1_le_bad_0.avi"


def test_an_installed_layout_is_not_extracted_again(mirror: LoopbackServer, tmp_path: Path, monkeypatch) -> None:
    videos, splits = _ucf(mirror, tmp_path)
    root = tmp_path / "ucf101"
    first = install_ucf101(videos, splits, root)
    (root / "UCF-101" / UCF_MISSING).write_bytes(b"found later")  # counted by the check, not by the marker
    monkeypatch.setattr(layouts, "extract", lambda *a, **k: pytest.fail("extracted again"))
    assert install_ucf101(videos, splits, root) == {**first, "missing": 0, "extracted": []}


def test_an_interrupted_install_reruns_cleanly(mirror: LoopbackServer, tmp_path: Path, monkeypatch) -> None:
    videos, splits = _hmdb(mirror, tmp_path)
    root = tmp_path / "hmdb51"
    real = layouts.extract
    calls = []

    def killed_on_the_second_class(archive, dest, **kwargs):
        calls.append(Path(archive).name)
        if len(calls) == 3:  # the outer archive, one class, then the run is killed
            raise KeyboardInterrupt
        return real(archive, dest, **kwargs)

    monkeypatch.setattr(layouts, "extract", killed_on_the_second_class)
    with pytest.raises(KeyboardInterrupt):
        install_hmdb51(videos, splits, root)
    assert not list(root.glob(".installed-*")) and not (root / "hmdb51_org").exists()
    classes = root / ".extract-hmdb51_org.rar" / "classes"
    assert sorted(p.name for p in classes.iterdir()) == ["cartwheel.rar"]  # each deleted once extracted
    (classes.parent / "hmdb51_org/brush_hair/stale.avi").write_bytes(b"")  # as if killed mid-member
    (root / "hmdb51_org").mkdir()  # a half-moved folder from an even unluckier kill
    (root / "hmdb51_org" / "stale.avi").write_bytes(b"")
    monkeypatch.setattr(layouts, "extract", real)
    assert install_hmdb51(videos, splits, root)["videos"] == 4
    assert sorted(p.name for p in (root / "hmdb51_org").rglob("*.avi")) == sorted(c for clips in HMDB_CLIPS.values() for c in clips)
    assert not list(root.glob(".extract-*"))


def test_an_archive_without_the_expected_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "UCF101.rar").write_bytes(_zip({"readme.txt": b"no videos here"}))
    (tmp_path / "splits.zip").write_bytes(_zip({"x/classInd.txt": b"1 A\n", "y/classInd.txt": b"1 A\n"}))
    with pytest.raises(ArchiveError, match=r"UCF101\.rar: expected one folder holding subfolders of v_\*\.avi"):
        install_ucf101(tmp_path / "UCF101.rar", tmp_path / "splits.zip", tmp_path / "root")
    (tmp_path / "hmdb51_org.rar").write_bytes(_zip({"brush_hair/a.avi": b"unpacked"}))
    with pytest.raises(ArchiveError, match=r"hmdb51_org\.rar: holds no per-class archives"):
        install_hmdb51(tmp_path / "hmdb51_org.rar", tmp_path / "splits.zip", tmp_path / "hmdb")
    assert not list((tmp_path / "root").glob(".installed-*"))
