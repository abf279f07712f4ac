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


def mismatch(actual: str, expected: str | None, algorithm: str = "sha256") -> str | None:
    """Why the hex digest ``actual`` does not start with ``expected`` (a full digest or a prefix, any case), or None
    if it does or nothing is expected."""
    if expected is None or actual.startswith(expected.lower()):
        return None
    return f"{algorithm} {actual} does not match the expected {expected}"


def sha256_by_name(files: list[Path], expected: dict[str, str]) -> dict[str, str]:
    """{file path: sha256} of ``files``; ValueError naming the file where ``expected`` (file name: a sha256 or its
    first hex digits) disagrees, or names a file that is not among them."""
    digests = {str(f): sha256_of(f) for f in files}
    by_name = {Path(f).name: (f, digest) for f, digest in digests.items()}
    for name, want in expected.items():
        if name not in by_name:
            raise ValueError(f"a sha256 is given for {name}, which is not among the files read "
                             f"({', '.join(sorted(by_name))})")
        path, digest = by_name[name]
        problem = mismatch(digest, want)
        if problem:
            raise ValueError(f"{path}: {problem}")
    return digests
