"""Fetch torchvision's ImageNet GoogLeNet checkpoint (``googlenet-1378be20.pth``), the paper's ImageNet start.

Download is resumable (a ``.part`` file grows across attempts, continued with an HTTP Range request) and
atomic (renamed into place only once the checksum matches), so a killed job never leaves a file that
looks complete. A local copy can be given instead (``source``), for machines without network.

Checksum: torchvision names its files ``<name>-<first 8 hex digits of the file's sha256>.pth`` (torch.hub
checks that prefix). The full sha256 of this file is not recorded in the project's reference notes, so
by default only that 8-digit prefix, taken from the file name, is checked; pass ``sha256`` (full or a
longer prefix) to check more.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

TORCHVISION_GOOGLENET_URL = "https://download.pytorch.org/models/googlenet-1378be20.pth"
TORCHVISION_GOOGLENET_SHA256_PREFIX = "1378be20"
CHUNK = 1 << 20


class WeightsUnavailable(RuntimeError):
    """The weights could not be downloaded; the message says how to place them by hand."""


def name_hash_prefix(name: str) -> str | None:
    """The sha256 prefix in a torchvision-style file name (``googlenet-1378be20.pth`` -> ``1378be20``)."""
    match = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$", Path(name.split("?")[0]).name)
    return match.group(1) if match else None


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: str | Path, expected: str | None) -> None:
    """ValueError unless ``path``'s sha256 starts with ``expected`` (a full digest or a prefix; None: no check)."""
    if expected is None:
        return
    actual = sha256_of(path)
    if not actual.startswith(expected.lower()):
        raise ValueError(f"{path}: sha256 {actual} does not match the expected {expected}")


def _by_hand(url: str, dst: Path, expected: str | None) -> str:
    check = f" (its sha256 must start with {expected})" if expected else ""
    return (f"To place the file by hand: on a machine with internet, download {url} (e.g. `curl -L -O {url}`; "
            f"torchvision's googlenet(weights='IMAGENET1K_V1') also leaves it in ~/.cache/torch/hub/checkpoints/), "
            f"copy it to this machine and either put it at {dst} or pass it as a local source "
            f"(`i3d weights fetch-imagenet --source PATH {dst}`){check}.")


def _download(url: str, part: Path, timeout: float) -> None:
    """Append ``url``'s bytes to ``part``, continuing where an earlier attempt stopped."""
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:  # nothing past what we have: the earlier attempt finished
            return
        raise
    with response:
        resumed = start and getattr(response, "status", None) == 206
        length = response.headers.get("Content-Length") if response.headers else None
        total = (start if resumed else 0) + int(length) if length else None
        with open(part, "ab" if resumed else "wb") as fh:  # a server that ignores Range sends it all again
            shutil.copyfileobj(response, fh, CHUNK)
    if total is not None and part.stat().st_size < total:
        raise OSError(f"connection closed after {part.stat().st_size} of {total} bytes")


def fetch_imagenet(
    dst: str | Path,
    *,
    url: str = TORCHVISION_GOOGLENET_URL,
    sha256: str | None = None,
    source: str | Path | None = None,
    timeout: float = 60.0,
) -> Path:
    """Put the checked GoogLeNet checkpoint at ``dst`` and return it.

    ``source``: a local copy to use instead of downloading. ``sha256``: the expected digest or prefix;
    by default the prefix in the file name of ``url`` (or ``source``). A ``dst`` that already exists is
    kept if it passes the check (ValueError if not: a file placed by hand is never overwritten). Raises :class:`WeightsUnavailable` (saying how to place the file by hand) when the
    download fails, ValueError when the checksum does not match.
    """
    dst = Path(dst)
    expected = sha256 or name_hash_prefix(str(source) if source else url)
    if dst.is_file():  # done before, or placed by hand: kept if it checks out, never overwritten if not
        try:
            check_sha256(dst, expected)
        except ValueError as err:
            raise ValueError(f"{err}; remove it (or fix it) and run again") from None
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = dst.with_name(dst.name + ".part")
    if source is not None:
        check_sha256(source, expected)
        shutil.copyfile(source, part)
    else:
        try:
            _download(url, part, timeout)
        except (OSError, http.client.HTTPException) as err:  # URLError, HTTPError and timeouts are OSErrors
            reason = getattr(err, "reason", err)
            kept = f" {part.stat().st_size} bytes kept in {part}; run again to resume." if part.exists() else ""
            raise WeightsUnavailable(f"could not download {url}: {reason}.{kept} {_by_hand(url, dst, expected)}") \
                from err
        try:
            check_sha256(part, expected)
        except ValueError as err:
            part.unlink()
            raise ValueError(f"{err} (downloaded from {url}; the partial file was removed)") from None
    os.replace(part, dst)
    return dst
