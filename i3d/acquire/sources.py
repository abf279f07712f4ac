"""Where each real dataset comes from: its default mirrors, its files, and what is known about them.

A mirror is a base URL under which a dataset's files lie by their official names (``<mirror>/UCF101.rar``;
for Kinetics the CVDF tree, ``<mirror>/annotations/train.csv``, ``<mirror>/train/part_0.tar.gz``). The config's
``datasets.<name>.download.mirrors`` replaces the defaults below, tried in order: official servers move and die
(the HMDB-51 server at Brown is gone; the UCF server's TLS chain has been broken), so a user points at a mirror
that works, and the tests point at a server on 127.0.0.1.

Import-free beyond the standard library: the Snakefile reads the part counts to build a static DAG.
"""
from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ArchiveFile:
    """One file of a dataset's native distribution, with the checks we know for it."""

    name: str
    role: str  # what the layout installer does with it: "videos" or "splits"
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


DEFAULT_MIRRORS: dict[str, list[str]] = {
    # torchvision's location holds both files; mmaction2's newer one the RAR (its split zip moved to wp-content)
    "ucf101": ["https://www.crcv.ucf.edu/data/UCF101", "https://www.crcv.ucf.edu/datasets/human-actions/ucf101"],
    # the official server (defunct since 2025): point download.mirrors at a copy
    "hmdb51": ["http://serre-lab.clps.brown.edu/wp-content/uploads/2013/10"],
}

NATIVE_FILES: dict[str, tuple[ArchiveFile, ...]] = {
    "ucf101": (ArchiveFile("UCF101.rar", "videos"),
               ArchiveFile("UCF101TrainTestSplits-RecognitionTask.zip", "splits")),
    "hmdb51": (ArchiveFile("hmdb51_org.rar", "videos"),
               # the digest torchvision checks (datasets/hmdb51.py)
               ArchiveFile("test_train_splits.rar", "splits", md5="15e67781e70dcfbdce2d7dbb9b3344b5")),
}

KINETICS_MIRROR = "https://s3.amazonaws.com/kinetics/{version}"
"""The CVDF mirror of the pre-trimmed Kinetics clips, per version (400, 600, 700_2020)."""

DOWNLOAD_GB = {"ucf101": 6.5, "hmdb51": 2.1, "kinetics400": 450.0}
"""Approximate download sizes (datasets reference §1.2, §2.1), for the free-space message and the README."""


def mirror_urls(mirrors: Sequence[str], relative: str) -> list[str]:
    """The URL of ``relative`` (a file name or CVDF path, possibly with spaces) at each mirror, in order."""
    quoted = urllib.parse.quote(relative)
    return [f"{m.rstrip('/')}/{quoted}" for m in mirrors]


def default_mirrors(dataset: str, version: str = "400") -> list[str]:
    """The built-in mirror list of a dataset (Kinetics: the CVDF bucket of ``version``)."""
    if dataset.startswith("kinetics"):
        return [KINETICS_MIRROR.format(version=version)]
    return list(DEFAULT_MIRRORS[dataset])


KINETICS_PARTS: dict[str, dict[str, int]] = {"400": {"train": 242, "val": 20, "test": 39}}
"""Part archives per split on the CVDF mirror (datasets reference §1.2), so the DAG is known before the part
lists are downloaded; the part jobs check the count against the lists. Other versions: ``download.parts``."""
