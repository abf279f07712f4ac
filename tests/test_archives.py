"""i3d.acquire.archives: real RAR4/RAR5 archives (rarfile's test samples, fetched by tests/rar_samples.sh) checked
against their independent listings, and tar/zip archives built here for sniffing, safety and corruption."""
from __future__ import annotations

import io
import os
import re
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from i3d.acquire.archives import ArchiveError, UnsafeArchive, archive_format, extract

SAMPLES = Path(os.environ.get("I3D_RAR_SAMPLES", Path(__file__).parents[1] / "resources" / "rar_samples"))


@pytest.fixture(scope="module")
def samples() -> Path:
    """The RAR samples; their absence skips, except in CI (``CI=true``), which fetches them and where it fails."""
    if not (SAMPLES / "SOURCE").is_file():
        reason = f"no RAR samples in {SAMPLES}: tests/rar_samples.sh fetches them"
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(f"{reason}; .ci/run does, so in CI this is an error")
        pytest.skip(reason)
    return SAMPLES


def _listing(exp: Path) -> dict[str, tuple[int, int]]:
    """{name: (size, crc32)} of the plain files in rarfile's ``.exp`` dump of an archive (rarfile's own parser,
    not UnRAR: an independent account of what the archive holds)."""
    files = {}
    for block in re.split(r"\n(?=\S*FILE:)", exp.read_text()):
        if re.search(r"is=F--", block):
            name = re.search(r"\bname=(.*)", block).group(1)
            size = int(re.search(r"\bdec=(\d+)", block).group(1))
            crc = re.search(r"\bcrc=0x([0-9a-f]+)", block)
            files[name] = (size, int(crc.group(1), 16) if crc else 0)
    return files


@pytest.mark.parametrize("name, fmt", [
    ("rar3-solid.rar", "rar4"), ("rar5-solid.rar", "rar5"), ("rar5-solid-qo.rar", "rar5"),
    ("rar3-subdirs.rar", "rar4"), ("rar5-subdirs.rar", "rar5"), ("rar3-owner.rar", "rar4"),
    ("rar5-blake.rar", "rar5"),  # BLAKE2 instead of CRC32: sizes and bytes still checked
])
def test_real_rar_archives_extract_as_listed(samples: Path, tmp_path: Path, name: str, fmt: str) -> None:
    archive = samples / name
    listed = _listing(samples / f"{name}.exp")
    assert archive_format(archive) == fmt and listed
    out = extract(archive, tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in out) == sorted(listed)
    for path in out:
        size, crc = listed[path.relative_to(tmp_path).as_posix()]
        data = path.read_bytes()
        assert len(data) == size
        if crc:
            assert zlib.crc32(data) == crc


def test_rar_select_and_flatten(samples: Path, tmp_path: Path) -> None:
    out = extract(samples / "rar5-subdirs.rar", tmp_path, select=lambda n: n.endswith("file2.txt"), flatten=True)
    assert out == [tmp_path / "file2.txt"] and out[0].read_bytes() == b"file2\n"


def test_rar_links_are_refused_and_nothing_leaves_dest(samples: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchive, match=r"rar5-evil-symlink-traversal\.rar: member 'up' is a link"):
        extract(samples / "rar5-evil-symlink-traversal.rar", dest)  # up -> .., then up/pwned.txt
    assert not (tmp_path / "pwned.txt").exists() and not (dest / "up").is_symlink()
    out = extract(samples / "rar3-symlink-unix.rar", dest, select=lambda n: not n.endswith("_link"))
    assert [p.name for p in out] == ["data.txt"] and not any(p.is_symlink() for p in dest.rglob("*"))


@pytest.mark.parametrize("name", ["rar3-vols.part1.rar", "rar5-vols.part1.rar"])
def test_multi_volume_rar_is_refused(samples: Path, tmp_path: Path, name: str) -> None:
    # refused up front: with a volume missing, UnRAR would ask for it again and again (the extraction would hang)
    with pytest.raises(ArchiveError, match=r"member 'vols/bigfile\.txt' spans volumes"):
        extract(samples / name, tmp_path)


@pytest.mark.parametrize("name", ["rar3-solid.rar", "rar5-solid-qo.rar"])
def test_damaged_rar_is_an_archive_error_never_wrong_bytes(samples: Path, tmp_path: Path, name: str) -> None:
    data = (samples / name).read_bytes()
    listed = _listing(samples / f"{name}.exp")
    archive = tmp_path / "damaged.rar"
    for cut in (len(data) // 3, len(data) // 2, len(data) - 20):
        archive.write_bytes(data[:cut])
        with pytest.raises(ArchiveError, match=r"damaged\.rar: corrupt or truncated RAR archive"):
            extract(archive, tmp_path / f"cut{cut}")
        assert not list((tmp_path / f"cut{cut}").rglob("*.tmp*"))  # no half-written member left behind
    errors = 0
    for pos in range(len(data)):  # one flipped byte anywhere: an error, or (in a field nobody reads) the same files
        flipped = bytearray(data)
        flipped[pos] ^= 0xFF
        archive.write_bytes(bytes(flipped))
        dest = tmp_path / f"flip{pos}"
        try:
            out = extract(archive, dest)
        except ArchiveError:
            errors += 1
            continue
        assert {p.relative_to(dest).as_posix(): (p.stat().st_size, zlib.crc32(p.read_bytes())) for p in out} == listed
    assert errors > len(data) // 4  # rar5-solid-qo ends in a quick-open copy of the headers that extraction skips


def _tar(path: Path, members: dict[str, bytes], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


CLIPS = {"train/abseiling/a.mp4": b"a" * 3000, "val/zumba/b.mp4": b"b" * 10, "./c.mp4": b""}


def test_the_format_comes_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    plain = _tar(tmp_path / "part_120.tar.gz", CLIPS)  # CVDF's part_120.tar.gz: an uncompressed tar
    gz = _tar(tmp_path / "part_1.zip", CLIPS, "w:gz")
    zp = _zip(tmp_path / "UCF101.rar", CLIPS)  # a mirror's re-pack under the original name
    assert [archive_format(p) for p in (plain, gz, zp)] == ["tar", "gzip-tar", "zip"]
    for archive in (plain, gz, zp):
        dest = tmp_path / f"out-{archive.name}"
        out = extract(archive, dest)
        assert {p.relative_to(dest).as_posix(): p.read_bytes() for p in out} == {
            "train/abseiling/a.mp4": b"a" * 3000, "val/zumba/b.mp4": b"b" * 10, "c.mp4": b""}
    (tmp_path / "notes.txt").write_text("not an archive")
    with pytest.raises(ArchiveError, match=r"notes\.txt: not a RAR, zip or tar archive"):
        archive_format(tmp_path / "notes.txt")


def test_flatten_and_select(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "part.tar.gz", CLIPS, "w:gz")
    out = extract(archive, tmp_path / "clips", flatten=True, select=lambda n: n.endswith(".mp4") and "zumba" not in n)
    assert out == [tmp_path / "clips" / "a.mp4", tmp_path / "clips" / "c.mp4"]
    assert sorted(os.listdir(tmp_path / "clips")) == ["a.mp4", "c.mp4"]
    twice = _tar(tmp_path / "twice.tar", {"x/a.mp4": b"1", "y/a.mp4": b"2"})
    with pytest.raises(UnsafeArchive, match=r"'x/a\.mp4' and 'y/a\.mp4' would both be written"):
        extract(twice, tmp_path / "flat", flatten=True)


@pytest.mark.parametrize("evil", ["../escape.mp4", "/tmp/abs.mp4", "a/../../escape.mp4"])
@pytest.mark.parametrize("pack", [_tar, _zip])
def test_members_outside_dest_are_refused(tmp_path: Path, evil: str, pack) -> None:
    archive = pack(tmp_path / "evil.bin", {"ok.mp4": b"ok", evil: b"pwned"})
    with pytest.raises(UnsafeArchive, match=r"evil\.bin: member .* would be written outside the destination"):
        extract(archive, tmp_path / "a" / "dest")
    assert not list(tmp_path.rglob("escape.mp4")) and not Path("/tmp/abs.mp4").exists()


def test_tar_links_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as tf:
        link = tarfile.TarInfo("clips")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        tf.addfile(link)
    with pytest.raises(UnsafeArchive, match=r"links\.tar: member 'clips' is a link or special file"):
        extract(archive, tmp_path / "dest")
    assert not (tmp_path / "dest" / "clips").exists()


def test_truncated_tar_and_corrupt_zip_are_archive_errors(tmp_path: Path) -> None:
    big = {"a.mp4": os.urandom(200_000), "b.mp4": os.urandom(200_000)}
    whole = _tar(tmp_path / "whole.tar.gz", big, "w:gz").read_bytes()
    for cut in (len(whole) // 4, 3 * len(whole) // 4, len(whole) - 10):
        archive = tmp_path / f"cut{cut}.tar.gz"
        archive.write_bytes(whole[:cut])
        with pytest.raises(ArchiveError, match=rf"cut{cut}\.tar\.gz: corrupt or truncated gzip-tar archive") as err:
            extract(archive, tmp_path / f"out{cut}")
        assert not isinstance(err.value, UnsafeArchive)  # a fresh download may cure it: not the archive's content
        assert not list((tmp_path / f"out{cut}").rglob("*.tmp*"))
    plain = _tar(tmp_path / "plain.tar", big).read_bytes()
    (tmp_path / "cut.tar").write_bytes(plain[:300_000])  # inside b.mp4's data
    with pytest.raises(ArchiveError, match=r"cut\.tar: corrupt or truncated tar archive"):
        extract(tmp_path / "cut.tar", tmp_path / "out-tar")
    assert [p.name for p in (tmp_path / "out-tar").iterdir()] == ["a.mp4"]  # b.mp4 never under its final name
    with zipfile.ZipFile(tmp_path / "bad.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.mp4", b"x" * 1000)
    data = bytearray((tmp_path / "bad.zip").read_bytes())
    data[data.index(b"x" * 1000) + 500] = ord("y")  # same size, wrong CRC
    (tmp_path / "bad.zip").write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"bad\.zip: corrupt or truncated zip archive \(BadZipFile: Bad CRC"):
        extract(tmp_path / "bad.zip", tmp_path / "out-zip")
    assert not list((tmp_path / "out-zip").rglob("*.mp4"))
