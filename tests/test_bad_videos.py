"""The videos the real world sends (issue 13, item 6): a corpus of bad and unusual files, made here with ffmpeg,
ingested into ONE shard between good clips. Each kind is either ingested correctly (upright, 25 fps, the frame
count of its duration within ±1, short side 32, aspect kept) or recorded in the shard's status table with a
specific reason; never a crash, a hang, a silently wrong frame count or a lost neighbour.

Outcomes (``test_the_table_lists_every_kind`` checks the kinds and ingested/recorded against ``KINDS``):

================================  ========================================================================
kind                              outcome
================================  ========================================================================
zero_bytes                        recorded: empty file
text_as_mp4                       recorded: cannot open ...: Invalid data found when processing input
png_as_mp4                        recorded: only 1 frame(s) decoded; need 2
jpeg_as_mp4                       recorded: only 1 frame(s) decoded; need 2
audio_only                        recorded: no video stream in ... (streams: Audio)
moov_missing                      recorded: cannot open ...: moov atom not found
truncated_mid_stream              ingested with the frames it has; note: truncated or corrupt file?
corrupt_stream                    recorded: ffmpeg failed on ...: Invalid NAL unit size (...); <its last error>
single_frame                      recorded: only 1 frame(s) decoded; need 2
three_frames                      ingested (3 frames, shorter than a training clip)
four_k                            ingested
tiny_16x16                        ingested
odd_321x241                       ingested
portrait_rotated                  ingested (upright: 32 wide, 42 high)
anamorphic                        ingested (non-square pixels made square)
variable_frame_rate               ingested
interlaced                        ingested
ten_bit                           ingested
yuv444                            ingested
vp9_webm                          ingested
av1                               ingested
hevc                              ingested
mkv                               ingested
flv                               ingested
timestamps_jump_back              ingested (both halves); note: timestamps that jump back?
start_time_offset                 ingested (window counted from the first frame)
space and ünïcode name            ingested
segment_past_end                  recorded: segment [5, 7] s starts past the end of ... (2 s)
segment_partly_past_end           ingested (the 1 s inside); note: segment [1, 5] s ends past the end
ten_minutes                       ingested, in windows: memory growth < 1/4 of the decoded clip
================================  ========================================================================
"""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from i3d.data.annotations import MANIFEST_COLUMNS
from i3d.data.ingest import ingest_shard
from i3d.data.shards import ShardReader
from i3d.data.video import ffmpeg_exe

FPS = 25.0
SHORT_SIDE = 32
LANDSCAPE = (32, 42)  # (height, width) of a 4:3 video at short side 32
X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")


def ffmpeg(*args: str) -> None:
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", *args], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, f"ffmpeg {' '.join(args)}: {proc.stderr}"


def lavfi(path: Path, seconds: float, *out: str, size: str = "64x48", rate: float = 30,
          source: str = "testsrc2", vf: str = "") -> None:
    """``seconds`` of a lavfi test source, encoded with ``out`` (H.264 when empty)."""
    filters = ("-vf", vf) if vf else ()
    ffmpeg("-f", "lavfi", "-i", f"{source}=size={size}:rate={rate}:duration={seconds}", *filters,
           *(out or X264), str(path))


def truncated(path: Path, keep: float, *out: str) -> None:
    """A 3-s video cut after ``keep`` of its bytes, as an interrupted download leaves it."""
    whole = path.with_name(f"whole_{path.name}")
    lavfi(whole, 3, *out)
    data = whole.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def corrupted(path: Path) -> None:
    """A 2-s video whose frames (after the first 20% of its bytes: the index, moved to the front) are noise."""
    lavfi(path, 2, *X264, "-movflags", "+faststart")
    data = bytearray(path.read_bytes())
    data[len(data) // 5:] = np.random.default_rng(0).integers(0, 256, len(data) - len(data) // 5, np.uint8).tobytes()
    path.write_bytes(data)


def image(path: Path, codec: str) -> None:
    """A still image (PNG or JPEG) under a video's name."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", "-c:v", codec, "-f", "image2", str(path))


def rotated(path: Path) -> None:
    """A phone's portrait video: 64x48 stored, a display matrix that turns it 90° counter-clockwise, and the
    top half white, so an upright decode has its left half white."""
    stored = path.with_name(f"stored_{path.name}")
    lavfi(stored, 1, source="color", vf="drawbox=x=0:y=0:w=64:h=24:color=white:t=fill")
    ffmpeg("-display_rotation", "90", "-i", str(stored), "-c", "copy", str(path))


def concatenated_ts(path: Path) -> None:
    """Two 2-s MPEG-TS recordings glued byte by byte: the timestamps jump back to the start at the join."""
    part = path.with_name(f"part_{path.name}")
    lavfi(part, 2, *X264, "-f", "mpegts")
    path.write_bytes(part.read_bytes() * 2)


def remux(path: Path, *args: str) -> None:
    """A 2-s H.264 video copied into ``path`` with ``args`` before the output (container options)."""
    source = path.with_name(f"source_{path.stem}.mp4")
    lavfi(source, 2)
    ffmpeg("-i", str(source), "-c", "copy", *args, str(path))


@dataclass(frozen=True)
class Kind:
    """One kind of video: how to make it and what ingesting it must give."""

    name: str
    make: Callable[[Path], None]
    suffix: str = ".mp4"
    frames: int | None = None  # ingested with this many frames (±1); None: recorded as failed
    reason: str = ""  # regex the status reason must match ("" for a clean ingest: no note)
    size: tuple[int, int] = LANDSCAPE
    window: tuple[float, float] | None = None  # a Kinetics-style [start, end] in seconds
    encoder: str = "libx264"

    @property
    def file(self) -> str:
        return f"{self.name}{self.suffix}"


KINDS = [
    Kind("zero_bytes", lambda p: p.write_bytes(b""), reason="^empty file: "),
    Kind("text_as_mp4", lambda p: p.write_text("not a video, a text file\n" * 20),
         reason="^cannot open text_as_mp4.mp4: .*Invalid data found when processing input"),
    Kind("png_as_mp4", lambda p: image(p, "png"), reason=re.escape("only 1 frame(s) decoded; need 2"),
         encoder="png"),
    Kind("jpeg_as_mp4", lambda p: image(p, "mjpeg"), reason=re.escape("only 1 frame(s) decoded; need 2"),
         encoder="mjpeg"),
    Kind("audio_only", lambda p: ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(p)),
         reason=re.escape("no video stream in audio_only.mp4 (streams: Audio)"), encoder="aac"),
    Kind("moov_missing", lambda p: truncated(p, 0.8), reason="^cannot open moov_missing.mp4: moov atom not found"),
    Kind("truncated_mid_stream", lambda p: truncated(p, 0.5, *X264, "-movflags", "+faststart"), frames=-1,
         reason=r"^\d+ frames decoded where the duration \(3 s\) promises 75: truncated or corrupt file\?$"),
    Kind("corrupt_stream", corrupted,
         reason=r"^ffmpeg failed on corrupt_stream.mp4: Invalid NAL unit size \(-?\d+ > \d+\); "),
    Kind("single_frame", lambda p: lavfi(p, 1, *X264, "-frames:v", "1"),
         reason=re.escape("only 1 frame(s) decoded; need 2")),
    Kind("three_frames", lambda p: lavfi(p, 0.12, rate=25), frames=3),
    Kind("four_k", lambda p: lavfi(p, 0.2, size="3840x2160", rate=25), frames=5, size=(32, 56)),
    Kind("tiny_16x16", lambda p: lavfi(p, 1, size="16x16"), frames=25, size=(32, 32)),
    Kind("odd_321x241", lambda p: lavfi(p, 1, "-c:v", "mpeg4", size="321x241"), suffix=".avi", frames=25,
         encoder="mpeg4"),
    Kind("portrait_rotated", rotated, frames=25, size=(42, 32)),
    Kind("anamorphic", lambda p: lavfi(p, 1, size="32x48", vf="setsar=2"), frames=25),
    Kind("variable_frame_rate",  # 10 frames at 10 fps, then 30 at 30 fps: 2 s
         lambda p: lavfi(p, 40 / 30, *X264, "-fps_mode", "vfr",
                           vf="setpts='if(lt(N,10),N/10,1+(N-10)/30)/TB'"), frames=50),
    Kind("interlaced", lambda p: lavfi(p, 1, *X264, "-flags", "+ildct+ilme", "-x264opts", "tff=1"), frames=25),
    Kind("ten_bit", lambda p: lavfi(p, 1, *X264[:-1], "yuv420p10le"), frames=25),
    Kind("yuv444", lambda p: lavfi(p, 1, *X264[:-1], "yuv444p"), frames=25),
    Kind("vp9_webm", lambda p: lavfi(p, 1, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"),
         suffix=".webm", frames=25, encoder="libvpx-vp9"),
    Kind("av1", lambda p: lavfi(p, 1, "-c:v", "libsvtav1", "-preset", "12"), frames=25, encoder="libsvtav1"),
    Kind("hevc", lambda p: lavfi(p, 1, "-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
                                     "log-level=error"), frames=25, encoder="libx265"),
    Kind("mkv", lambda p: lavfi(p, 1), suffix=".mkv", frames=25),
    Kind("flv", lambda p: lavfi(p, 1, "-c:v", "flv"), suffix=".flv", frames=25, encoder="flv"),
    Kind("timestamps_jump_back", concatenated_ts, suffix=".ts", frames=100,
         reason=r"^100 frames decoded where the duration \(2 s\) promises 50: timestamps that jump back\?$"),
    Kind("start_time_offset", lambda p: remux(p, "-output_ts_offset", "5"), frames=25, window=(0.5, 1.5)),
    Kind("space and ünïcode name", lambda p: lavfi(p, 1), frames=25),
    Kind("segment_past_end", lambda p: lavfi(p, 2), window=(5, 7),
         reason=re.escape("segment [5, 7] s starts past the end of segment_past_end.mp4 (2 s)")),
    Kind("segment_partly_past_end", lambda p: lavfi(p, 2), frames=25, window=(1, 5),
         reason=re.escape("segment [1, 5] s ends past the end of the video (2 s); kept the 1 s inside it") + "$"),
]


def good_seconds(k: int) -> float:
    """Good neighbour k's duration: 0.4 s + 0.08 s per neighbour, 2 frames apart, so a mix-up shows."""
    return 0.4 + 0.08 * k


def encoders() -> set[str]:
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=60,
                         check=True)
    return {line.split()[1] for line in out.stdout.splitlines() if line.startswith(" ") and len(line.split()) > 1}


def manifest_row(clip_id: str, path: Path, window: tuple[float, float] | None) -> dict:
    start, end = window or (float("nan"), float("nan"))
    return dict(clip_id=clip_id, label="any", label_index=0, path=str(path), time_start=start, time_end=end,
                split1="train", split2="none", split3="none", status="ok", reason="")


@dataclass
class Corpus:
    status: pd.DataFrame  # indexed by clip_id
    reader: ShardReader
    missing: dict[str, str]  # kind -> the encoder the bundled ffmpeg lacks


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    """Every kind, each after a good clip (``<k>_0_good``, ``<k>_1_<kind>``), ingested into one shard."""
    root = tmp_path_factory.mktemp("bad_videos")
    available = encoders()
    rows, missing = [], {}
    for k, kind in enumerate(KINDS):
        good = root / f"good_{k:02d}.mp4"
        lavfi(good, good_seconds(k))
        rows.append(manifest_row(f"{k:02d}_0_good", good, None))
        if kind.encoder not in available:
            missing[kind.name] = kind.encoder
            continue
        kind.make(root / kind.file)
        rows.append(manifest_row(f"{k:02d}_1_{kind.name}", root / kind.file, kind.window))
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    out = root / "rgb" / "shard000.h5"
    status = ingest_shard(manifest, 0, 1, out, fps=FPS, short_side=SHORT_SIDE, progress=False)
    return Corpus(status.set_index("clip_id"), ShardReader(out), missing)


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_kind(corpus, kind):
    if kind.name in corpus.missing:
        pytest.skip(f"the bundled ffmpeg cannot encode {corpus.missing[kind.name]}")
    k = KINDS.index(kind)
    row = corpus.status.loc[f"{k:02d}_1_{kind.name}"]
    stored = {c.clip_id: c for c in corpus.reader.clips}
    assert re.search(kind.reason, row.reason if isinstance(row.reason, str) else ""), row.reason
    if kind.reason == "":
        assert pd.isna(row.reason) or row.reason == ""
    if kind.frames is None:
        assert row.status == "failed" and row.num_frames == 0
        assert f"{k:02d}_1_{kind.name}" not in stored
    else:
        clip = stored[f"{k:02d}_1_{kind.name}"]
        assert row.status == "ok" and clip.num_frames == row.num_frames
        if kind.frames >= 0:
            assert abs(clip.num_frames - kind.frames) <= 1, clip.num_frames
        assert (clip.height, clip.width) == kind.size
        frames = corpus.reader.read(clip.clip_id)
        assert frames.shape == (clip.num_frames, *kind.size, 3)
    neighbour = stored[f"{k:02d}_0_good"]  # the good clip before it is whole
    assert abs(neighbour.num_frames - round(good_seconds(k) * FPS)) <= 1
    assert corpus.reader.read(neighbour.clip_id).shape == (neighbour.num_frames, *LANDSCAPE, 3)


def test_a_portrait_video_comes_out_upright(corpus):
    k = [kind.name for kind in KINDS].index("portrait_rotated")
    frames = corpus.reader.read(f"{k:02d}_1_portrait_rotated").astype(float)
    assert frames[:, :, :14].mean() > 200 and frames[:, :, -14:].mean() < 50  # the white top turned to the left


def test_the_shard_holds_exactly_the_clips_the_status_table_calls_ok(corpus):
    ok = corpus.status.index[corpus.status.status == "ok"]
    assert sorted(c.clip_id for c in corpus.reader.clips) == sorted(ok)
    assert len(corpus.reader.offsets) - 1 == corpus.status.num_frames.sum()  # no frames of failed clips left


def test_the_table_lists_every_kind():
    table = re.findall(r"^(\S.*?)\s{2,}(ingested|recorded)", __doc__, flags=re.MULTILINE)
    assert [name for name, _ in table] == [k.name for k in KINDS] + ["ten_minutes"]
    assert [outcome == "ingested" for _, outcome in table[:-1]] == [k.frames is not None for k in KINDS]


#: ingest a manifest in a fresh process and print its peak resident memory (VmHWM: ru_maxrss would count the
#: forked pytest too) over the resident memory it had before (bytes), then the frame counts
MEMORY_PROBE = textwrap.dedent("""
    import re, sys
    import pandas as pd
    from i3d.data.ingest import ingest_shard
    def kib(field):
        return int(re.search(field + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
    manifest = pd.read_csv(sys.argv[1])
    resident = kib("VmRSS")
    status = ingest_shard(manifest, 0, 1, sys.argv[2], fps=25.0, short_side=int(sys.argv[3]), progress=False)
    print((kib("VmHWM") - resident) * 1024, *status.num_frames)
""")


def test_a_ten_minute_video_is_ingested_in_bounded_memory(tmp_path):
    """600 s at 25 fps and 96x128 is 553 MB decoded; ingesting it must grow the process by < 1/4 of that."""
    long, good = tmp_path / "ten minutes.mp4", tmp_path / "good.mp4"
    lavfi(long, 600, *X264, "-b:v", "20k", rate=25)
    lavfi(good, 1)
    rows = [manifest_row("a_good", good, None), manifest_row("b_ten_minutes", long, None),
            manifest_row("c_good", good, None)]
    pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).to_csv(tmp_path / "manifest.csv", index=False)
    short_side = 96
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "manifest.csv"),
                          str(tmp_path / "shard.h5"), str(short_side)], capture_output=True, text=True,
                         timeout=900, check=True)
    grown, *counts = map(int, out.stdout.split())
    print(f"ingesting the 10-minute video grew the process by {grown / 1e6:.0f} MB")
    assert counts == [25, 15000, 25]
    decoded = 15000 * 96 * 128 * 3
    assert grown < decoded / 4, f"grew {grown / 1e6:.0f} MB for a {decoded / 1e6:.0f} MB clip"
