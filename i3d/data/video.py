"""Video in and out through ffmpeg (the binary imageio-ffmpeg ships, driven by ffmpeg-python).

One ffmpeg call per clip does trim + resample to a fixed frame rate + resize of the short side, and pipes
raw RGB frames back, so no temporary frame files are written. imageio-ffmpeg ships no ffprobe, so the
source size is read from ffmpeg's own banner (``ffmpeg -i``).
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ffmpeg
import numpy as np


class VideoError(RuntimeError):
    """A video that cannot be read: missing, empty, corrupt or without a video stream."""


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    duration: float


_STREAM_RE = re.compile(r"Stream #.*?Video:.*?(\d{2,5})x(\d{2,5})")
_FPS_RE = re.compile(r"([\d.]+) (?:fps|tbr)")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")


def probe(path: str | Path) -> VideoInfo:
    """Size, frame rate and duration of a video, parsed from ``ffmpeg -i`` (no ffprobe needed)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"missing file: {path}")
    if path.stat().st_size == 0:
        raise VideoError(f"empty file: {path}")
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    text = proc.stderr
    stream = _STREAM_RE.search(text)
    if stream is None:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise VideoError(f"no video stream in {path.name}: {last}")
    fps = _FPS_RE.search(text[stream.start():])
    dur = _DURATION_RE.search(text)
    duration = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3)) if dur else 0.0
    return VideoInfo(int(stream.group(1)), int(stream.group(2)), float(fps.group(1)) if fps else 0.0, duration)


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
    Raises :class:`VideoError` for missing, empty or undecodable files, or when no frame comes out.
    """
    info = probe(path)
    width, height = output_size(info.width, info.height, short_side)
    input_args = {}
    if start is not None:
        input_args["ss"] = float(start)
        if end is not None:
            input_args["t"] = float(end) - float(start)
    stream = (ffmpeg.input(str(path), **input_args)
              .filter("fps", fps=fps)
              .filter("scale", width, height, flags="bilinear")
              .output("pipe:", format="rawvideo", pix_fmt="rgb24", an=None))
    try:
        out, _ = stream.run(cmd=ffmpeg_exe(), capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as exc:
        lines = exc.stderr.decode(errors="replace").strip().splitlines()
        raise VideoError(f"ffmpeg failed on {Path(path).name}: {lines[-1] if lines else 'no message'}") from exc
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
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    (ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", r=fps)
     .output(str(tmp), pix_fmt="yuv420p", r=fps, **out_args)
     .overwrite_output()
     .run(cmd=ffmpeg_exe(), input=np.ascontiguousarray(frames).tobytes(), capture_stdout=True,
          capture_stderr=True))
    tmp.replace(path)
