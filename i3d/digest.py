"""File digests, read in 1 MiB blocks: what downloads are checked against and what builds record of their sources."""
from __future__ import annotations

import hashlib
from pathlib import Path


def digest_of(path: str | Path, algorithm: str = "sha256") -> str:
    """The hex digest of ``path`` (``algorithm``: a hashlib name, e.g. ``sha256`` or ``md5``)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: str | Path) -> str:
    return digest_of(path, "sha256")
