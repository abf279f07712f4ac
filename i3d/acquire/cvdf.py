"""The Kinetics CVDF mirror route (the default): pre-trimmed clips in tarball parts, one Snakemake job per part.

CVDF hosts the Kinetics clips already cut to their segments, as ``.tar.gz`` parts listed in a path list per split
(``https://s3.amazonaws.com/kinetics/400/train/k400_train_path.txt``, one absolute URL a line), frozen, so no
clip disappears any more (unlike YouTube, where 10-20 % are gone). Each function here is one job's work and can
be rerun at any point:

- :func:`fetch_annotations`: the annotation CSVs (under the reader's names) and the path lists;
- :func:`fetch_part`: one part: download (resumable, every mirror in turn), extract its ``.mp4`` members flat
  into ``root/clips/``, write a marker listing them, remove the tarball; a rerun after the marker does nothing,
  even once the tarball is gone;
- :func:`fetch_replacement`: the archive of ~1,400 re-encoded K400 train clips that were corrupt in the parts,
  extracted over them (run it after every train part);
- :func:`absent_rows`: report rows for the wanted clips no part holds, once a split's parts are done.

A part's URL is rebased onto each configured mirror as ``<mirror>/<split>/<file name>`` (percent-quoted: K600's
per-class parts are named like ``mountain climber (exercise).tar.gz``).
"""
from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_text_atomic
from .archives import ArchiveError, extract
from .download import DownloadError, download
from .report import report_row
from .sources import KINETICS_MIRROR, KINETICS_PARTS, mirror_urls

ANNOTATION_NAMES = {"train": "train.csv", "val": "validate.csv", "test": "test.csv"}
"""Where each split's annotation CSV goes under ``root/annotations/``: the names the manifest reader expects."""


@dataclass(frozen=True)
class Version:
    """What differs between the Kinetics versions on the CVDF mirror.

    ``parts``: parts per split where known, so the workflow can name its jobs before the path lists arrive;
    ``None``: count the lines of the fetched path list (:func:`part_count`).
    """

    mirror: str
    path_list: str  # relative to the mirror, ``{split}`` filled in
    parts: dict[str, int] | None = None
    annotations: str = "annotations/{split}.csv"
    replacement: str | None = None


VERSIONS = {
    "400": Version(KINETICS_MIRROR.format(version="400"), "{split}/k400_{split}_path.txt",
                   parts=KINETICS_PARTS["400"], replacement="replacement_for_corrupted_k400.tgz"),
    "700_2020": Version(KINETICS_MIRROR.format(version="700_2020"), "{split}/k700_2020_{split}_path.txt"),
    # one part per class; CVDF marks the 600 train/val CSVs "incomplete"
    "600": Version(KINETICS_MIRROR.format(version="600"), "{split}/k600_{split}_path.txt"),
}


def _version(version: str) -> Version:
    if version not in VERSIONS:
        raise ValueError(f"unknown Kinetics version {version!r}; allowed: {', '.join(VERSIONS)}")
    return VERSIONS[version]


def _mirrors(mirrors: Sequence[str] | None, version: str) -> list[str]:
    return [m.rstrip("/") for m in (mirrors or [_version(version).mirror])]


def _path_list(root: Path, split: str) -> Path:
    return root / "cvdf" / f"{split}_path.txt"


def fetch_annotations(mirrors: Sequence[str] | None, root: str | Path, *, version: str = "400",
                      verify_tls: bool = True, splits: Sequence[str] = ("train", "val"), path_lists: bool = True,
                      progress: bool = True) -> list[dict]:
    """Each split's annotation CSV to ``root/annotations/`` (``val.csv`` becomes ``validate.csv``) and its path
    list to ``root/cvdf/<split>_path.txt``; files already there are kept. One ``archive`` row per file (the
    report's kind for a whole downloaded file). Raises :class:`~i3d.acquire.download.DownloadError`: without these
    files no later job can run. ``path_lists=False``: the annotations alone (the YouTube route needs no parts).
    """
    root, info, bases = Path(root), _version(version), _mirrors(mirrors, version)
    rows = []
    for split in splits:
        files = [(info.annotations.format(split=split), root / "annotations" / ANNOTATION_NAMES[split])]
        if path_lists:
            files.append((info.path_list.format(split=split), _path_list(root, split)))
        for rel, dst in files:
            urls = mirror_urls(bases, rel)
            if dst.is_file():
                rows.append(report_row(dst.name, "archive", "present", source=urls[0]))
                continue
            served_by = download(urls, dst, verify_tls=verify_tls, progress=progress)
            rows.append(report_row(dst.name, "archive", "downloaded", source=served_by))
    return rows


def part_names(root: str | Path, split: str) -> list[str]:
    """The parts' file names, in path-list order, from the fetched ``root/cvdf/<split>_path.txt``."""
    path = _path_list(Path(root), split)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: fetch the annotations (fetch_annotations) first")
    urls = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return [urllib.parse.unquote(urllib.parse.urlsplit(url).path).rpartition("/")[2] for url in urls]


def part_count(root: str | Path, split: str, *, version: str = "400") -> int:
    """How many parts ``split`` has: the fetched path list's length (the mirror's word), else the known count."""
    if _path_list(Path(root), split).is_file():
        return len(part_names(root, split))
    parts = _version(version).parts
    if parts and split in parts:
        return parts[split]
    raise FileNotFoundError(f"{_path_list(Path(root), split)} not found: fetch the annotations first")


def fetch_part(mirrors: Sequence[str] | None, root: str | Path, split: str, index: int, *, version: str = "400",
               verify_tls: bool = True, keep_archive: bool = False, wanted: set[str] | None = None,
               progress: bool = True) -> list[dict]:
    """Download part ``index`` (0-based line of the split's path list) and extract its clips into ``root/clips/``.

    ``wanted``: clip ids (``<youtube_id>_<start:06d>_<end:06d>``) to extract, ``None`` for all. A subset saves
    disk, not bandwidth: the clips of a class are spread over every part, so each part is downloaded whole.
    Returns an ``archive`` row for the part (``retry_later`` when every mirror failed or the tarball is corrupt;
    the next run resumes or fetches it again) and a ``clip`` row per extracted clip.
    """
    root = Path(root)
    names = part_names(root, split)
    if not 0 <= index < len(names):
        raise IndexError(f"{split} has {len(names)} parts in {_path_list(root, split)}; no part {index}")
    name = names[index]
    return _fetch_archive(mirror_urls(_mirrors(mirrors, version), f"{split}/{name}"), root / "cvdf" / split / name,
                          root / "cvdf" / split / f"part_{index}.done", root / "clips", verify_tls=verify_tls,
                          keep_archive=keep_archive, wanted=wanted, progress=progress)


def fetch_replacement(mirrors: Sequence[str] | None, root: str | Path, *, version: str = "400",
                      verify_tls: bool = True, keep_archive: bool = False, wanted: set[str] | None = None,
                      progress: bool = True) -> list[dict]:
    """The re-encoded copies of the K400 train clips that are corrupt in the parts, extracted over them in
    ``root/clips/``: run it after every train part, or a part extracted later would bring a corrupt copy back.
    Rows and ``wanted`` as in :func:`fetch_part`."""
    root, name = Path(root), _version(version).replacement
    if name is None:
        raise ValueError(f"Kinetics {version} has no replacement archive on the CVDF mirror")
    return _fetch_archive(mirror_urls(_mirrors(mirrors, version), name), root / "cvdf" / name,
                          root / "cvdf" / "replacement.done", root / "clips", verify_tls=verify_tls,
                          keep_archive=keep_archive, wanted=wanted, progress=progress)


def _clip_file(member: str) -> str | None:
    """The clip file name of an archive member (``.../<clip id>.mp4``); None for anything else."""
    base = member.rpartition("/")[2]
    return base if base.endswith(".mp4") else None


def _needed(members: Sequence[str], wanted: set[str] | None) -> list[str]:
    return [m for m in members if wanted is None or m.removesuffix(".mp4") in wanted]


def _done(marker: Path, clips: Path, wanted: set[str] | None) -> list[str] | None:
    """The clips this archive holds for ``wanted`` when its marker says they were extracted and they are still
    there (sizes are not compared: the replacement archive overwrites some); None: fetch it (again)."""
    if not marker.is_file():
        return None
    record = json.loads(marker.read_text())
    needed = _needed(record["members"], wanted)
    ok = all(m in record["extracted"] and (clips / m).is_file() for m in needed)
    return needed if ok else None


def _fetch_archive(urls: list[str], archive: Path, marker: Path, clips: Path, *, verify_tls: bool,
                   keep_archive: bool, wanted: set[str] | None, progress: bool) -> list[dict]:
    """Download ``archive`` unless its ``marker`` covers ``wanted``, extract, verify, mark, tidy up; the rows."""
    done = _done(marker, clips, wanted)
    if done is not None:
        return [report_row(archive.name, "archive", "present", source=urls[0]),
                *(report_row(m.removesuffix(".mp4"), "clip", "present", source=archive.name) for m in done)]
    status = "present" if archive.is_file() else "downloaded"
    source = urls[0]  # where it was asked for, until a download says which mirror served it
    if status == "downloaded":
        try:
            source = download(urls, archive, verify_tls=verify_tls, progress=progress)
        except DownloadError as err:
            return [report_row(archive.name, "archive", "retry_later", str(err), urls[0])]
    members: list[str] = []

    def select(member: str) -> bool:
        clip = _clip_file(member)
        if clip is None:
            return False
        members.append(clip)
        return wanted is None or clip.removesuffix(".mp4") in wanted

    try:
        written = extract(archive, clips, select=select, flatten=True)
    except ArchiveError as err:  # the bytes are bad: fetch them afresh next time
        archive.unlink()
        return [report_row(archive.name, "archive", "retry_later", str(err), urls[0])]
    extracted = {p.name: p.stat().st_size for p in written}
    missing = sorted(set(_needed(members, wanted)) - set(extracted))
    if missing:  # archives.extract writes every selected member or raises; this guards that contract
        raise ArchiveError(archive, f"{len(missing)} selected member(s) not extracted, e.g. {missing[0]}")
    write_text_atomic(marker, json.dumps({"archive": archive.name, "members": members, "extracted": extracted},
                                         indent=1))
    if not keep_archive:
        archive.unlink()
    return [report_row(archive.name, "archive", status, source=source),
            *(report_row(Path(n).stem, "clip", "downloaded", source=archive.name) for n in extracted)]


def absent_rows(root: str | Path, split: str, wanted: set[str], *, version: str = "400") -> list[dict]:
    """``unavailable`` rows for the ``wanted`` clips of ``split`` that no part holds (CVDF lacks ~6,000 K400
    clips), so the report counts them; call it once every part of the split is done (ValueError otherwise)."""
    root = Path(root)
    markers = [root / "cvdf" / split / f"part_{i}.done" for i in range(part_count(root, split, version=version))]
    pending = [m.name for m in markers if not m.is_file()]
    if pending:
        raise ValueError(f"{len(pending)} {split} part(s) not extracted yet (e.g. {pending[0]}): run them first")
    held = {m.removesuffix(".mp4") for marker in markers for m in json.loads(marker.read_text())["members"]}
    return [report_row(clip, "clip", "unavailable", f"in none of the {len(markers)} CVDF {split} parts")
            for clip in sorted(wanted - held)]
