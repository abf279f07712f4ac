"""What each download job does, per dataset: the work behind ``i3d download ...`` and the download rules.

UCF-101 and HMDB-51 are two archives each (videos and split lists), fetched from the configured mirrors and
installed in the native layout that ``source: local`` reads (:mod:`.layouts`). Kinetics comes as many jobs
(:mod:`.cvdf`: one per part archive; :mod:`.youtube`: batches of clips) that share the subset logic here, so
that every job and the manifest agree on which clips are wanted.

Missing data never stops the pipeline, but a failed transfer does fail its job: the partial file is kept and
a rerun resumes it, whereas a Kinetics part that every mirror answers with 404/410 (:func:`gone_for_good`) is
recorded as ``unavailable`` (:mod:`.cvdf`). UCF-101's and HMDB-51's two archives are the whole dataset: without
them the job fails.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..data.annotations import read_annotations, select_subset
from .download import DownloadError, download
from .report import report_row
from .sources import NATIVE_FILES, mirror_urls


def gone_for_good(err: DownloadError) -> bool:
    """Every mirror said the file does not exist (HTTP 404/410): retrying will not help."""
    return all(error.startswith(("HTTP 404", "HTTP 410")) for _, _, error in err.failures)


def fetch_native(dataset: str, root: str | Path, mirrors: Sequence[str], *, verify_tls: bool = True,
                 checksums: bool = True, keep_archives: bool = True, progress: bool = True) -> list[dict]:
    """Download UCF-101's or HMDB-51's archives into ``root/archives`` and install the native layout.

    ``checksums``: check the official archives' known sizes and digests (a mirror that re-packs them needs
    False); the archives' own CRCs are checked on extraction either way.

    Returns report rows: one per archive, and one per listed video that the archives did not contain
    (``unavailable``), so the report says exactly which clips the manifest will mark missing.
    """
    from .layouts import install_hmdb51, install_ucf101

    root = Path(root)
    if layout_complete(dataset, root):
        return [report_row(spec.name, "archive", "present", "the native layout is complete; nothing fetched")
                for spec in NATIVE_FILES[dataset]]
    files = {}
    rows = []
    for spec in NATIVE_FILES[dataset]:
        dst = root / "archives" / spec.name
        installed = (root / f".installed-{spec.name}").exists()
        if installed:
            rows.append(report_row(spec.name, "archive", "present", "installed earlier"))
        elif dst.exists():
            rows.append(report_row(spec.name, "archive", "present", "archive already downloaded"))
        else:
            urls = mirror_urls(mirrors, spec.name)
            known = dict(sha256=spec.sha256, md5=spec.md5, size=spec.size) if checksums else {}
            served_by = download(urls, dst, verify_tls=verify_tls, progress=progress, **known)
            rows.append(report_row(spec.name, "archive", "downloaded", source=served_by))
        files[spec.role] = dst
    install = {"ucf101": install_ucf101, "hmdb51": install_hmdb51}[dataset]
    counts = install(files["videos"], files["splits"], root)
    if not keep_archives:
        for path in files.values():
            path.unlink(missing_ok=True)
    manifest = read_annotations(dataset, root)
    for row in manifest[manifest.status != "ok"].itertuples():
        rows.append(report_row(row.clip_id, "clip", "unavailable", "listed in the split files, not in the archive"))
    print(f"{dataset}: {counts}")
    return rows


def layout_complete(dataset: str, root: Path) -> bool:
    """The dataset is already in ``root`` in its native layout with every listed video (placed by hand, or
    installed by an earlier run): a download source then fetches nothing."""
    try:
        manifest = read_annotations(dataset, root)
    except (FileNotFoundError, OSError, ValueError, KeyError):
        return False
    return bool(len(manifest)) and bool((manifest.status == "ok").all())


def kinetics_clips(root: str | Path, classes: Sequence[str] | int | None, max_per_class: int | None, *,
                   test: bool = True) -> dict[str, set[str]]:
    """The Kinetics clip ids wanted per CVDF split (``train``, ``val``, and ``test`` when the manifest scores the
    labelled test list), from the annotation lists under ``root`` and the subset (the manifest applies the same
    :func:`read_annotations` and :func:`select_subset`, so they agree)."""
    manifest = select_subset(read_annotations("kinetics400", root, kinetics_test=test), classes, max_per_class)
    roles = (("train", "train"), ("val", "val"), ("test", "test")) if (manifest.split1 == "val").any() \
        else (("train", "train"), ("val", "test"))
    return {split: set(manifest.loc[manifest.split1 == role, "clip_id"]) for split, role in roles}
