"""The Kinetics YouTube route (i3d.acquire.youtube) against the loopback server: yt-dlp's generic extractor fetches
direct video URLs (``<loopback>/<youtube_id>.mp4``), so the real yt-dlp and ffmpeg code paths run offline."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import yt_dlp

from i3d.acquire import youtube
from i3d.data.video import decode, encode
from i3d.acquire.retry import NO_MARK, retry_mark, write_retry_record
from i3d.acquire.youtube import ClipRequest, download_clips, is_permanent, next_retry, read_state
from loopback import LoopbackServer

FPS = 25
SECONDS = 6
T0 = 1_000_000.0


def _frames(seed: int) -> np.ndarray:
    """Blocky random frames (8x8-pixel blocks): distinct from one another yet cheap to encode."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (SECONDS * FPS, 6, 8, 3), dtype=np.uint8)
    return small.repeat(8, axis=1).repeat(8, axis=2)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("youtube")
    for seed, vid in enumerate(("vidA", "vidB", "vidC")):
        encode(root / f"{vid}.mp4", _frames(seed), FPS)
    return root


@pytest.fixture
def srv(videos):
    with LoopbackServer(videos) as server:
        yield server


def _run(srv, tmp_path, reqs, **kw):
    kw.setdefault("now", lambda: T0)
    return download_clips(reqs, tmp_path / "clips", tmp_path / "state.csv", url_template=srv.url + "/{youtube_id}.mp4",
                          pause_s=0, progress=False, **kw)


def _status(rows):
    return {r["item"]: r["status"] for r in rows}


def test_a_clip_is_cut_to_its_exact_segment(srv, tmp_path):
    rows = _run(srv, tmp_path, [ClipRequest("vidA", 2, 5)])
    assert _status(rows) == {"vidA_000002_000005": "downloaded"}
    clip = decode(tmp_path / "clips" / "vidA_000002_000005.mp4", fps=FPS, short_side=48)
    assert abs(len(clip) - 3 * FPS) <= 1
    # frame-accurate start (re-encoded, not stream-copied from the previous keyframe): the first frame is
    # source frame 2 s * 25 fps, not a neighbour
    source = decode(srv._httpd.root / "vidA.mp4", fps=FPS, short_side=48).astype(float)
    error = [np.abs(source[i] - clip[0]).mean() for i in range(len(source))]
    assert int(np.argmin(error)) == 2 * FPS
    assert not read_state(tmp_path / "state.csv")


def test_a_present_clip_is_not_requested(srv, tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "vidA_000000_000003.mp4").write_bytes(b"x")
    assert _status(_run(srv, tmp_path, [ClipRequest("vidA", 0, 3)])) == {"vidA_000000_000003": "present"}
    assert srv.seen == []


def test_a_removed_video_is_unavailable_and_never_requested_again(srv, tmp_path, caplog):
    rows = _run(srv, tmp_path, [ClipRequest("gone", 0, 3)])
    # the reason goes to the report, not also once per clip to the log
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert _status(rows) == {"gone_000000_000003": "unavailable"}
    assert "404" in rows[0]["reason"]
    assert len(srv.seen) == 1
    rows = _run(srv, tmp_path, [ClipRequest("gone", 0, 3)], now=lambda: T0 + 365 * 86400)
    assert _status(rows) == {"gone_000000_000003": "unavailable"} and "404" in rows[0]["reason"]
    assert len(srv.seen) == 1


def test_a_segment_past_the_end_of_the_video_is_unavailable(srv, tmp_path):
    rows = _run(srv, tmp_path, [ClipRequest("vidB", 10, 20)])
    assert _status(rows) == {"vidB_000010_000020": "unavailable"}
    assert "past the end" in rows[0]["reason"]
    assert not (tmp_path / "clips" / "vidB_000010_000020.mp4").exists()


@pytest.mark.parametrize("fault", ["429", "500"])
def test_a_transient_failure_waits_for_its_backoff(srv, tmp_path, fault):
    srv.plan("/vidC.mp4", fault, fault)
    req, clip = [ClipRequest("vidC", 0, 2)], "vidC_000000_000002"
    rows = _run(srv, tmp_path, req, retry_base_s=100)
    assert _status(rows) == {clip: "retry_later"} and fault in rows[0]["reason"]
    assert len(srv.seen) == 1
    assert next_retry(rows, tmp_path / "state.csv") == T0 + 100  # what the batch's retry record keeps
    assert _status(_run(srv, tmp_path, req, retry_base_s=100, now=lambda: T0 + 99)) == {clip: "retry_later"}
    assert len(srv.seen) == 1  # before the backoff expired: no request
    assert _status(_run(srv, tmp_path, req, retry_base_s=100, now=lambda: T0 + 101)) == {clip: "retry_later"}
    assert len(srv.seen) == 2  # tried again, failed again: the wait doubles
    assert read_state(tmp_path / "state.csv")[clip].next_try == T0 + 101 + 200
    _run(srv, tmp_path, req, retry_base_s=100, now=lambda: T0 + 300)
    assert len(srv.seen) == 2
    rows = _run(srv, tmp_path, req, retry_base_s=100, now=lambda: T0 + 302)
    assert _status(rows) == {clip: "downloaded"}
    assert not read_state(tmp_path / "state.csv")  # a success clears the failure
    assert next_retry(rows, tmp_path / "state.csv") is None


def test_the_retry_mark_changes_once_the_first_wait_has_passed(tmp_path):
    """The batch rule's params value (i3d.acquire.retry): the same until the recorded wait passes, then new; after
    the batch reran with it, the same again."""
    record = tmp_path / "job000.retry.json"
    assert retry_mark(record) == NO_MARK  # never ran
    write_retry_record(record, T0 + 100, NO_MARK)
    assert retry_mark(record, now=T0 + 99) == NO_MARK
    assert retry_mark(record, now=T0 + 100) == repr(T0 + 100)
    write_retry_record(record, T0 + 300, repr(T0 + 100))  # the rerun with that value failed again
    assert retry_mark(record, now=T0 + 299) == repr(T0 + 100)
    write_retry_record(record, None, repr(T0 + 300))  # and then got the clip: nothing waits
    assert retry_mark(record, now=T0 + 10**9) == repr(T0 + 300)
    record.write_text('{"retry_after": "soon"}')
    with pytest.raises(ValueError, match="job000.retry.json: not a retry record"):
        retry_mark(record)


def test_the_backoff_is_capped(srv, tmp_path):
    srv.plan("/vidC.mp4", "503", "503")
    req = [ClipRequest("vidC", 0, 2)]
    _run(srv, tmp_path, req, retry_base_s=100, retry_max_s=150)
    _run(srv, tmp_path, req, retry_base_s=100, retry_max_s=150, now=lambda: T0 + 100)
    assert read_state(tmp_path / "state.csv")["vidC_000000_000002"].next_try == T0 + 100 + 150


def test_the_cookie_file_reaches_yt_dlp(srv, tmp_path, monkeypatch):
    seen_options = []

    class Spy(yt_dlp.YoutubeDL):
        def __init__(self, params=None, *args, **kwargs):
            seen_options.append(dict(params or {}))
            super().__init__(params, *args, **kwargs)

    monkeypatch.setattr(yt_dlp, "YoutubeDL", Spy)
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tSID\tsecret\n")
    assert _status(_run(srv, tmp_path, [ClipRequest("vidA", 0, 1)], cookies=cookies)) == {
        "vidA_000000_000001": "downloaded"}
    assert seen_options[0]["cookiefile"] == str(cookies)


def test_the_state_table_survives_a_crash_between_clips(srv, tmp_path, monkeypatch):
    real_fetch = youtube._fetch_video

    def crash_on_b(url, *args, **kwargs):
        if url.endswith("/vidB.mp4"):
            raise KeyboardInterrupt  # the job is killed while fetching the third clip
        return real_fetch(url, *args, **kwargs)

    monkeypatch.setattr(youtube, "_fetch_video", crash_on_b)
    reqs = [ClipRequest("vidA", 0, 1), ClipRequest("gone", 0, 1), ClipRequest("vidB", 0, 1)]
    with pytest.raises(KeyboardInterrupt):
        _run(srv, tmp_path, reqs)
    assert set(read_state(tmp_path / "state.csv")) == {"gone_000000_000001"}
    monkeypatch.undo()
    before = len(srv.seen)
    rows = _run(srv, tmp_path, reqs)
    assert _status(rows) == {"vidA_000000_000001": "present", "gone_000000_000001": "unavailable",
                             "vidB_000000_000001": "downloaded"}
    assert {path for path, _ in srv.seen[before:]} == {"/vidB.mp4"}  # the generic extractor asks twice


def test_the_pause_comes_between_requests_only(srv, tmp_path, monkeypatch):
    pauses, real_sleep = [], youtube.time.sleep

    def sleep(seconds):  # ffmpeg's and yt-dlp's own short waits pass through
        if seconds == 7.0:
            pauses.append(seconds)
        else:
            real_sleep(seconds)

    monkeypatch.setattr(youtube.time, "sleep", sleep)
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "vidC_000000_000001.mp4").write_bytes(b"x")
    reqs = [ClipRequest("vidC", 0, 1), ClipRequest("vidA", 0, 1), ClipRequest("vidC", 0, 1),
            ClipRequest("vidB", 0, 1)]
    download_clips(reqs, tmp_path / "clips", tmp_path / "state.csv", url_template=srv.url + "/{youtube_id}.mp4",
                   pause_s=7.0, progress=False)
    assert pauses == [7.0]  # two requests, one pause; the present clips cost none


@pytest.mark.parametrize("message", [
    "ERROR: [youtube] abc: Video unavailable. This video has been removed by the uploader",
    "ERROR: [youtube] abc: Video unavailable. This video is no longer available due to a copyright claim by X",
    "ERROR: [youtube] abc: Private video. Sign in if you've been granted access to this video",
    "ERROR: [youtube] abc: The uploader has not made this video available in your country",
    "ERROR: [youtube] abc: Sign in to confirm your age. This video may be inappropriate for some users.",
    ("ERROR: [youtube] abc: Video unavailable. This video is no longer available because the YouTube account "
     "associated with this video has been terminated."),
    "ERROR: [youtube] abc: This video has been removed for violating YouTube's Terms of Service",
    "ERROR: [generic] abc: Unable to download webpage: HTTP Error 404: Not Found",
    "ERROR: [generic] abc: Unable to download webpage: HTTP Error 410: Gone",
])
def test_permanent_messages(message):
    assert is_permanent(message)


@pytest.mark.parametrize("message", [
    ("ERROR: [youtube] abc: Sign in to confirm you\u2019re not a bot. Use --cookies-from-browser or --cookies for "
     "the authentication."),
    "ERROR: [youtube] abc: Sign in to confirm you're not a bot. This helps protect our community.",
    "ERROR: [youtube] abc: Unable to download webpage: HTTP Error 429: Too Many Requests",
    "ERROR: [youtube] abc: Unable to download API page: HTTP Error 503: Service Unavailable",
    "ERROR: unable to download video data: HTTP Error 403: Forbidden",
    ("ERROR: [youtube] abc: Unable to download webpage: <urlopen error [Errno -3] Temporary failure in name "
     "resolution>"),
    "ERROR: [youtube] abc: Unable to download webpage: The read operation timed out",
    "ERROR: [youtube] abc: Some message no one has seen before",
])
def test_transient_messages(message):
    assert not is_permanent(message)
