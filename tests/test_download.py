"""i3d.data.download against a server on 127.0.0.1 started here: resume, retries, mirrors, checks, free space.

The server follows a per-path plan (one action per request, then it serves the file normally) and records
every request's path and Range header, so each test says exactly which requests it expects.
"""
from __future__ import annotations

import hashlib
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import requests

from i3d.data import download as dl
from i3d.data.download import ChecksumError, DownloadError, InsufficientSpace, download

PAYLOAD = bytes(range(256)) * 1200  # 300 kB: several reads, so a drop half-way leaves a real prefix
SHA = hashlib.sha256(PAYLOAD).hexdigest()
FAST = {"timeout_s": 5.0, "backoff_s": 0.001, "progress": False}


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD (honouring ``Range: bytes=N-``) unless the plan for the path says otherwise:
    ``drop`` (full Content-Length, half the body, then the connection closes), ``404``, ``500``, ``wrong``
    (as many bytes, different ones), ``norange`` (the whole file with 200 whatever was asked)."""

    plans: ClassVar[dict[str, list[str]]] = {}
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        rng = self.headers.get("Range")
        type(self).seen.append((self.path, rng))
        plan = type(self).plans.get(self.path, [])
        action = plan.pop(0) if plan else "ok"
        if action in ("404", "500"):
            self.send_error(int(action))
            return
        start = int(rng.removeprefix("bytes=").rstrip("-")) if rng and action != "norange" else 0
        if start >= len(PAYLOAD):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = bytes(255 - b for b in PAYLOAD) if action == "wrong" else PAYLOAD
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if action == "drop":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.plans, _Handler.seen = {}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The backoff delays asked for (recorded, not slept)."""
    asked: list[float] = []
    monkeypatch.setattr(dl.time, "sleep", asked.append)
    return asked


def _part(dst: Path) -> Path:
    return dst.with_name(dst.name + ".part")


def test_downloads_and_checks(tmp_path: Path, server: str) -> None:
    dst = tmp_path / "sub" / "file.bin"
    assert download([f"{server}/f"], dst, sha256=SHA, size=len(PAYLOAD), **FAST) == dst
    assert dst.read_bytes() == PAYLOAD and not _part(dst).exists()
    assert _Handler.seen == [("/f", None)]


def test_a_drop_half_way_is_retried_from_the_part(tmp_path: Path, server: str, sleeps: list[float]) -> None:
    _Handler.plans["/f"] = ["drop"]
    dst = tmp_path / "file.bin"
    download([f"{server}/f"], dst, sha256=SHA, retries=2, **FAST)
    assert dst.read_bytes() == PAYLOAD and not _part(dst).exists()
    assert len(_Handler.seen) == 2 and _Handler.seen[0][1] is None
    resumed_from = int(_Handler.seen[1][1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_from <= len(PAYLOAD) // 2  # what arrived before the drop was kept, not fetched again
    assert sleeps == [0.001]


def test_a_rerun_continues_the_kept_part(tmp_path: Path, server: str, sleeps: list[float]) -> None:
    _Handler.plans["/f"] = ["drop"]
    dst = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match="run again to resume") as err:
        download([f"{server}/f"], dst, sha256=SHA, retries=0, **FAST)
    assert not isinstance(err.value, ChecksumError) and f"{server}/f" in str(err.value)
    kept = _part(dst).stat().st_size
    assert not dst.exists() and 0 < kept <= len(PAYLOAD) // 2 and _part(dst).read_bytes() == PAYLOAD[:kept]
    download([f"{server}/f"], dst, sha256=SHA, retries=0, **FAST)  # the rerun
    assert _Handler.seen[1] == ("/f", f"bytes={kept}-")
    assert dst.read_bytes() == PAYLOAD and not _part(dst).exists() and sleeps == []


def test_5xx_is_retried_with_growing_backoff(tmp_path: Path, server: str, sleeps: list[float]) -> None:
    _Handler.plans["/f"] = ["500", "500"]
    dst = tmp_path / "file.bin"
    download([f"{server}/f"], dst, sha256=SHA, retries=2, **FAST)
    assert dst.read_bytes() == PAYLOAD and len(_Handler.seen) == 3
    assert sleeps == [0.001, 0.002]
    _Handler.plans["/g"] = ["500", "500"]
    with pytest.raises(DownloadError, match=r"2 attempts\): HTTP 500"):  # one retry is not enough
        download([f"{server}/g"], tmp_path / "other.bin", retries=1, **FAST)


def test_404_moves_on_to_the_next_mirror_at_once(tmp_path: Path, server: str, sleeps: list[float]) -> None:
    _Handler.plans["/a"] = ["404"] * 5
    dst = tmp_path / "file.bin"
    download([f"{server}/a", f"{server}/b"], dst, sha256=SHA, **FAST)
    assert dst.read_bytes() == PAYLOAD
    assert [path for path, _ in _Handler.seen] == ["/a", "/b"] and sleeps == []  # no retry, no wait on a 404


def test_an_unreachable_mirror_is_skipped_without_waiting(tmp_path: Path, server: str,
                                                          sleeps: list[float]) -> None:
    with socket.socket() as sock:  # a port on 127.0.0.1 that nothing listens on (once closed)
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/f"
    dst = tmp_path / "file.bin"
    download([closed, f"{server}/f"], dst, sha256=SHA, **FAST)
    assert dst.read_bytes() == PAYLOAD and sleeps == []


def test_wrong_bytes_are_rejected_and_removed(tmp_path: Path, server: str, sleeps: list[float]) -> None:
    _Handler.plans["/a"] = ["wrong"]
    _Handler.plans["/b"] = ["wrong"]
    dst = tmp_path / "file.bin"
    with pytest.raises(ChecksumError, match="sha256") as err:
        download([f"{server}/a", f"{server}/b"], dst, sha256=SHA[:8], **FAST)
    assert isinstance(err.value, ValueError)
    assert f"{server}/a" in str(err.value) and f"{server}/b" in str(err.value)
    assert not dst.exists() and not _part(dst).exists()
    assert len(_Handler.seen) == 2 and sleeps == []  # the same mirror is not asked again for the same bad bytes


def test_a_bad_mirror_then_a_good_one(tmp_path: Path, server: str) -> None:
    _Handler.plans["/a"] = ["wrong"]
    dst = tmp_path / "file.bin"
    download([f"{server}/a", f"{server}/b"], dst, sha256=SHA, **FAST)
    assert dst.read_bytes() == PAYLOAD and [p for p, _ in _Handler.seen] == ["/a", "/b"]


def test_a_wrong_size_is_rejected(tmp_path: Path, server: str) -> None:
    dst = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match=f"{len(PAYLOAD)} bytes, expected {len(PAYLOAD) - 1}"):
        download([f"{server}/f"], dst, size=len(PAYLOAD) - 1, retries=0, **FAST)
    assert not dst.exists() and not _part(dst).exists()


def test_every_mirror_failing_names_each_url_and_its_error(tmp_path: Path, server: str,
                                                           sleeps: list[float]) -> None:
    _Handler.plans["/a"] = ["404"] * 5
    _Handler.plans["/b"] = ["500"] * 5
    dst = tmp_path / "file.bin"
    with pytest.raises(DownloadError) as err:
        download([f"{server}/a", f"{server}/b"], dst, sha256=SHA, retries=2, **FAST)
    message = str(err.value)
    assert f"{server}/a (1 attempt): HTTP 404" in message and f"{server}/b (3 attempts): HTTP 500" in message
    assert [f for f, *_ in err.value.failures] == [f"{server}/a", f"{server}/b"]
    assert not dst.exists() and len(_Handler.seen) == 4


def test_a_server_that_ignores_range_starts_over(tmp_path: Path, server: str) -> None:
    _Handler.plans["/f"] = ["norange"]
    dst = tmp_path / "file.bin"
    _part(dst).write_bytes(PAYLOAD[:1000])
    download([f"{server}/f"], dst, sha256=SHA, **FAST)
    assert _Handler.seen == [("/f", "bytes=1000-")] and dst.read_bytes() == PAYLOAD  # not appended to the part


def test_a_complete_part_is_checked_and_kept(tmp_path: Path, server: str) -> None:
    dst = tmp_path / "file.bin"
    _part(dst).write_bytes(PAYLOAD)  # an earlier run got every byte, then was killed before the rename
    download([f"{server}/f"], dst, sha256=SHA, **FAST)  # the server answers 416: nothing past that
    assert _Handler.seen == [("/f", f"bytes={len(PAYLOAD)}-")] and dst.read_bytes() == PAYLOAD


def test_free_space_is_checked_before_the_transfer(tmp_path: Path, server: str, monkeypatch) -> None:
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    dst = tmp_path / "file.bin"
    with pytest.raises(InsufficientSpace, match=r"needs 5\.00 GB \(5000000000 bytes\).*only 0\.0 MB \(1000 bytes\)"):
        download([f"{server}/f"], dst, size=5_000_000_000, **FAST)
    assert _Handler.seen == []  # a known size is checked before any request
    with pytest.raises(InsufficientSpace, match=f"{len(PAYLOAD)} bytes"):  # else from Content-Length
        download([f"{server}/f"], dst, **FAST)
    assert len(_Handler.seen) == 1 and not dst.exists() and not _part(dst).exists()


def test_tls_is_verified_unless_a_source_opts_out(tmp_path: Path, server: str) -> None:
    class Recording(requests.Session):
        verify_flags: ClassVar[list[object]] = []

        def get(self, url, **kwargs):  # type: ignore[override]
            type(self).verify_flags.append(kwargs.get("verify"))
            return super().get(url, **kwargs)

    with Recording() as session:
        download([f"{server}/f"], tmp_path / "a.bin", session=session, **FAST)
        download([f"{server}/f"], tmp_path / "b.bin", session=session, verify_tls=False, **FAST)
    assert Recording.verify_flags == [True, False]
