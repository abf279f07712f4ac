"""A file server on 127.0.0.1 for the download tests: real HTTP, Range requests, and faults on demand.

Tests point the pipeline's mirror lists at :attr:`LoopbackServer.url` (never at another address). The server
serves the files under ``root`` (URL path = relative file path, percent-decoded, so names with spaces work) and
follows a per-path *plan*: one action per request, in order, then plain serving. Actions:

- ``drop``: full Content-Length, half the body, then the connection is shut;
- ``404``, ``500``, ``503``: that status;
- ``429``: Too Many Requests with ``Retry-After: 1``;
- ``wrong``: as many bytes as the file, different ones (a corrupt mirror);
- ``norange``: the whole file with 200, whatever Range asked;
- ``badrange``: a 206 whose Content-Range starts one byte later than asked (a broken proxy);
- ``416``: Range Not Satisfiable without a Content-Range (a server that omits the file's size).

Every request's path and Range header is recorded in :attr:`seen`. ``rate`` (bytes/s) throttles the body, so a
test or benchmark can interrupt a transfer half-way.
"""
from __future__ import annotations

import http.server
import socket
import threading
import time
import urllib.parse
from pathlib import Path
from typing import ClassVar

CHUNK = 1 << 16


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        srv = self.server
        rng = self.headers.get("Range")
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        with srv.lock:
            srv.seen.append((path, rng))
            plan = srv.plans.get(path, [])
            action = plan.pop(0) if plan else "ok"
        if action in ("404", "416", "500", "503"):
            self.send_error(int(action))
            return
        if action == "429":
            self.send_response(429)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        file = (srv.root / path.lstrip("/")).resolve()
        if not file.is_file() or srv.root.resolve() not in file.parents:
            self.send_error(404)
            return
        size = file.stat().st_size
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng and action != "norange" else 0
        if start >= size and start > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if action == "badrange":
            start = min(start + 1, size)
        self.send_response(206 if start or (rng and action == "badrange") else 200)
        if start or (rng and action == "badrange"):
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        limit = (size - start) // 2 if action == "drop" else size - start
        self._send_body(file, start, limit, invert=action == "wrong")
        if action == "drop":
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send_body(self, file: Path, start: int, length: int, *, invert: bool) -> None:
        rate = self.server.rate
        tic = time.monotonic()
        sent = 0
        with file.open("rb") as fh:
            fh.seek(start)
            while sent < length:
                chunk = fh.read(min(CHUNK, length - sent))
                if not chunk:
                    break
                if invert:
                    chunk = bytes(255 - b for b in chunk)
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return
                sent += len(chunk)
                if rate:
                    ahead = sent / rate - (time.monotonic() - tic)
                    if ahead > 0:
                        time.sleep(ahead)

    def log_message(self, *args) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    plans: dict[str, list[str]]
    seen: list[tuple[str, str | None]]
    lock: threading.Lock
    rate: float | None


class LoopbackServer:
    """``with LoopbackServer(root) as srv:`` serves ``root`` at ``srv.url`` (http://127.0.0.1:<free port>)."""

    ACTIONS: ClassVar[tuple[str, ...]] = ("drop", "404", "416", "500", "503", "429", "wrong", "norange", "badrange")

    def __init__(self, root: str | Path, *, rate: float | None = None) -> None:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.root = Path(root)
        self._httpd.plans, self._httpd.seen = {}, []
        self._httpd.lock = threading.Lock()
        self._httpd.rate = rate
        self.url = f"http://127.0.0.1:{self._httpd.server_port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01},
                                        daemon=True)

    @property
    def seen(self) -> list[tuple[str, str | None]]:
        """(path, Range header) of every request so far."""
        return self._httpd.seen

    def plan(self, path: str, *actions: str) -> None:
        """Answer the next requests for ``path`` (e.g. ``/UCF101.rar``) with ``actions``, in order."""
        unknown = set(actions) - set(self.ACTIONS)
        if unknown:
            raise ValueError(f"unknown action(s) {sorted(unknown)}; allowed: {', '.join(self.ACTIONS)}")
        with self._httpd.lock:
            self._httpd.plans.setdefault(path, []).extend(actions)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
