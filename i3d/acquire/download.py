"""Robust downloads: mirrors tried in order, resume, retries with backoff, verification before the rename.

Large public files (datasets, checkpoints) come over networks that drop connections and from servers that
answer 5xx under load. :func:`download` is the one place that deals with that:

- the bytes go to ``<dst>.part``, kept across attempts *and* across runs, and continued with an HTTP
  ``Range`` request (206: append; 200: the server ignores Range, start over; 416: nothing past what we have,
  kept only when the file's size, from ``Content-Range`` or the caller, is the part's: else start over);
- 5xx, 429, connection resets, timeouts and a body that ends early are retried on the same mirror with
  exponential backoff, or after the server's ``Retry-After`` (seconds; capped at :data:`RETRY_AFTER_CAP_S`)
  on a 429 or 503 when that is longer; any other 4xx, a refused connection or an unresolvable host moves on
  to the next mirror at once (no server is there to wait for);
- size, sha256 and md5 (full or prefix; HMDB's split RAR has only a published md5) are checked before
  ``.part`` is renamed into place, so a file at ``dst`` is always a complete, checked one; a file that fails
  the check is removed;
- free space on ``dst``'s filesystem is checked once the size is known, with a message saying how much is
  needed;
- when every mirror fails, :class:`DownloadError` names each URL, how often it was tried and its last error.

``requests`` (not hand-rolled sockets or urllib) does the HTTP: streaming, TLS verification (on by default;
``verify_tls=False`` is the explicit per-source opt-out) and timeouts.
"""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import requests
from tqdm import tqdm

from ..digest import digest_of, mismatch

CHUNK = 1 << 16  # bytes per read: small enough that little is lost when a connection drops mid-read
RETRY_AFTER_CAP_S = 300.0  # a server asking for a longer wait is not waited on past this, per attempt


class DownloadError(RuntimeError):
    """Every mirror failed. ``failures``: (url, attempts, last error) per mirror, in the order tried."""

    def __init__(self, dst: Path, failures: list[tuple[str, int, str]]):
        self.dst, self.failures = dst, failures
        part = _part(dst)
        kept = (f" {part.stat().st_size} bytes are kept in {part}; run again to resume."
                if part.exists() else "")
        lines = "".join(f"\n  {url} ({n} attempt{'s' if n != 1 else ''}): {error}" for url, n, error in failures)
        super().__init__(f"could not download {dst.name} from any of {len(failures)} URL(s):{lines}\n{kept}".rstrip())


class ChecksumError(DownloadError, ValueError):
    """Every mirror served the file, but none passed the size/digest check (a content, not a network, problem)."""


class InsufficientSpace(OSError):
    """Not enough free space for the download; the message says how much is needed and how much is free."""


class _Retry(Exception):
    """This attempt failed in a way worth retrying on the same mirror (after a backoff, or ``wait`` seconds if
    the server asked for longer)."""

    def __init__(self, message: str, wait: float = 0.0):
        super().__init__(message)
        self.wait = wait


class _NextMirror(Exception):
    """This mirror cannot serve the file: go on to the next one."""


class _BadContent(_NextMirror):
    """The mirror served a complete file that fails the size/sha256 check."""


def _mismatch(path: str | Path, expected: str | None, algorithm: str) -> str | None:
    """Why ``path``'s digest does not start with ``expected`` (a full digest or a prefix), or None if it does
    (or nothing is expected)."""
    return None if expected is None else mismatch(digest_of(path, algorithm), expected, algorithm)


def check_sha256(path: str | Path, expected: str | None) -> None:
    """ValueError unless ``path``'s sha256 starts with ``expected`` (a full digest or a prefix; None: no check)."""
    problem = _mismatch(path, expected, "sha256")
    if problem:
        raise ValueError(f"{path}: {problem}")


def _part(dst: Path) -> Path:
    return dst.with_name(dst.name + ".part")


def _gb(n: int) -> str:
    """A size for people: GB for the multi-GB downloads this check is for, MB below that, and the exact count."""
    return f"{n / 1e9:.2f} GB ({n} bytes)" if n >= 1e9 else f"{n / 1e6:.1f} MB ({n} bytes)"


def check_free_space(dst: Path, needed: int) -> None:
    """InsufficientSpace unless ``dst``'s filesystem has ``needed`` bytes free: fail before the transfer, not at
    90 % of a multi-GB one."""
    free = shutil.disk_usage(dst.parent).free
    if needed > free:
        raise InsufficientSpace(f"downloading {dst.name} needs {_gb(needed)} more free space in {dst.parent}; "
                                f"only {_gb(free)} is free. Free some space (or point the output elsewhere) and "
                                f"run again; the partial file, if any, is kept.")


def _is_unreachable(err: requests.ConnectionError) -> bool:
    """A refused connection or an unresolvable host (no server there; retrying only delays the error), as
    opposed to a reset or a drop mid-transfer (worth retrying)."""
    from urllib3.exceptions import NewConnectionError  # requests' own dependency

    reason = getattr(err.args[0], "reason", None) if err.args else None
    return isinstance(reason, NewConnectionError)


def _retry_after(response: requests.Response) -> float:
    """The wait a 429 or 503 asks for in ``Retry-After`` (the seconds form; an HTTP date is ignored), capped."""
    value = response.headers.get("Retry-After", "").strip()
    if response.status_code not in (429, 503) or not value.isdigit():
        return 0.0
    return min(float(value), RETRY_AFTER_CAP_S)


def _body_start(response: requests.Response, start: int) -> int:
    """Where the body of ``response`` to a request for ``bytes=start-`` begins in the file."""
    if response.status_code == 200:
        return 0  # the whole file again: the server ignores Range (or we asked from 0)
    content_range = response.headers.get("Content-Range", "")  # "bytes 100-199/200"
    try:
        begin = int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        begin = start
    if begin != start:  # not a continuation of what we have: start over on the next attempt
        raise _Retry(f"asked for bytes from {start}, the server sent from {begin}; starting over")
    return begin


def _transfer(session: requests.Session, url: str, dst: Path, *, size: int | None, verify_tls: bool,
              timeout_s: float, progress: bool) -> None:
    """One attempt: continue ``<dst>.part`` from ``url`` until the body ends. Raises _Retry / _NextMirror."""
    part = _part(dst)
    start = part.stat().st_size if part.exists() else 0
    if size is not None and start > size:
        part.unlink()  # longer than the file can be: not a prefix of it
        start = 0
    if size is not None:
        check_free_space(dst, size - start)
    headers = {"Accept-Encoding": "identity"}  # byte offsets must count the file's bytes, not gzip's
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        with session.get(url, headers=headers, stream=True, timeout=timeout_s, verify=verify_tls) as response:
            status = response.status_code
            if status == 416 and start:  # nothing past what we have: an earlier attempt got it all
                total = response.headers.get("Content-Range", "").rpartition("/")[2]
                known = int(total) if total.isdigit() else size
                if known is None:  # nothing says the part is the whole file rather than too long: start over
                    part.unlink()
                    raise _Retry(f"HTTP 416 without the file's size; the partial file ({start} bytes) cannot be "
                                 f"checked: starting over")
                if known != start:
                    part.unlink()
                    raise _Retry(f"HTTP 416; the file is {known} bytes, the partial file {start}: starting over")
                return
            if status >= 500 or status == 429:
                raise _Retry(f"HTTP {status} {response.reason}", _retry_after(response))
            if status >= 400:
                raise _NextMirror(f"HTTP {status} {response.reason}")
            try:
                offset = _body_start(response, start)
            except _Retry:
                part.unlink()
                raise
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length and length.isdigit() else size
            if total is not None and size is None:
                check_free_space(dst, total - offset)
            with open(part, "ab" if offset else "wb") as fh, \
                    tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                         desc=dst.name, disable=not progress, mininterval=1.0) as bar:
                for chunk in response.iter_content(CHUNK):
                    fh.write(chunk)
                    bar.update(len(chunk))
    except requests.ConnectionError as err:
        if _is_unreachable(err):
            raise _NextMirror(f"cannot connect: {err}") from err
        raise _Retry(f"connection error: {err}") from err
    except (requests.Timeout, requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError) as err:
        raise _Retry(f"{type(err).__name__}: {err}") from err
    except requests.RequestException as err:  # an invalid URL, too many redirects, ...
        raise _NextMirror(f"{type(err).__name__}: {err}") from err
    got = part.stat().st_size
    if total is not None and got < total:  # urllib3 2 raises on a short body itself (above); 1.26 does not
        raise _Retry(f"connection closed after {got} of {total} bytes")


def _verify(dst: Path, *, size: int | None, digests: dict[str, str | None], resumed: bool) -> None:
    """Check ``<dst>.part`` against ``size`` and ``digests`` ({algorithm: expected}); a file that fails is
    removed. After a resumed transfer the old prefix may be the culprit, so that is retried from scratch; a
    fresh one means the mirror serves other bytes."""
    part = _part(dst)
    got = part.stat().st_size
    if size is not None and got < size:
        raise _Retry(f"the body ended after {got} of {size} bytes")
    problem = f"{got} bytes, expected {size}" if size is not None and got != size else None
    for algorithm, expected in digests.items():
        problem = problem or _mismatch(part, expected, algorithm)
    if problem is not None:
        part.unlink()
        if resumed:
            raise _Retry(f"{problem} (after resuming; the partial file was removed, starting over)")
        raise _BadContent(f"{problem} (the file was removed)")


def download(urls: Sequence[str], dst: str | Path, *, sha256: str | None = None, size: int | None = None,
             md5: str | None = None, verify_tls: bool = True, retries: int = 4, backoff_s: float = 1.0,
             timeout_s: float = 60.0, progress: bool = True, session: requests.Session | None = None) -> str:
    """Download the file at ``urls`` (mirrors, tried in order) to ``dst``, checked; return the URL that served
    it (for the download report: the first mirror may be the one that failed).

    Each mirror gets up to ``1 + retries`` attempts, waiting ``backoff_s * 2**k`` before the k-th retry (or the
    server's capped ``Retry-After``, if longer). ``sha256``, ``md5``: the expected digest or a prefix of it;
    ``size``: the expected size in bytes (any None: not checked; Content-Length is always checked).
    ``timeout_s``: for connecting and between bytes, not for the whole transfer. An existing ``dst`` is
    replaced. Raises :class:`DownloadError` (:class:`ChecksumError` when every mirror served bytes that fail
    the check) or :class:`InsufficientSpace`.
    """
    if isinstance(urls, str):
        urls = [urls]
    if not urls:
        raise ValueError("download: no URL given")
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    failures: list[tuple[str, int, str]] = []
    bad_content = True
    own = session is None
    session = session or requests.Session()
    try:
        for url in urls:
            attempts, last, asked = 0, "", 0.0
            for attempt in range(retries + 1):
                if attempt:
                    time.sleep(max(backoff_s * 2 ** (attempt - 1), asked))
                attempts += 1
                resumed = _part(dst).exists() and _part(dst).stat().st_size > 0
                try:
                    _transfer(session, url, dst, size=size, verify_tls=verify_tls, timeout_s=timeout_s,
                              progress=progress)
                    _verify(dst, size=size, digests={"sha256": sha256, "md5": md5}, resumed=resumed)
                except _Retry as err:
                    last, asked = str(err), err.wait
                    continue
                except _NextMirror as err:
                    last = str(err)
                    bad_content &= isinstance(err, _BadContent)
                    break
                os.replace(_part(dst), dst)
                return url
            else:
                bad_content = False  # retries ran out: a network problem, not (only) wrong bytes
            failures.append((url, attempts, last))
    finally:
        if own:
            session.close()
    raise (ChecksumError if bad_content else DownloadError)(dst, failures)
