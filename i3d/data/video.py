"""Video in and out through ffmpeg (the binary imageio-ffmpeg ships, driven by ffmpeg-python).

One ffmpeg call per clip does trim + resample to a fixed frame rate + resize of the short side, and pipes
raw RGB frames back, so no temporary frame files are written. imageio-ffmpeg ships no ffprobe, so the
source size is read from ffmpeg's own banner (``ffmpeg -i``).

Every ffmpeg call has a timeout (a hung ffmpeg would otherwise stall its shard until the scheduler kills the
job, and the shard's status table would never be written): ``PROBE_TIMEOUT_S`` for reading the banner, and for
decoding ``DECODE_TIMEOUT_S`` plus ``DECODE_TIMEOUT_PER_VIDEO_SECOND`` per second of video, so long clips get
proportionally longer (encoding a stand-in video gets the same). A timed-out ffmpeg is killed and the clip
fails with "ffmpeg timed out after N s".
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ffmpeg
import numpy as np

from ..atomic import atomic_path
from .status import ClipError

PROBE_TIMEOUT_S = 30.0
DECODE_TIMEOUT_S = 60.0
#: 2 s per second of video: ffmpeg decodes and scales many times faster than real time, even at 1080p
DECODE_TIMEOUT_PER_VIDEO_SECOND = 2.0


class VideoError(ClipError):
    """A video that cannot be read: missing, empty, corrupt or without a video stream."""


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    """What decoding needs to know first: the source size (for the output size) and the duration (for the
    timeout; 0 when ffmpeg reports none)."""

    width: int
    height: int
    duration: float


_STREAM_RE = re.compile(r"Stream #.*?Video:.*?(\d{2,5})x(\d{2,5})")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")


def _run(args: list[str], timeout: float, name: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """Run ffmpeg, killing it after ``timeout`` seconds (:class:`VideoError` naming ``name``)."""
    try:
        return subprocess.run(args, input=stdin, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise VideoError(f"ffmpeg timed out after {timeout:.0f} s on {name}") from None


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"


def probe(path: str | Path) -> VideoInfo:
    """Size and duration of a video, parsed from ``ffmpeg -i`` (no ffprobe needed)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"missing file: {path}")
    if path.stat().st_size == 0:
        raise VideoError(f"empty file: {path}")
    proc = _run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], PROBE_TIMEOUT_S, path.name)
    text = proc.stderr.decode(errors="replace")
    stream = _STREAM_RE.search(text)
    if stream is None:
        raise VideoError(f"no video stream in {path.name}: {_last_line(proc.stderr)}")
    dur = _DURATION_RE.search(text)
    duration = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3)) if dur else 0.0
    return VideoInfo(int(stream.group(1)), int(stream.group(2)), duration)


def ffmpeg_timeout(seconds: float) -> float:
    """Seconds an ffmpeg call may take to decode (or encode) ``seconds`` of video."""
    return DECODE_TIMEOUT_S + DECODE_TIMEOUT_PER_VIDEO_SECOND * max(seconds, 0.0)


def output_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Size after resizing the short side to ``short_side`` (aspect kept, even dimensions for codecs)."""
    if width <= height:
        new_w = short_side
        new_h = int(round(height * short_side / width / 2)) * 2
    else:
        new_h = short_side
        new_w = int(round(width * short_side / height / 2)) * 2
    return new_w, new_h


def decode(path: str | Path, *, fps: float = 25.0, short_side: int = 256, start: float | None = None,
           end: float | None = None) -> np.ndarray:
    """Decode a video to T×H×W×3 uint8 RGB frames at ``fps``, short side resized to ``short_side``.

    ``start``/``end`` (seconds) trim the clip (frame-accurate: decoding, not stream copy).
    Raises :class:`VideoError` for missing, empty or undecodable files, when no frame comes out, or when
    ffmpeg runs past :func:`ffmpeg_timeout` of the decoded span. The decoded frames are held in memory
    (T×H×W×3 bytes: 1.6 GB for 10 minutes at 25 fps and 256×340).
    """
    info = probe(path)
    width, height = output_size(info.width, info.height, short_side)
    input_args = {}
    span = info.duration
    if start is not None:
        input_args["ss"] = float(start)
        span = info.duration - float(start)
        if end is not None:
            input_args["t"] = span = float(end) - float(start)
    stream = (ffmpeg.input(str(path), **input_args)
              .filter("fps", fps=fps)
              .filter("scale", width, height, flags="bilinear")
              .output("pipe:", format="rawvideo", pix_fmt="rgb24", an=None))
    proc = _run(stream.compile(cmd=ffmpeg_exe()), ffmpeg_timeout(span), Path(path).name)
    if proc.returncode != 0:
        raise VideoError(f"ffmpeg failed on {Path(path).name}: {_last_line(proc.stderr)}")
    out = proc.stdout
    frame_bytes = width * height * 3
    if len(out) < frame_bytes:
        raise VideoError(f"no frames decoded from {Path(path).name}")
    n = len(out) // frame_bytes
    return np.frombuffer(out[: n * frame_bytes], dtype=np.uint8).reshape(n, height, width, 3)


def encode(path: str | Path, frames: np.ndarray, fps: float, *, codec: str = "libx264", crf: int = 20) -> None:
    """Write T×H×W×3 uint8 RGB frames as a real encoded video (H.264 in .mp4, MPEG-4 part 2 in .avi)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t, h, w, _ = frames.shape
    # one encoder thread: the clips are tiny, and callers parallelise across clips
    if codec == "mpeg4":
        out_args = dict(vcodec="mpeg4", q="3", threads=1)
    else:
        out_args = dict(vcodec=codec, crf=crf, preset="veryfast", threads=1)
    with atomic_path(path) as tmp:
        args = (ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", r=fps)
                .output(str(tmp), pix_fmt="yuv420p", r=fps, **out_args)
                .overwrite_output()
                .compile(cmd=ffmpeg_exe()))
        proc = _run(args, ffmpeg_timeout(t / fps), path.name, stdin=np.ascontiguousarray(frames).tobytes())
        if proc.returncode != 0:
            raise VideoError(f"ffmpeg could not encode {path.name}: {_last_line(proc.stderr)}")
