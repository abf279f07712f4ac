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
  extracted over them (run it after every train part); its marker records each clip's sha256, so it is done
  only while the clips hold those bytes, and a part extracted again later leaves them alone;
- :func:`absent_rows`: report rows for the wanted clips no part holds, once a split's parts are done.

An archive that every mirror answers with 404/410, or whose content is refused (a member outside the
destination, a link: :class:`~i3d.acquire.archives.UnsafeArchive`; the archive is then kept as evidence, so a
rerun does not download it again to fail the same way), is reported ``unavailable`` and recorded beside its
marker (``part_<i>.unavailable``, with the reason): its job succeeds and the pipeline goes on without it.

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
from .archives import ArchiveError, UnsafeArchive, extract
from ..digest import sha256_of
from .download import DownloadError, download
from .fetch import gone_for_good
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


class PartCountMismatch(ValueError):
    """The configured part count of a split is not the mirror's: the workflow would plan too few jobs (parts
    never fetched) or too many (jobs for parts that do not exist)."""


def fetch_part(mirrors: Sequence[str] | None, root: str | Path, split: str, index: int, *, version: str = "400",
               verify_tls: bool = True, keep_archive: bool = False, wanted: set[str] | None = None,
               progress: bool = True, parts: int | None = None) -> list[dict]:
    """Download part ``index`` (0-based line of the split's path list) and extract its clips into ``root/clips/``.

    ``wanted``: clip ids (``<youtube_id>_<start:06d>_<end:06d>``) to extract, ``None`` for all. A subset saves
    disk, not bandwidth: the clips of a class are spread over every part, so each part is downloaded whole.
    Returns an ``archive`` row for the part (``retry_later`` when every mirror failed or the tarball is corrupt;
    the next run resumes or fetches it again) and a ``clip`` row per extracted clip. ``parts``: the configured
    part count of ``split`` (the workflow's jobs), checked against the path list (:class:`PartCountMismatch`).
    """
    root = Path(root)
    names = part_names(root, split)
    if parts is not None and parts != len(names):
        raise PartCountMismatch(f"download.parts.{split} is {parts}, but the mirror's path list "
                                f"{_path_list(root, split)} lists {len(names)} {split} parts: set "
                                f"download.parts.{split}: {len(names)} in the dataset's config")
    if not 0 <= index < len(names):
        raise IndexError(f"{split} has {len(names)} parts in {_path_list(root, split)}; no part {index}")
    name = names[index]
    return _fetch_archive(mirror_urls(_mirrors(mirrors, version), f"{split}/{name}"), root / "cvdf" / split / name,
                          root / "cvdf" / split / f"part_{index}.done", root / "clips", verify_tls=verify_tls,
                          keep_archive=keep_archive, wanted=wanted, progress=progress,
                          replaced=_replaced(root))


def fetch_replacement(mirrors: Sequence[str] | None, root: str | Path, *, version: str = "400",
                      verify_tls: bool = True, keep_archive: bool = False, wanted: set[str] | None = None,
                      progress: bool = True) -> list[dict]:
    """The re-encoded copies of the K400 train clips that are corrupt in the parts, extracted over them in
    ``root/clips/``: run it after every train part (one extracted again later leaves the re-encoded copies alone,
    and a lost one is fetched again here). Rows and ``wanted`` as in :func:`fetch_part`."""
    root, name = Path(root), _version(version).replacement
    if name is None:
        raise ValueError(f"Kinetics {version} has no replacement archive on the CVDF mirror")
    return _fetch_archive(mirror_urls(_mirrors(mirrors, version), name), root / "cvdf" / name,
                          _replacement_marker(root), root / "clips", verify_tls=verify_tls,
                          keep_archive=keep_archive, wanted=wanted, progress=progress, by_content=True)


def _replacement_marker(root: Path) -> Path:
    return root / "cvdf" / "replacement.done"


def _replaced(root: Path) -> dict[str, str]:
    """The clips the replacement archive put in ``root/clips/``, with their sha256 ({} before it ran)."""
    marker = _replacement_marker(root)
    return json.loads(marker.read_text()).get("sha256", {}) if marker.is_file() else {}


def _holds(path: Path, sha256: str) -> bool:
    return path.is_file() and sha256_of(path) == sha256


def _clip_file(member: str) -> str | None:
    """The clip file name of an archive member (``.../<clip id>.mp4``); None for anything else."""
    base = member.rpartition("/")[2]
    return base if base.endswith(".mp4") else None


def _needed(members: Sequence[str], wanted: set[str] | None) -> list[str]:
    return [m for m in members if wanted is None or m.removesuffix(".mp4") in wanted]


def _done(marker: Path, clips: Path, wanted: set[str] | None, *, by_content: bool = False) -> list[str] | None:
    """The clips this archive holds for ``wanted`` when its marker says they were extracted and they are still
    there (a part's sizes are not compared: the replacement archive overwrites some); ``by_content``: and hold
    the sha256 the marker recorded (the replacement's, which a part extracted again may have overwritten with
    a corrupt copy of the same size). None: fetch it (again)."""
    if not marker.is_file():
        return None
    record = json.loads(marker.read_text())
    needed = _needed(record["members"], wanted)
    ok = all(m in record["extracted"] and (clips / m).is_file() for m in needed)
    if ok and by_content:
        digests = record.get("sha256", {})
        ok = all(m in digests and _holds(clips / m, digests[m]) for m in needed)
    return needed if ok else None


def _fetch_archive(urls: list[str], archive: Path, marker: Path, clips: Path, *, verify_tls: bool,
                   keep_archive: bool, wanted: set[str] | None, progress: bool, by_content: bool = False,
                   replaced: dict[str, str] | None = None) -> list[dict]:
    """Download ``archive`` unless its ``marker`` covers ``wanted``, extract, verify, mark, tidy up; the rows.
    ``by_content``: record (and check, see :func:`_done`) each clip's sha256; ``replaced``: clips (name:
    sha256) not extracted while they hold those bytes, the replacement's re-encoded copies."""
    done = _done(marker, clips, wanted, by_content=by_content)
    if done is not None:
        return [report_row(archive.name, "archive", "present", source=urls[0]),
                *(report_row(m.removesuffix(".mp4"), "clip", "present", source=archive.name) for m in done)]
    status = "present" if archive.is_file() else "downloaded"
    source = urls[0]  # where it was asked for, until a download says which mirror served it
    if status == "downloaded":
        try:
            source = download(urls, archive, verify_tls=verify_tls, progress=progress)
        except DownloadError as err:
            if gone_for_good(err):
                return [_unavailable(marker, archive.name, f"no mirror has it: {err}", urls[0])]
            return [report_row(archive.name, "archive", "retry_later", str(err), urls[0])]
    members: list[str] = []
    kept: list[str] = []
    replaced = replaced or {}

    def select(member: str) -> bool:
        clip = _clip_file(member)
        if clip is None:
            return False
        members.append(clip)
        if wanted is not None and clip.removesuffix(".mp4") not in wanted:
            return False
        if clip in replaced and _holds(clips / clip, replaced[clip]):
            kept.append(clip)
            return False
        return True

    try:
        written = extract(archive, clips, select=select, flatten=True)
    except UnsafeArchive as err:  # the archive's content, not its transfer: the same bytes would fail again
        return [_unavailable(marker, archive.name, f"{err}; the archive is kept for inspection (delete it to "
                                                   f"download it again)", urls[0])]
    except ArchiveError as err:  # the bytes are bad: fetch them afresh next time
        archive.unlink()
        return [report_row(archive.name, "archive", "retry_later", str(err), urls[0])]
    extracted = {p.name: p.stat().st_size for p in written} | {n: (clips / n).stat().st_size for n in kept}
    missing = sorted(set(_needed(members, wanted)) - set(extracted))
    if missing:  # archives.extract writes every selected member or raises; this guards that contract
        raise ArchiveError(archive, f"{len(missing)} selected member(s) not extracted, e.g. {missing[0]}")
    record = {"archive": archive.name, "members": members, "extracted": extracted}
    if by_content:
        record["sha256"] = {p.name: sha256_of(p) for p in written}
    write_text_atomic(marker, json.dumps(record, indent=1))
    marker.with_suffix(".unavailable").unlink(missing_ok=True)
    if not keep_archive:
        archive.unlink()
    return [report_row(archive.name, "archive", status, source=source),
            *(report_row(p.stem, "clip", "downloaded", source=archive.name) for p in written),
            *(report_row(Path(n).stem, "clip", "present", "the replacement archive's re-encoded copy, kept",
                         archive.name) for n in kept)]


def _unavailable(marker: Path, name: str, reason: str, source: str) -> dict:
    """Record that the archive of ``marker`` cannot be had (read by :func:`absent_rows`); its report row."""
    write_text_atomic(marker.with_suffix(".unavailable"), reason + "\n")
    return report_row(name, "archive", "unavailable", reason, source)


def absent_rows(root: str | Path, split: str, wanted: set[str], *, version: str = "400") -> list[dict]:
    """Rows for the ``wanted`` clips of ``split`` that no extracted part holds, so the report counts them:
    ``unavailable`` once every part is extracted or unavailable (CVDF lacks ~6,000 K400 clips), else
    ``retry_later`` (a part not extracted yet may hold them)."""
    root = Path(root)
    markers = [root / "cvdf" / split / f"part_{i}.done" for i in range(part_count(root, split, version=version))]
    done = [m for m in markers if m.is_file()]
    gone = [m.stem for m in markers if not m.is_file() and m.with_suffix(".unavailable").is_file()]
    pending = [m.stem for m in markers if not m.is_file() and m.stem not in gone]
    held = {m.removesuffix(".mp4") for marker in done for m in json.loads(marker.read_text())["members"]}
    if pending:
        status, reason = "retry_later", (f"in none of the {len(done)} extracted CVDF {split} parts; "
                                         f"{len(pending)} part(s) not extracted yet (e.g. {pending[0]})")
    else:
        status, reason = "unavailable", f"in none of the {len(markers)} CVDF {split} parts"
        if gone:
            reason += f"; {len(gone)} of them unavailable ({', '.join(gone[:3])}{', ...' if len(gone) > 3 else ''})"
    return [report_row(clip, "clip", status, reason) for clip in sorted(wanted - held)]
