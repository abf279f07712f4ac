"""File digests: what downloads are checked against and what builds record of their sources."""
from __future__ import annotations

import hashlib
from pathlib import Path


def digest_of(path: str | Path, algorithm: str = "sha256") -> str:
    """The hex digest of ``path`` (``algorithm``: a hashlib name, e.g. ``sha256`` or ``md5``)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def sha256_of(path: str | Path) -> str:
    return digest_of(path, "sha256")
