"""Install UCF-101 and HMDB-51 from their downloaded archives into the native layouts annotations.py reads.

``root/UCF-101/<Class>/v_*.avi`` + ``root/ucfTrainTestlist/*.txt`` and ``root/hmdb51_org/<class>/*.avi`` +
``root/testTrainMulti_7030_splits/*.txt``. The folders are found by what they hold, not by name, and the
archives' formats by their bytes (archives.py), so a mirror that re-packs (a zip for the RAR, ``UCF101/`` for
``UCF-101/``, zips inside HMDB's outer archive) installs the same way.

Each archive is extracted into ``root/.extract-<archive>/`` (wiped first, so an interrupted run starts that
archive over cleanly), the folder it yields is moved into place, and ``root/.installed-<archive>`` is written
last, with the number of files: with it present the archive is not extracted again.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from ..atomic import write_text_atomic
from ..data.annotations import read_annotations
from .archives import ArchiveError, archive_format, extract


def _folder_holding(archive: Path, files: list[Path], pattern: str, up: int) -> Path:
    """The one folder ``up`` levels above the files matching ``pattern`` (0: their own folder)."""
    folders = {f.parents[up] for f in files if f.match(pattern)}
    if len(folders) != 1:
        found = ", ".join(sorted(str(f) for f in folders)[:3]) or "none"
        raise ArchiveError(archive, f"expected one folder holding {'subfolders of ' * up}{pattern} files, "
                                    f"found {len(folders)} ({found})")
    return folders.pop()


def _install(archive: Path, root: Path, target: str,
             unpack: Callable[[Path, Path], tuple[Path, int]]) -> tuple[int, bool]:
    """Make ``root/target`` from ``archive`` unless its marker says that is done; return the number of files
    it holds and whether this call extracted it.

    ``unpack(archive, staging)`` extracts into ``staging`` and returns the folder to install and its file count.
    """
    marker = root / f".installed-{archive.name}"
    if marker.is_file() and (root / target).is_dir():
        return json.loads(marker.read_text())["files"], False
    staging = root / f".extract-{archive.name}"
    shutil.rmtree(staging, ignore_errors=True)
    folder, count = unpack(archive, staging)
    shutil.rmtree(root / target, ignore_errors=True)  # a partial one from an interrupted run
    folder.rename(root / target)
    shutil.rmtree(staging)
    write_text_atomic(marker, json.dumps({"archive": archive.name, "files": count}) + "\n")
    return count, True


def _unpack_folder(pattern: str, up: int) -> Callable[[Path, Path], tuple[Path, int]]:
    """An unpack step for an archive holding one folder (anywhere inside) of ``pattern`` files."""
    def unpack(archive: Path, staging: Path) -> tuple[Path, int]:
        files = extract(archive, staging)
        folder = _folder_holding(archive, files, pattern, up)
        return folder, sum(folder in f.parents for f in files)
    return unpack


def _unpack_hmdb_videos(archive: Path, staging: Path) -> tuple[Path, int]:
    """HMDB's outer archive holds one archive per class (``brush_hair.rar`` -> ``brush_hair/*.avi``): each is
    extracted (one call each) to ``hmdb51_org/<class>/`` and deleted once its files are verified."""
    videos = staging / "hmdb51_org"
    count = 0
    inner = [f for f in extract(archive, staging / "classes") if _is_archive(f)]
    if not inner:
        raise ArchiveError(archive, "holds no per-class archives (expected brush_hair.rar, ...)")
    for class_archive in inner:
        label = class_archive.name.split(".")[0]
        count += len(extract(class_archive, videos / label, flatten=True, select=_is_avi))
        class_archive.unlink()
    return videos, count


def _is_avi(name: str) -> bool:
    return name.lower().endswith(".avi")


def _is_archive(path: Path) -> bool:
    try:
        archive_format(path)
    except ArchiveError:
        return False
    return True


def install_ucf101(videos_archive: Path, splits_archive: Path, root: Path) -> dict:
    """``UCF101.rar`` + ``UCF101TrainTestSplits-RecognitionTask.zip`` -> ``root/UCF-101``, ``root/ucfTrainTestlist``.

    Returns ``videos`` (files installed), ``listed`` (clips the split lists name), ``missing`` (listed, not on
    disk) and ``extracted`` (the archives extracted by this call; the others were installed already).
    """
    return _install_pair("ucf101", Path(videos_archive), Path(splits_archive), Path(root),
                         ("UCF-101", _unpack_folder("v_*.avi", 1)),
                         ("ucfTrainTestlist", _unpack_folder("classInd.txt", 0)))


def install_hmdb51(videos_archive: Path, splits_archive: Path, root: Path) -> dict:
    """``hmdb51_org.rar`` + ``test_train_splits.rar`` -> ``root/hmdb51_org``, ``root/testTrainMulti_7030_splits``.

    Returns the same counts as :func:`install_ucf101`.
    """
    return _install_pair("hmdb51", Path(videos_archive), Path(splits_archive), Path(root),
                         ("hmdb51_org", _unpack_hmdb_videos),
                         ("testTrainMulti_7030_splits", _unpack_folder("*_test_split1.txt", 0)))


def _install_pair(dataset: str, videos_archive: Path, splits_archive: Path, root: Path,
                  videos: tuple[str, Callable], splits: tuple[str, Callable]) -> dict:
    """Install both archives, then count what the download report needs. Listed videos that are missing are
    counted, not an error: the manifest marks them ``missing`` (a mirror may lack a few clips)."""
    root.mkdir(parents=True, exist_ok=True)
    count, videos_new = _install(videos_archive, root, *videos)
    _, splits_new = _install(splits_archive, root, *splits)
    manifest = read_annotations(dataset, root)
    return {"videos": count, "listed": len(manifest), "missing": int((manifest.status == "missing").sum()),
            "extracted": [a.name for a, new in ((videos_archive, videos_new), (splits_archive, splits_new)) if new]}
