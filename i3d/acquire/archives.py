"""Extract the data sets' archives (RAR4/RAR5, zip, tar, gzipped tar) in one pass per archive, safely.

The format is read from the magic bytes, never the name: mirrors re-pack (UCF-101 as a zip), and names lie
(CVDF's Kinetics ``part_120.tar.gz`` is a plain tar). Every backend runs in this process, reading the archive
once from start to end (a solid RAR or a gzipped tar cannot be read any other way without decompressing it
again per member), so thousands of members never mean thousands of processes.

Safety: a member with an absolute path or a ``..`` component is refused, and links and special files are never
created (the data sets hold plain files; a link is the classic way to write outside ``dest``). Each member goes
to a temporary name and is renamed once all its bytes are written and its size matches the listing, so a
killed extraction leaves no truncated file under the final name. RAR members are also checked against their
CRC by UnRAR, zip members by :mod:`zipfile`.

RAR: ``unrar2-cffi`` (UnRAR 7 compiled into a wheel, so ``pip install`` is enough): it read every RAR4 and RAR5
sample of ``rarfile``'s test suite, solid ones included, with the listed sizes and CRCs (see tests/test_archives.py).
"""
from __future__ import annotations

import gzip
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..atomic import atomic_path

_MAGIC = (  # (format, offset, bytes), the first match wins
    ("rar5", 0, b"Rar!\x1a\x07\x01\x00"),
    ("rar4", 0, b"Rar!\x1a\x07\x00"),
    ("zip", 0, b"PK\x03\x04"),
    ("zip", 0, b"PK\x05\x06"),  # an empty zip
    ("gzip-tar", 0, b"\x1f\x8b"),
    ("tar", 257, b"ustar"),
)
FORMATS = ("rar4", "rar5", "zip", "gzip-tar", "tar")


class ArchiveError(RuntimeError):
    """An archive that cannot be extracted (unknown format, corrupt, truncated, unsafe member); the message
    names the archive and the problem."""

    def __init__(self, archive: str | Path, problem: str):
        self.archive = Path(archive)
        super().__init__(f"{archive}: {problem}")


class UnsafeArchive(ArchiveError):
    """An archive whose content is refused (a member outside ``dest``, a link, a name that is not text, two
    members written to one file): the bytes arrived intact, so fetching them again fails the same way."""


def archive_format(path: str | Path) -> str:
    """One of :data:`FORMATS`, from the file's first bytes; ArchiveError for anything else."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    for name, offset, magic in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return name
    raise ArchiveError(path, f"not a RAR, zip or tar archive (first bytes {head[:8].hex(' ')})")


@dataclass(frozen=True)
class _Member:
    name: str
    size: int
    kind: str  # "file", "dir" or "other" (a link, a device, ...): only files are written
    copy: Callable[[BinaryIO], None]  # writes the member's bytes; valid only until the next member is read


def _tar_members(path: Path, fmt: str) -> Iterator[_Member]:
    # gzip.open, not tarfile's "r|gz": tarfile's stream ignores the gzip trailer (CRC32 and length), and draining
    # the stream to its end below makes gzip check it, so a cut anywhere is caught
    with (gzip.open(path) if fmt == "gzip-tar" else open(path, "rb")) as raw, \
            tarfile.open(fileobj=raw, mode="r|") as tf:  # "|": a stream, read once
        for info in tf:
            kind = "file" if info.isfile() else "dir" if info.isdir() else "other"
            source = tf.extractfile(info) if kind == "file" else None
            yield _Member(info.name, info.size, kind, lambda fh, s=source: shutil.copyfileobj(s, fh, 1 << 20))
        while raw.read(1 << 20):
            pass


def _zip_members(path: Path) -> Iterator[_Member]:
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            file_type = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip was not made on Unix
            kind = "dir" if info.is_dir() else "file" if file_type in (0, stat.S_IFREG) else "other"

            def copy(fh: BinaryIO, info: zipfile.ZipInfo = info) -> None:
                with zf.open(info) as src:  # checks the CRC at the end
                    shutil.copyfileobj(src, fh, 1 << 20)

            yield _Member(info.filename, info.file_size, kind, copy)


_UNRAR_ERRORS = {12: "bad data (CRC mismatch)", 13: "bad archive", 14: "unknown format", 18: "read error",
                 21: "unknown error (a truncated archive, as a rule)", 22: "password needed"}
_UNRAR_END = 10  # ERAR_END_ARCHIVE: the last header was read
_RHDF_SPLIT = 0x01 | 0x02  # RHDF_SPLITBEFORE | RHDF_SPLITAFTER: the member continues in another volume


def _rar_members(path: Path) -> Iterator[_Member]:
    from unrar.cffi._unrarlib.lib import RARReadHeaderEx
    from unrar.cffi.unrarlib import (
        FLAGS_RHDF_DIRECTORY,
        BadRarFile,
        RarArchive,
        RarHeader,
        RARHeaderDataEx,
    )

    def fail(code: int) -> ArchiveError:
        return ArchiveError(path, f"corrupt or truncated RAR archive (UnRAR error {code}: "
                                  f"{_UNRAR_ERRORS.get(code, 'see UnRAR dll.hpp')})")

    try:
        with RarArchive.open_for_processing(path) as rar:
            while True:  # not rar.iterate_headers(): it ends silently on a truncated RAR5 header
                data = RARHeaderDataEx()
                code = RARReadHeaderEx(rar.handle, data)
                if code == _UNRAR_END:
                    return
                if code:
                    raise fail(code)
                header = RarHeader(rar, data)
                if data.Flags & _RHDF_SPLIT:  # unrar2-cffi answers UnRAR's "next volume?" with "retry": a hang
                    raise ArchiveError(path, f"member {header.FileNameW!r} spans volumes; multi-volume RAR "
                                             f"archives are not supported (the data sets ship single archives)")
                kind = "dir" if data.Flags & FLAGS_RHDF_DIRECTORY else "other" if data.RedirType else "file"
                done: list[bool] = []

                def copy(fh: BinaryIO, header: RarHeader = header, done: list[bool] = done) -> None:
                    done.append(True)
                    try:
                        header.test(fh.write)  # "test" streams the bytes to us; UnRAR checks the CRC
                    except BadRarFile as err:
                        raise fail(err.code) from err

                yield _Member(header.FileNameW, data.UnpSize + (data.UnpSizeHigh << 32), kind, copy)
                if not done:
                    header.skip()
    except BadRarFile as err:
        raise fail(err.code) from err


def _members(path: Path, fmt: str) -> Iterator[_Member]:
    if fmt in ("rar4", "rar5"):
        return _rar_members(path)
    if fmt == "zip":
        return _zip_members(path)
    return _tar_members(path, fmt)


def _safe_name(archive: Path, name: str) -> str:
    """``name`` as a relative POSIX path inside the destination; ArchiveError if it would leave it."""
    try:
        name.encode()
    except UnicodeEncodeError:  # a name the archive's encoding could not decode (it carries surrogates)
        raise UnsafeArchive(archive, f"member name {name!r} is not valid text; refusing it") from None
    pure = PurePosixPath(name)  # drops "." parts and doubled slashes
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise UnsafeArchive(archive, f"member {name!r} would be written outside the destination; refusing it")
    return pure.as_posix()


_CORRUPT = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, gzip.BadGzipFile)
"""What tarfile, zipfile, zlib and gzip raise for a corrupt or truncated archive."""


def extract(archive: str | Path, dest: str | Path, *, select: Callable[[str], bool] | None = None,
            flatten: bool = False) -> list[Path]:
    """Extract the files of ``archive`` (one pass) under ``dest`` and return their paths, in archive order.

    ``select``: called with each file's relative path in the archive; only those it accepts are written.
    ``flatten``: write each file to ``dest/<basename>`` (Kinetics parts nest their clips differently). Raises
    :class:`ArchiveError` for an unknown format, a corrupt or truncated archive, and its subclass
    :class:`UnsafeArchive` for an unsafe member, a link among the selected members, or two selected members
    that flatten to the same name.
    """
    archive, dest = Path(archive), Path(dest)
    fmt = archive_format(archive)
    written: list[Path] = []
    origin: dict[Path, str] = {}
    try:
        for member in _members(archive, fmt):
            if member.kind == "dir":
                continue
            rel = _safe_name(archive, member.name)
            if select is not None and not select(rel):
                continue
            if member.kind != "file":
                raise UnsafeArchive(archive, f"member {rel!r} is a link or special file; only plain files are "
                                             f"extracted")
            target = dest / PurePosixPath(rel).name if flatten else dest / rel
            if target in origin:
                raise UnsafeArchive(archive, f"members {origin[target]!r} and {rel!r} would both be written to "
                                             f"{target}")
            origin[target] = rel
            with atomic_path(target) as tmp:
                with open(tmp, "wb") as fh:
                    member.copy(fh)
                got = tmp.stat().st_size
                if got != member.size:
                    raise ArchiveError(archive, f"member {rel!r} has {got} bytes, the listing says {member.size}")
            written.append(target)
    except _CORRUPT as err:
        raise ArchiveError(archive, f"corrupt or truncated {fmt} archive ({type(err).__name__}: {err})") from err
    return written
