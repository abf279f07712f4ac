"""Fetch torchvision's ImageNet GoogLeNet checkpoint (``googlenet-1378be20.pth``), the paper's ImageNet start.

The download goes through :func:`i3d.acquire.download.download`: resumable (a ``.part`` file grows across
attempts and runs, continued with an HTTP Range request), retried with backoff, and atomic (renamed into
place only once the checksum matches), so a killed job never leaves a file that looks complete.
A local copy can be given instead (``source``), for machines without network.

Checksum: torchvision names its files ``<name>-<first 8 hex digits of the file's sha256>.pth`` (torch.hub
checks that prefix). The full sha256 of this file is not recorded in the project's reference notes, so
by default only that 8-digit prefix, taken from the file name, is checked; pass ``sha256`` (full or a
longer prefix) to check more.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ..acquire.download import ChecksumError, DownloadError, check_sha256, download

TORCHVISION_GOOGLENET_URL = "https://download.pytorch.org/models/googlenet-1378be20.pth"
TORCHVISION_GOOGLENET_SHA256_PREFIX = "1378be20"


class WeightsUnavailable(RuntimeError):
    """The weights could not be downloaded; the message says how to place them by hand."""


def name_hash_prefix(name: str) -> str | None:
    """The sha256 prefix in a torchvision-style file name (``googlenet-1378be20.pth`` -> ``1378be20``)."""
    match = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$", Path(name.split("?")[0]).name)
    return match.group(1) if match else None


def _by_hand(url: str, dst: Path, expected: str | None) -> str:
    check = f" (its sha256 must start with {expected})" if expected else ""
    return (f"To place the file by hand: on a machine with internet, download {url} (e.g. `curl -L -O {url}`; "
            f"torchvision's googlenet(weights='IMAGENET1K_V1') also leaves it in ~/.cache/torch/hub/checkpoints/), "
            f"copy it to this machine and either put it at {dst} or pass it as a local source "
            f"(`i3d weights fetch-imagenet --source PATH {dst}`){check}.")


def fetch_imagenet(
    dst: str | Path,
    *,
    url: str = TORCHVISION_GOOGLENET_URL,
    sha256: str | None = None,
    source: str | Path | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Put the checked GoogLeNet checkpoint at ``dst`` and return it.

    ``source``: a local copy to use instead of downloading. ``sha256``: the expected digest or prefix;
    by default the prefix in the file name of ``url`` (or ``source``). A ``dst`` that already exists is
    kept if it passes the check (ValueError if not: a file placed by hand is never overwritten). Raises
    :class:`WeightsUnavailable` (saying how to place the file by hand) when the download fails, ValueError
    (:class:`~i3d.acquire.download.ChecksumError` for a download) when the checksum does not match.
    """
    dst = Path(dst)
    expected = sha256 or name_hash_prefix(str(source) if source else url)
    if dst.is_file():  # done before, or placed by hand: kept if it checks out, never overwritten if not
        try:
            check_sha256(dst, expected)
        except ValueError as err:
            raise ValueError(f"{err}; remove it (or fix it) and run again") from None
        return dst
    if source is None:
        try:
            download([url], dst, sha256=expected, timeout_s=timeout, progress=progress)
            return dst
        except ChecksumError:
            raise  # a ValueError: the server answered, with the wrong bytes (the message says which, and that
            # the partial file was removed)
        except DownloadError as err:
            raise WeightsUnavailable(f"{err} {_by_hand(url, dst, expected)}") from err
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = dst.with_name(dst.name + ".part")
    check_sha256(source, expected)
    shutil.copyfile(source, part)
    os.replace(part, dst)
    return dst
