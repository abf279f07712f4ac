"""Video in and out through ffmpeg (the binary imageio-ffmpeg ships, driven by ffmpeg-python).

One ffmpeg call per clip does trim + resample to a fixed frame rate + resize of the short side, and pipes
raw RGB frames back in windows of ``WINDOW_FRAMES``, so no temporary frame files are written and a long video
is never held whole. imageio-ffmpeg ships no ffprobe, so the
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
import tempfile
import threading
from collections.abc import Iterator
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
#: frames decoded and handed on at a time: 64 frames at 256×340 are 17 MB, whatever the video's length
WINDOW_FRAMES = 64


class VideoError(ClipError):
    """A video that cannot be read: missing, empty, corrupt or without a video stream."""


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    """What decoding needs to know first: the displayed size (for the output size: after the rotation a phone
    records and with non-square pixels made square) and the duration (for the timeout and the expected frame
    count; 0 when ffmpeg reports none)."""

    width: int
    height: int
    duration: float


_STREAM_RE = re.compile(r"Stream #[^\n]*?Video:[^\n]*?(\d{2,5})x(\d{2,5})(?: \[SAR (\d+):(\d+))?")
_ANY_STREAM_RE = re.compile(r"Stream #\S+: (\w+):")
_ROTATION_RE = re.compile(r"rotation of (-?[\d.]+) degrees")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_LOG_PREFIX_RE = re.compile(r"^(?:\[[^\]]+ @ 0x[0-9a-f]+\] )+")
_SIGN_OFF_RE = re.compile(r"^(?:Task finished|Terminating thread)")


def run_ffmpeg(args: list[str], timeout: float, name: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """Run ffmpeg, killing it after ``timeout`` seconds (:class:`VideoError` naming ``name``). Without ``stdin``
    ffmpeg reads /dev/null: an inherited terminal would make it wait for keys."""
    try:
        return subprocess.run(args, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise VideoError(f"ffmpeg timed out after {timeout:.0f} s on {name}") from None


def last_line(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"


def _messages(stderr: bytes) -> list[str]:
    """ffmpeg's own log messages (e.g. "moov atom not found", "Decode error rate 1 exceeds maximum 0.666667"),
    once each and in order, without their ``[h264 @ 0x...]`` prefixes and the threads' sign-off lines."""
    messages = [_LOG_PREFIX_RE.sub("", line).rstrip(".") for line in stderr.decode(errors="replace").splitlines()
                if _LOG_PREFIX_RE.match(line)]
    return list(dict.fromkeys(m for m in messages if not _SIGN_OFF_RE.match(m)))


def probe(path: str | Path) -> VideoInfo:
    """Displayed size and duration of a video, parsed from ``ffmpeg -i`` (no ffprobe needed).

    The size is the one a player shows, because decoding autorotates (ffmpeg's default) and the output is
    scaled to square pixels: a portrait phone video stored as 1920x1080 with a 90° display matrix is 1080x1920.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"missing file: {path}")
    if path.stat().st_size == 0:
        raise VideoError(f"empty file: {path}")
    proc = run_ffmpeg([ffmpeg_exe(), "-hide_banner", "-i", str(path)], PROBE_TIMEOUT_S, path.name)
    text = proc.stderr.decode(errors="replace")
    if "Error opening input" in text:
        messages = _messages(proc.stderr) or [last_line(proc.stderr)]
        raise VideoError(f"cannot open {path.name}: {'; '.join(messages)}")
    stream = _STREAM_RE.search(text)
    if stream is None:
        kinds = ", ".join(_ANY_STREAM_RE.findall(text)) or "none"
        raise VideoError(f"no video stream in {path.name} (streams: {kinds})")
    width, height = int(stream.group(1)), int(stream.group(2))
    if stream.group(3) and int(stream.group(3)) != int(stream.group(4)):  # non-square pixels: widen or narrow
        width = max(1, round(width * int(stream.group(3)) / int(stream.group(4))))
    section = text[stream.end():].split("Stream #", 1)[0]
    rotation = _ROTATION_RE.search(section)
    if rotation and round(float(rotation.group(1)) / 90) % 2:
        width, height = height, width
    dur = _DURATION_RE.search(text)
    duration = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3)) if dur else 0.0
    return VideoInfo(width, height, duration)


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


def span(info: VideoInfo, start: float | None, end: float | None) -> float:
    """Seconds of video inside the window [start, end] (the whole video without one; 0 if the duration is unknown)."""
    stop = info.duration if end is None else min(float(end), info.duration)
    return max(stop - (start or 0.0), 0.0)


def decode_windows(path: str | Path, *, fps: float = 25.0, short_side: int = 256, start: float | None = None,
                   end: float | None = None, info: VideoInfo | None = None,
                   window: int = WINDOW_FRAMES) -> Iterator[np.ndarray]:
    """Decode a video in windows of up to ``window`` frames (each n×H×W×3 uint8 RGB) at ``fps``, short side
    resized to ``short_side``, so that a 10-minute video is never held whole (1.6 GB at 256×340).

    ``start``/``end`` (seconds) trim the clip (frame-accurate: decoding, not stream copy); ``info`` is the
    :func:`probe` result when the caller has it already. Raises :class:`VideoError` for missing, empty or
    undecodable files, for a window that starts past the end of the video, when no frame comes out, when ffmpeg
    fails (possibly after some windows were yielded) or runs past :func:`ffmpeg_timeout` of the decoded span.
    """
    name = Path(path).name
    info = info or probe(path)
    if start is not None and info.duration and float(start) >= info.duration:
        stop = "end" if end is None else f"{float(end):g}"
        raise VideoError(f"segment [{float(start):g}, {stop}] s starts past the end of {name} ({info.duration:g} s)")
    width, height = output_size(info.width, info.height, short_side)
    input_args = {}
    if start is not None:
        input_args["ss"] = float(start)
        if end is not None:
            input_args["t"] = float(end) - float(start)
    args = (ffmpeg.input(str(path), **input_args)
            .filter("fps", fps=fps)
            .filter("scale", width, height, flags="bilinear")
            .filter("setsar", 1)
            .output("pipe:", format="rawvideo", pix_fmt="rgb24", an=None)
            .compile(cmd=[ffmpeg_exe(), "-loglevel", "error"]))  # errors only: their tail is the reason
    count = 0
    for frames in _pipe_windows(args, (height, width, 3), window, ffmpeg_timeout(span(info, start, end)), name):
        count += len(frames)
        yield frames
    if count == 0:
        raise VideoError(f"no frames decoded from {name}")


def _pipe_windows(args: list[str], frame_shape: tuple[int, int, int], window: int, timeout: float,
                  name: str) -> Iterator[np.ndarray]:
    """Run ffmpeg and yield its raw frames ``window`` at a time as they arrive. A watchdog kills ffmpeg
    ``timeout`` seconds after the start (the caller's time between windows counts too: ffmpeg waits on the full
    pipe meanwhile), and ffmpeg is killed as well when the caller stops early (closes the generator).

    Its errors go to a temporary file, not a pipe that nobody reads while frames flow (a full one would block
    ffmpeg); a failure's reason is the first error, which names the cause, and the last, which says how it ended.
    """
    frame_bytes = int(np.prod(frame_shape))
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        try:
            while True:
                data = proc.stdout.read(frame_bytes * window)
                n = len(data) // frame_bytes
                if n:
                    yield np.frombuffer(data, dtype=np.uint8, count=n * frame_bytes).reshape(n, *frame_shape)
                if len(data) < frame_bytes * window:
                    break
            returncode = proc.wait()  # a hang after the last frame is the watchdog's too
        finally:
            watchdog.cancel()
            if proc.poll() is None:  # the caller stopped early, or raised
                proc.kill()
            proc.wait()
            proc.stdout.close()
        if timed_out.is_set():
            raise VideoError(f"ffmpeg timed out after {timeout:.0f} s on {name}")
        if returncode != 0:
            log.seek(0)
            stderr = log.read()
            messages = _messages(stderr) or [last_line(stderr)]
            raise VideoError(f"ffmpeg failed on {name}: {'; '.join(dict.fromkeys([messages[0], messages[-1]]))}")


def decode(path: str | Path, *, fps: float = 25.0, short_side: int = 256, start: float | None = None,
           end: float | None = None) -> np.ndarray:
    """All frames of :func:`decode_windows` as one T×H×W×3 uint8 array, for callers that need the whole clip
    (short stand-in clips, tests); the frames stage streams windows instead."""
    return np.concatenate(list(decode_windows(path, fps=fps, short_side=short_side, start=start, end=end)))


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
        proc = run_ffmpeg(args, ffmpeg_timeout(t / fps), path.name, stdin=np.ascontiguousarray(frames).tobytes())
        if proc.returncode != 0:
            raise VideoError(f"ffmpeg could not encode {path.name}: {last_line(proc.stderr)}")
