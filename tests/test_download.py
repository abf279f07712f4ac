"""i3d.acquire.download against tests/loopback.py on 127.0.0.1: resume, retries, mirrors, checks, free space.

The server follows a per-path plan (one action per request, then it serves the file normally) and records
every request's path and Range header, so each test says exactly which requests it expects.
"""
from __future__ import annotations

import hashlib
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import requests

from i3d.acquire import download as dl
from i3d.acquire.download import ChecksumError, DownloadError, InsufficientSpace, download
from loopback import LoopbackServer

PAYLOAD = bytes(range(256)) * 1200  # 300 kB: several reads, so a drop half-way leaves a real prefix
SHA = hashlib.sha256(PAYLOAD).hexdigest()
FAST = {"timeout_s": 5.0, "backoff_s": 0.001, "progress": False}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LoopbackServer]:
    """tests/loopback.py serving PAYLOAD as /f, /g, /a and /b."""
    served = tmp_path / "served"
    served.mkdir()
    for name in "fgab":
        (served / name).write_bytes(PAYLOAD)
    with LoopbackServer(served) as srv:
        yield srv


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The backoff delays asked for (recorded, not slept)."""
    asked: list[float] = []
    monkeypatch.setattr(dl.time, "sleep", asked.append)
    return asked


def _part(dst: Path) -> Path:
    return dst.with_name(dst.name + ".part")


def test_downloads_and_checks(tmp_path: Path, server: LoopbackServer) -> None:
    dst = tmp_path / "sub" / "file.bin"
    assert download([f"{server.url}/f"], dst, sha256=SHA, size=len(PAYLOAD), **FAST) == f"{server.url}/f"
    assert dst.read_bytes() == PAYLOAD and not _part(dst).exists()
    assert server.seen == [("/f", None)]


def test_a_drop_half_way_is_retried_from_the_part(tmp_path: Path, server: LoopbackServer, sleeps: list[float]) -> None:
    server.plan("/f", "drop")
    dst = tmp_path / "file.bin"
    download([f"{server.url}/f"], dst, sha256=SHA, retries=2, **FAST)
    assert dst.read_bytes() == PAYLOAD and not _part(dst).exists()
    assert len(server.seen) == 2 and server.seen[0][1] is None
    resumed_from = int(server.seen[1][1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_from <= len(PAYLOAD) // 2  # what arrived before the drop was kept, not fetched again
    assert sleeps == [0.001]


def test_a_rerun_continues_the_kept_part(tmp_path: Path, server: LoopbackServer, sleeps: list[float]) -> None:
    server.plan("/f", "drop")
    dst = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match="run again to resume") as err:
        download([f"{server.url}/f"], dst, sha256=SHA, retries=0, **FAST)
    assert not isinstance(err.value, ChecksumError) and f"{server.url}/f" in str(err.value)
    kept = _part(dst).stat().st_size
    assert not dst.exists() and 0 < kept <= len(PAYLOAD) // 2 and _part(dst).read_bytes() == PAYLOAD[:kept]
    download([f"{server.url}/f"], dst, sha256=SHA, retries=0, **FAST)  # the rerun
    assert server.seen[1] == ("/f", f"bytes={kept}-")
    assert dst.read_bytes() == PAYLOAD and not _part(dst).exists() and sleeps == []


def test_5xx_is_retried_with_growing_backoff(tmp_path: Path, server: LoopbackServer, sleeps: list[float]) -> None:
    server.plan("/f", "500", "500")
    dst = tmp_path / "file.bin"
    download([f"{server.url}/f"], dst, sha256=SHA, retries=2, **FAST)
    assert dst.read_bytes() == PAYLOAD and len(server.seen) == 3
    assert sleeps == [0.001, 0.002]
    server.plan("/g", "500", "500")
    with pytest.raises(DownloadError, match=r"2 attempts\): HTTP 500"):  # one retry is not enough
        download([f"{server.url}/g"], tmp_path / "other.bin", retries=1, **FAST)


def test_404_moves_on_to_the_next_mirror_at_once(tmp_path: Path, server: LoopbackServer, sleeps: list[float]) -> None:
    server.plan("/a", *["404"] * 5)
    dst = tmp_path / "file.bin"
    served_by = download([f"{server.url}/a", f"{server.url}/b"], dst, sha256=SHA, **FAST)
    assert dst.read_bytes() == PAYLOAD and served_by == f"{server.url}/b"  # the mirror that served it
    assert [path for path, _ in server.seen] == ["/a", "/b"] and sleeps == []  # no retry, no wait on a 404


def test_an_unreachable_mirror_is_skipped_without_waiting(tmp_path: Path, server: LoopbackServer,
                                                          sleeps: list[float]) -> None:
    with socket.socket() as sock:  # a port on 127.0.0.1 that nothing listens on (once closed)
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/f"
    dst = tmp_path / "file.bin"
    download([closed, f"{server.url}/f"], dst, sha256=SHA, **FAST)
    assert dst.read_bytes() == PAYLOAD and sleeps == []


def test_wrong_bytes_are_rejected_and_removed(tmp_path: Path, server: LoopbackServer, sleeps: list[float]) -> None:
    server.plan("/a", "wrong")
    server.plan("/b", "wrong")
    dst = tmp_path / "file.bin"
    with pytest.raises(ChecksumError, match="sha256") as err:
        download([f"{server.url}/a", f"{server.url}/b"], dst, sha256=SHA[:8], **FAST)
    assert isinstance(err.value, ValueError)
    assert f"{server.url}/a" in str(err.value) and f"{server.url}/b" in str(err.value)
    assert not dst.exists() and not _part(dst).exists()
    assert len(server.seen) == 2 and sleeps == []  # the same mirror is not asked again for the same bad bytes


def test_a_bad_mirror_then_a_good_one(tmp_path: Path, server: LoopbackServer) -> None:
    server.plan("/a", "wrong")
    dst = tmp_path / "file.bin"
    download([f"{server.url}/a", f"{server.url}/b"], dst, sha256=SHA, **FAST)
    assert dst.read_bytes() == PAYLOAD and [p for p, _ in server.seen] == ["/a", "/b"]


def test_a_wrong_size_is_rejected(tmp_path: Path, server: LoopbackServer) -> None:
    dst = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match=f"{len(PAYLOAD)} bytes, expected {len(PAYLOAD) - 1}"):
        download([f"{server.url}/f"], dst, size=len(PAYLOAD) - 1, retries=0, **FAST)
    assert not dst.exists() and not _part(dst).exists()


def test_every_mirror_failing_names_each_url_and_its_error(tmp_path: Path, server: LoopbackServer,
                                                           sleeps: list[float]) -> None:
    server.plan("/a", *["404"] * 5)
    server.plan("/b", *["500"] * 5)
    dst = tmp_path / "file.bin"
    with pytest.raises(DownloadError) as err:
        download([f"{server.url}/a", f"{server.url}/b"], dst, sha256=SHA, retries=2, **FAST)
    message = str(err.value)
    assert f"{server.url}/a (1 attempt): HTTP 404" in message and f"{server.url}/b (3 attempts): HTTP 500" in message
    assert [f for f, *_ in err.value.failures] == [f"{server.url}/a", f"{server.url}/b"]
    assert not dst.exists() and len(server.seen) == 4


def test_a_server_that_ignores_range_starts_over(tmp_path: Path, server: LoopbackServer) -> None:
    server.plan("/f", "norange")
    dst = tmp_path / "file.bin"
    _part(dst).write_bytes(PAYLOAD[:1000])
    download([f"{server.url}/f"], dst, sha256=SHA, **FAST)
    assert server.seen == [("/f", "bytes=1000-")] and dst.read_bytes() == PAYLOAD  # not appended to the part


def test_a_complete_part_is_checked_and_kept(tmp_path: Path, server: LoopbackServer) -> None:
    dst = tmp_path / "file.bin"
    _part(dst).write_bytes(PAYLOAD)  # an earlier run got every byte, then was killed before the rename
    download([f"{server.url}/f"], dst, sha256=SHA, **FAST)  # the server answers 416: nothing past that
    assert server.seen == [("/f", f"bytes={len(PAYLOAD)}-")] and dst.read_bytes() == PAYLOAD


def test_free_space_is_checked_before_the_transfer(tmp_path: Path, server: LoopbackServer, monkeypatch) -> None:
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    dst = tmp_path / "file.bin"
    with pytest.raises(InsufficientSpace, match=r"needs 5\.00 GB \(5000000000 bytes\).*only 0\.0 MB \(1000 bytes\)"):
        download([f"{server.url}/f"], dst, size=5_000_000_000, **FAST)
    assert server.seen == []  # a known size is checked before any request
    with pytest.raises(InsufficientSpace, match=f"{len(PAYLOAD)} bytes"):  # else from Content-Length
        download([f"{server.url}/f"], dst, **FAST)
    assert len(server.seen) == 1 and not dst.exists() and not _part(dst).exists()


def test_tls_is_verified_unless_a_source_opts_out(tmp_path: Path, server: LoopbackServer) -> None:
    class Recording(requests.Session):
        verify_flags: ClassVar[list[object]] = []

        def get(self, url, **kwargs):  # type: ignore[override]
            type(self).verify_flags.append(kwargs.get("verify"))
            return super().get(url, **kwargs)

    with Recording() as session:
        download([f"{server.url}/f"], tmp_path / "a.bin", session=session, **FAST)
        download([f"{server.url}/f"], tmp_path / "b.bin", session=session, verify_tls=False, **FAST)
    assert Recording.verify_flags == [True, False]


def test_retry_after_is_honoured_and_capped(tmp_path: Path, server: LoopbackServer, sleeps: list[float],
                                            monkeypatch) -> None:
    server.plan("/f", "429", "503", "500")  # Retry-After: 1 on the 429 only (loopback.py)
    download([f"{server.url}/f"], tmp_path / "a.bin", sha256=SHA, retries=3, **FAST)
    assert sleeps == [1.0, 0.002, 0.004]  # the server's wait, then the backoff again
    monkeypatch.setattr(dl, "RETRY_AFTER_CAP_S", 0.5)
    server.plan("/g", "429")
    download([f"{server.url}/g"], tmp_path / "b.bin", sha256=SHA, **FAST)
    assert sleeps[3:] == [0.5]


def test_md5_is_checked(tmp_path: Path, server: LoopbackServer) -> None:
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    download([f"{server.url}/f"], tmp_path / "a.bin", md5=md5, **FAST)
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD
    server.plan("/f", "wrong")
    with pytest.raises(ChecksumError, match=f"md5 [0-9a-f]{{32}} does not match the expected {md5[:8]}"):
        download([f"{server.url}/f"], tmp_path / "b.bin", md5=md5[:8], **FAST)
    assert not (tmp_path / "b.bin").exists()


def test_a_range_answer_from_the_wrong_offset_starts_over(tmp_path: Path, server: LoopbackServer,
                                                          sleeps: list[float]) -> None:
    server.plan("/f", "badrange")  # asked for bytes=1000-, sent from 1001: appending would shift every byte
    dst = tmp_path / "file.bin"
    _part(dst).write_bytes(PAYLOAD[:1000])
    download([f"{server.url}/f"], dst, **FAST)  # no digest to catch it: the offset check alone must
    assert server.seen == [("/f", "bytes=1000-"), ("/f", None)] and dst.read_bytes() == PAYLOAD
    assert sleeps == [0.001]


def test_a_stale_part_longer_than_the_file_is_not_taken_for_it(tmp_path: Path, server: LoopbackServer,
                                                                sleeps: list[float]) -> None:
    server.plan("/f", "416")  # no Content-Range: the server does not say how long the file is
    dst = tmp_path / "file.bin"
    _part(dst).write_bytes(PAYLOAD + b"x" * 500)  # left by another file of the same name, or a broken server
    download([f"{server.url}/f"], dst, **FAST)  # no size or digest to catch it: the 416 alone must not
    assert server.seen == [("/f", f"bytes={len(PAYLOAD) + 500}-"), ("/f", None)] and dst.read_bytes() == PAYLOAD
    assert sleeps == [0.001]
