"""A multi-hundred-MB download from a server on 127.0.0.1, killed half-way (SIGKILL, as a scheduler or a
power cut does) and run again: the rerun must continue the kept ``.part`` with a Range request and end with
the source's sha256.

    python benchmarks/download_resume.py [--mb 400] [--rate-mb-s 200]

Prints the bytes fetched by each run, the Range the rerun asked for, the times, and both checksums; exits
non-zero if the checksums differ or the rerun started over.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from loopback import LoopbackServer  # noqa: E402  (the tests' file server)

from i3d.digest import sha256_of as sha256  # noqa: E402


def start_download(url: str, dst: Path) -> subprocess.Popen:
    code = ("import sys; from i3d.acquire.download import download; "
            "download([sys.argv[1]], sys.argv[2], progress=False)")
    return subprocess.Popen([sys.executable, "-c", code, url, str(dst)], cwd=REPO)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=400, help="file size, MB")
    parser.add_argument("--rate-mb-s", type=float, default=200.0, help="the server's rate, MB/s (so a kill lands mid-way)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        served, out = Path(tmp) / "served", Path(tmp) / "out"
        served.mkdir()
        source = served / "big.bin"
        with source.open("wb") as fh:
            for _ in range(args.mb):
                fh.write(os.urandom(1 << 20))
        size = source.stat().st_size
        expected = sha256(source)
        dst, part = out / "big.bin", out / "big.bin.part"
        with LoopbackServer(served, rate=args.rate_mb_s * 1e6) as srv:
            url = f"{srv.url}/big.bin"
            tic = time.perf_counter()
            proc = start_download(url, dst)
            while proc.poll() is None and (not part.exists() or part.stat().st_size < size // 2):
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            first = time.perf_counter() - tic
            kept = part.stat().st_size if part.exists() else 0
            requests_before = len(srv.seen)
            tic = time.perf_counter()
            rc = start_download(url, dst).wait()
            second = time.perf_counter() - tic
            ranges = [rng for _, rng in srv.seen[requests_before:]]
        got = sha256(dst) if dst.exists() else "(no file)"
        print(f"file: {size / 1e6:.0f} MB from {url} at {args.rate_mb_s:.0f} MB/s")
        print(f"run 1: killed (SIGKILL) after {first:.1f} s with {kept / 1e6:.1f} MB ({100 * kept / size:.0f}%) in .part")
        print(f"run 2: exit {rc} after {second:.1f} s; its requests' Range headers: {ranges}")
        print(f"sha256 source     {expected}")
        print(f"sha256 downloaded {got}")
        ok = rc == 0 and got == expected and ranges[:1] == [f"bytes={kept}-"]
        print("resumed and identical" if ok else "FAILED")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
