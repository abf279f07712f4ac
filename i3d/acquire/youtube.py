"""The Kinetics YouTube route: fetch each clip's video with yt-dlp, cut its 10 s segment, remember failures.

A fallback for when the CVDF mirror (:mod:`i3d.acquire.cvdf`) is not an option: 10-20 % of the videos are gone,
YouTube rate-limits (~300 videos/hour per session, then HTTP 429 or "Sign in to confirm you're not a bot"),
and a crawl takes days. So :func:`download_clips`

- drives yt-dlp's Python API (not a shell-out: its errors arrive as exceptions with their messages);
- downloads the whole video and cuts ``[time_start, time_end]`` by *re-encoding* (libx264): a stream copy
  starts at the previous keyframe and gives black or frozen first frames (ActivityNet crawler issues #16/#28);
- keeps a persistent state table of failures (CSV, rewritten atomically after every clip, so a killed job
  loses nothing): permanent failures (removed, private, copyright, geo-blocked, age-gated, ...) are never
  tried again, transient ones (network, 429, bot check) wait an exponentially growing time before the next try;
- pauses ``pause_s`` between requests, the rate yt-dlp's maintainers recommend for not being blocked.
"""
from __future__ import annotations

import csv
import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yt_dlp

from ..atomic import atomic_path
from ..data.annotations import kinetics_clip_id
from .report import report_row
from ..data.video import VideoError, ffmpeg_exe, ffmpeg_timeout, last_line, probe, run_ffmpeg

DEFAULT_URL_TEMPLATE = "https://www.youtube.com/watch?v={youtube_id}"
#: low resolution is enough (the pipeline resizes the short side to 256) and saves bandwidth and rate limit:
#: YouTube's 360p mp4 (itag 18), else the best mp4 up to 360p, else up to 480p, else whatever there is
DEFAULT_FORMAT = ("18/b[height<=360][ext=mp4]/bv*[height<=360][ext=mp4]+ba[ext=m4a]"
                  "/b[height<=480]/bv*[height<=480]+ba/b")
SOCKET_TIMEOUT_S = 30.0
#: yt-dlp's own retries stay small: the state table's backoff is the retry policy across hours and runs
YT_DLP_RETRIES = 2
STATE_COLUMNS = ("clip_id", "state", "attempts", "next_try", "reason")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipRequest:
    """One Kinetics clip to fetch: the video and the segment (integer seconds, as in the annotation CSVs)."""

    youtube_id: str
    time_start: int
    time_end: int

    @property
    def clip_id(self) -> str:
        return kinetics_clip_id(self.youtube_id, self.time_start, self.time_end)

    @classmethod
    def from_clip_id(cls, clip_id: str) -> ClipRequest:
        """The request a clip id names (``<youtube_id>_<start:06d>_<end:06d>``; YouTube ids may hold ``_``)."""
        youtube_id, start, end = clip_id.rsplit("_", 2)
        return cls(youtube_id, int(start), int(end))


class ClipUnavailable(Exception):
    """A permanent failure: this clip cannot be had, whatever the retries."""


# Substrings (lower case) of yt-dlp / YouTube messages. Transient patterns are checked first, so a bot check
# ("Sign in to confirm you're not a bot") is not taken for an age gate ("Sign in to confirm your age").
_TRANSIENT = (
    "confirm you're not a bot", "confirm you\u2019re not a bot", "http error 429", "too many requests",
    "unable to download video data", "giving up after", "timed out", "timeout", "connection reset",
    "remote end closed", "temporary failure in name resolution", "network is unreachable", "incompleteread",
    "http error 500", "http error 502", "http error 503", "http error 504",
)
_PERMANENT = (
    "video unavailable", "this video is not available", "has been removed", "removed by the uploader",
    "no longer available", "private video", "this video is private", "copyright",
    "not made this video available in your country", "available in your country", "geo restrict",
    "confirm your age", "age-restricted", "inappropriate for some users", "account associated with this video",
    "account has been terminated", "violat", "members-only", "http error 404", "http error 410",
)


def is_permanent(message: str) -> bool:
    """Whether a yt-dlp error message means the video is gone for good (never retried). Unknown messages count
    as transient: a retry costs one request later, a wrong "gone" loses the clip for good."""
    text = message.lower()
    if any(p in text for p in _TRANSIENT):
        return False
    return any(p in text for p in _PERMANENT)


@dataclass
class _State:
    """A failure remembered across runs: ``state`` is ``unavailable`` (permanent) or ``retry`` (transient);
    ``next_try``: the Unix time before which a ``retry`` clip is not requested again."""

    state: str
    attempts: int
    next_try: float
    reason: str


def read_state(path: str | Path) -> dict[str, _State]:
    """The failure table at ``path`` (empty when there is none yet)."""
    path = Path(path)
    if not path.is_file():
        return {}
    with path.open(newline="") as fh:
        return {r["clip_id"]: _State(r["state"], int(r["attempts"]), float(r["next_try"]), r["reason"])
                for r in csv.DictReader(fh)}


def _write_state(path: Path, table: dict[str, _State]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(STATE_COLUMNS)
        for clip_id, s in sorted(table.items()):
            writer.writerow([clip_id, s.state, s.attempts, repr(s.next_try), s.reason])


class _YtDlpLog:
    """yt-dlp's messages, quieter: with a logger it sends every warning there whatever ``no_warnings`` says, and
    each error also ends up in the clip's report row, so per-clip noise goes to debug and warnings to info."""

    def debug(self, message: str) -> None:
        log.debug(message)

    info = error = debug

    def warning(self, message: str) -> None:
        log.info("yt-dlp: %s", message)


def _fetch_video(url: str, workdir: Path, *, fmt: str, cookies: Path | None, progress: bool) -> Path:
    """The whole video at ``url`` into ``workdir`` via yt-dlp; its errors propagate as DownloadError."""
    options = {
        "format": fmt, "outtmpl": str(workdir / "source.%(ext)s"), "ffmpeg_location": ffmpeg_exe(),
        "quiet": True, "no_warnings": True, "noprogress": not progress, "logger": _YtDlpLog(), "noplaylist": True,
        "cachedir": False, "retries": YT_DLP_RETRIES, "fragment_retries": YT_DLP_RETRIES,
        "extractor_retries": YT_DLP_RETRIES, "socket_timeout": SOCKET_TIMEOUT_S,
    }
    if cookies is not None:
        options["cookiefile"] = str(cookies)
    with yt_dlp.YoutubeDL(options) as ydl:
        info = ydl.extract_info(url, download=True)
    files = [Path(d["filepath"]) for d in (info or {}).get("requested_downloads", []) if d.get("filepath")]
    files = [f for f in files if f.is_file()] or sorted(workdir.glob("source.*"))
    if not files:  # yt-dlp reported success but wrote nothing (mmaction2 issue #1634 crashed here)
        raise yt_dlp.utils.DownloadError(f"yt-dlp wrote no file for {url}")
    return files[0]


def cut_clip(source: Path, dst: Path, start: float, end: float) -> str:
    """Re-encode ``[start, end]`` of ``source`` into ``dst`` (atomically) and check the result decodes.

    Input-side ``-ss`` with re-encoding is frame-accurate (ffmpeg decodes from the previous keyframe and drops
    frames up to ``start``). Returns a note for the report ("" or why the clip is shorter than asked). Raises
    :class:`ClipUnavailable` when the segment starts past the end of the video, :class:`VideoError` when
    ffmpeg fails or the result is not a clip of the expected length.
    """
    duration = probe(source).duration
    if duration and start >= duration:
        raise ClipUnavailable(f"segment {start:g}-{end:g} s starts past the end of the video ({duration:.1f} s)")
    span = (min(end, duration) if duration else end) - start
    with atomic_path(dst) as tmp:
        args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-ss", f"{start:g}", "-i", str(source),
                "-t", f"{end - start:g}", "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "libx264",
                "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-c:a", "aac",
                "-movflags", "+faststart", "-threads", "1", str(tmp)]
        proc = run_ffmpeg(args, ffmpeg_timeout(end), source.name)
        if proc.returncode != 0:
            raise VideoError(f"ffmpeg could not cut {source.name}: {last_line(proc.stderr)}")
        got = probe(tmp).duration
        if got < span - 0.5:  # a truncated download decodes, but only partly
            raise VideoError(f"the cut clip lasts {got:.1f} s, expected {span:.1f} s")
    return "" if span >= end - start else f"the video ends at {duration:.1f} s: the clip lasts {span:.1f} s"


def download_clips(requests: Iterable[ClipRequest], clips_dir: str | Path, state_path: str | Path, *,
                   url_template: str = DEFAULT_URL_TEMPLATE, pause_s: float = 5.0, cookies: str | Path | None = None,
                   retry_base_s: float = 3600.0, retry_max_s: float = 7 * 86400.0, format: str = DEFAULT_FORMAT,
                   now: Callable[[], float] = time.time, progress: bool = True) -> list[dict]:
    """Fetch each requested clip to ``clips_dir/<youtube_id>_<start:06d>_<end:06d>.mp4``; one report row each.

    Statuses: ``present`` (already there), ``downloaded``, ``unavailable`` (a permanent failure, now or in the
    state table: never requested again) and ``retry_later`` (a transient failure; the k-th consecutive one waits
    ``min(retry_base_s * 2**(k-1), retry_max_s)`` before the next request, so runs before then skip it).
    ``state_path``: the failure table (CSV), rewritten after every clip. ``cookies``: a Netscape cookie file for
    yt-dlp (what YouTube's bot check asks for). ``now``: the clock (tests move it).
    """
    clips_dir, state_path = Path(clips_dir), Path(state_path)
    cookies = Path(cookies) if cookies is not None else None
    clips_dir.mkdir(parents=True, exist_ok=True)
    table = read_state(state_path)
    rows, requested = [], False
    for req in requests:
        clip_id = req.clip_id
        dst = clips_dir / f"{clip_id}.mp4"
        url = url_template.format(youtube_id=req.youtube_id)
        known = table.get(clip_id)
        if dst.is_file():
            rows.append(report_row(clip_id, "clip", "present", source=url))
            continue
        if known is not None and known.state == "unavailable":
            rows.append(report_row(clip_id, "clip", "unavailable", known.reason, url))
            continue
        if known is not None and now() < known.next_try:
            wait = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(known.next_try))
            rows.append(report_row(clip_id, "clip", "retry_later", f"next try after {wait}: {known.reason}", url))
            continue
        if requested:
            time.sleep(pause_s)
        requested = True
        rows.append(_download_one(req, dst, url, table, fmt=format, cookies=cookies, now=now,
                                  retry_base_s=retry_base_s, retry_max_s=retry_max_s, progress=progress))
        _write_state(state_path, table)
    return rows


def next_retry(rows: Iterable[dict], state_path: str | Path) -> float | None:
    """When the first of the clips that ``rows`` (a batch's report) left waiting may be requested again, from the
    state table at ``state_path``; None when none waits. The batch's retry record (:mod:`.retry`) keeps it."""
    table = read_state(state_path)
    return min((table[r["item"]].next_try for r in rows if r["status"] == "retry_later" and r["item"] in table),
               default=None)


def _download_one(req: ClipRequest, dst: Path, url: str, table: dict[str, _State], *, fmt: str,
                  cookies: Path | None, now: Callable[[], float], retry_base_s: float, retry_max_s: float,
                  progress: bool) -> dict:
    """Fetch and cut one clip, recording the outcome in ``table``; the clip's report row."""
    clip_id = req.clip_id
    try:
        with tempfile.TemporaryDirectory(prefix=f".{clip_id}.", dir=dst.parent) as work:
            source = _fetch_video(url, Path(work), fmt=fmt, cookies=cookies, progress=progress)
            note = cut_clip(source, dst, req.time_start, req.time_end)
    except (yt_dlp.utils.DownloadError, ClipUnavailable, VideoError) as err:
        reason = str(err).removeprefix("ERROR: ").strip()
        attempts = (table[clip_id].attempts if clip_id in table else 0) + 1
        if isinstance(err, ClipUnavailable) or (isinstance(err, yt_dlp.utils.DownloadError) and is_permanent(reason)):
            table[clip_id] = _State("unavailable", attempts, 0.0, reason)
            return report_row(clip_id, "clip", "unavailable", reason, url)
        wait = min(retry_base_s * 2 ** (attempts - 1), retry_max_s)
        table[clip_id] = _State("retry", attempts, now() + wait, reason)
        return report_row(clip_id, "clip", "retry_later", f"{reason} (attempt {attempts}; next in {wait:.0f} s)", url)
    table.pop(clip_id, None)
    return report_row(clip_id, "clip", "downloaded", note, url)
