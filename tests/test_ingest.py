"""Annotations -> manifest -> RGB shards, including broken inputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from i3d.atomic import temporary_name
from i3d.data.annotations import read_annotations, shard_rows
from i3d.data.ingest import ingest_shard
from i3d.data.shards import ShardReader, ShardWriter, encode_jpeg
from i3d.data.video import VideoError, decode, output_size, probe


def test_manifest_from_ucf_layout(tiny_ucf):
    m = read_annotations("ucf101", tiny_ucf)
    assert list(m.clip_id) == sorted(m.clip_id)
    assert set(m.label_index) == {0, 1}
    assert (m.loc[m.clip_id.str.contains("_g01_"), "split1"] == "test").all()
    assert m.set_index("clip_id").loc["v_MoveRight_g06_c01", "status"] == "missing"
    with pytest.raises(ValueError, match="allowed: kinetics400, ucf101, hmdb51"):
        read_annotations("ucf1o1", tiny_ucf)


def test_shards_partition_the_sorted_clip_list(tiny_ucf):
    m = read_annotations("ucf101", tiny_ucf)
    parts = [shard_rows(m, k, 3) for k in range(3)]
    assert sum(len(p) for p in parts) == len(m)
    assert [c for p in parts for c in p.clip_id] == sorted(m.clip_id)
    shuffled = m.sample(frac=1.0, random_state=1)
    assert list(shard_rows(shuffled, 1, 3).clip_id) == list(parts[1].clip_id)


def test_ingest_records_and_skips_bad_videos(tiny_ucf, tmp_path):
    m = read_annotations("ucf101", tiny_ucf)
    out = tmp_path / "rgb" / "shard000.h5"
    status = ingest_shard(m, 0, 1, out, fps=25.0, short_side=32, progress=False).set_index("clip_id")
    assert status.loc["v_MoveLeft_g04_c01", "status"] == "failed"
    assert status.loc["v_MoveLeft_g05_c01", "status"] == "failed" and "empty" in status.loc["v_MoveLeft_g05_c01", "reason"]
    assert status.loc["v_MoveRight_g06_c01", "status"] == "missing"
    assert (status.status == "ok").sum() == 6
    assert not list(out.parent.glob("*.tmp*"))
    reader = ShardReader(out)
    assert len(reader.clips) == 6 and reader.kind == "rgb"
    clip = reader.clips[0]
    # 20 frames at 30 fps = 0.667 s -> about 17 frames at 25 fps; 64x48 -> short side 32 -> 42x32
    assert 15 <= clip.num_frames <= 18 and (clip.height, clip.width) == (32, 42)
    frames = reader.read(clip.clip_id)
    assert frames.shape == (clip.num_frames, 32, 42, 3) and frames.dtype == np.uint8
    assert pd.read_csv(out.with_suffix(".csv")).shape[0] == len(status)


def test_decode_trims_and_resizes(tiny_ucf):
    path = tiny_ucf / "UCF-101/MoveLeft/v_MoveLeft_g01_c01.avi"
    assert probe(path).width == 64
    whole = decode(path, fps=25, short_side=32)
    part = decode(path, fps=25, short_side=32, start=0.2, end=0.6)
    assert 9 <= len(part) <= 11 and len(whole) > len(part)
    with pytest.raises(VideoError, match="missing"):
        decode(tiny_ucf / "nope.avi")


@pytest.mark.parametrize("w,h,expected", [(320, 240, (342, 256)), (240, 320, (256, 342)), (256, 256, (256, 256))])
def test_output_size_keeps_aspect_and_even_sides(w, h, expected):
    assert output_size(w, h, 256) == expected


def test_shard_writer_streams_clips_to_a_temporary_file_and_renames_it_on_close(tmp_path):
    rng = np.random.default_rng(0)
    clips = {f"c{k}": [encode_jpeg(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)) for _ in range(k + 2)]
             for k in range(3)}
    path = tmp_path / "shard.h5"
    writer = ShardWriter(path, "rgb", {"fps": 25})
    assert not temporary_name(path).exists()  # nothing opened before the first clip (forks are safe)
    for label, (clip_id, frames) in enumerate(clips.items()):
        writer.add_clip(clip_id, label, frames, 25.0, 24, 32)
    written = sum(len(b) for frames in clips.values() for b in frames)
    assert temporary_name(path).stat().st_size >= written  # on disk already, not held until close
    assert not path.exists()
    writer.close()
    assert path.exists() and not temporary_name(path).exists()
    reader = ShardReader(path)
    assert [c.clip_id for c in reader.clips] == list(clips) and reader.params == {"fps": 25}
    for clip_id, frames in clips.items():
        got = reader.encoded(clip_id, range(len(frames)))
        assert [g.tobytes() for g in got] == frames


def _fake_ffmpeg(tmp_path, real: str):
    """An ffmpeg that answers the probe (``-hide_banner -i path``) but hangs on any other call."""
    script = tmp_path / "hanging_ffmpeg"
    script.write_text(f'#!/bin/sh\nif [ "$#" -le 3 ]; then exec "{real}" "$@"; fi\nexec sleep 60\n')
    script.chmod(0o755)
    return str(script)


def test_a_hanging_ffmpeg_is_killed_and_recorded_and_the_status_table_is_written(tiny_ucf, tmp_path, monkeypatch):
    from i3d.data import video
    m = read_annotations("ucf101", tiny_ucf)
    fake = _fake_ffmpeg(tmp_path, video.ffmpeg_exe())
    monkeypatch.setattr(video, "ffmpeg_exe", lambda: fake)
    monkeypatch.setattr(video, "DECODE_TIMEOUT_S", 1.0, raising=False)
    monkeypatch.setattr(video, "DECODE_TIMEOUT_PER_VIDEO_SECOND", 0.0, raising=False)
    out = tmp_path / "rgb" / "shard000.h5"
    status = ingest_shard(m, 0, 1, out, fps=25.0, short_side=32, progress=False).set_index("clip_id")
    decodable = status.loc["v_MoveLeft_g01_c01"]
    assert decodable.status == "failed" and decodable.reason == "ffmpeg timed out after 1 s on v_MoveLeft_g01_c01.avi"
    assert (status.status == "ok").sum() == 0
    assert pd.read_csv(out.with_suffix(".csv")).set_index("clip_id").loc["v_MoveLeft_g01_c01", "reason"].startswith(
        "ffmpeg timed out")
    assert ShardReader(out).clips == []


def test_an_ffmpeg_that_hangs_after_some_frames_is_killed_and_its_frames_are_dropped(tiny_ucf, tmp_path,
                                                                                     monkeypatch):
    from i3d.data import shards, video
    script = tmp_path / "stalling_ffmpeg"  # answers the probe; then 100 black 42x32 frames, then nothing
    script.write_text(f'#!/bin/sh\nif [ "$#" -le 3 ]; then exec "{video.ffmpeg_exe()}" "$@"; fi\n'
                      f"head -c {100 * 32 * 42 * 3} /dev/zero\nexec sleep 60\n")
    script.chmod(0o755)
    monkeypatch.setattr(video, "ffmpeg_exe", lambda: str(script))
    monkeypatch.setattr(video, "DECODE_TIMEOUT_S", 1.0)
    monkeypatch.setattr(video, "DECODE_TIMEOUT_PER_VIDEO_SECOND", 0.0)
    monkeypatch.setattr(shards, "WRITE_BATCH_BYTES", 1)  # the first 64 frames reach the file before the hang
    manifest = read_annotations("ucf101", tiny_ucf)
    out = tmp_path / "shard.h5"
    status = ingest_shard(manifest[manifest.clip_id == "v_MoveLeft_g01_c01"], 0, 1, out, fps=25.0, short_side=32,
                          progress=False)
    assert status.reason[0] == "ffmpeg timed out after 1 s on v_MoveLeft_g01_c01.avi"
    reader = ShardReader(out)
    assert reader.clips == [] and list(reader.offsets) == [0] and reader._frames().shape == (0,)


def test_a_probe_that_hangs_times_out_too(tiny_ucf, monkeypatch, tmp_path):
    from i3d.data import video
    script = tmp_path / "sleeping_ffmpeg"
    script.write_text("#!/bin/sh\nexec sleep 60\n")
    script.chmod(0o755)
    monkeypatch.setattr(video, "ffmpeg_exe", lambda: str(script))
    monkeypatch.setattr(video, "PROBE_TIMEOUT_S", 1.0, raising=False)
    with pytest.raises(VideoError, match="timed out after 1 s"):
        probe(tiny_ucf / "UCF-101/MoveLeft/v_MoveLeft_g01_c01.avi")


def test_an_exception_of_any_type_in_one_clip_is_recorded_and_the_other_clips_are_stored(tiny_ucf, tmp_path,
                                                                                          monkeypatch):
    from i3d.data import ingest, shards, video
    real_decode, real_encode = video.decode_windows, ingest.encode_jpeg

    def decode_windows(path, **kwargs):
        name = Path(path).stem
        if name == "v_MoveLeft_g02_c01":
            raise OSError(5, "Input/output error")
        if name == "v_MoveRight_g03_c01":
            raise MemoryError()
        for frames in real_decode(path, **kwargs):
            if name == "v_MoveRight_g01_c01":  # 5 good frames (written), then frames marked for the JPEG failure
                yield frames[:5]
                frames = frames[5:, :, :41]
            yield frames

    def encode_jpeg(frame):
        if frame.shape[1] == 41:
            raise ValueError("JPEG encoding failed")
        return real_encode(frame)

    monkeypatch.setattr(video, "decode_windows", decode_windows)
    monkeypatch.setattr(ingest, "encode_jpeg", encode_jpeg)
    monkeypatch.setattr(shards, "WRITE_BATCH_BYTES", 1)  # every frame reaches the file before the failure
    out = tmp_path / "rgb" / "shard000.h5"
    status = ingest_shard(read_annotations("ucf101", tiny_ucf), 0, 1, out, fps=25.0, short_side=32,
                          progress=False).set_index("clip_id")
    reasons = status.reason.to_dict()
    assert reasons["v_MoveLeft_g02_c01"] == "OSError: [Errno 5] Input/output error"
    assert reasons["v_MoveRight_g03_c01"] == "MemoryError"
    assert reasons["v_MoveRight_g01_c01"] == "ValueError: JPEG encoding failed"
    ok = {"v_MoveLeft_g01_c01", "v_MoveLeft_g03_c01", "v_MoveRight_g02_c01"}
    assert set(status.index[status.status == "ok"]) == ok
    reader = ShardReader(out)
    assert {c.clip_id for c in reader.clips} == ok
    for clip in reader.clips:  # the half-written clip's frames are gone, not glued to a neighbour
        assert reader.read(clip.clip_id).shape == (clip.num_frames, 32, 42, 3) == (status.num_frames[clip.clip_id], 32, 42, 3)
    assert len(reader.offsets) - 1 == sum(c.num_frames for c in reader.clips)
    assert reader.offsets[-1] == reader._frames().shape[0]
    assert pd.read_csv(out.with_suffix(".csv")).shape[0] == len(status)


def test_a_clip_that_fails_half_way_leaves_nothing_in_the_shard(tmp_path, monkeypatch):
    from i3d.data import shards
    monkeypatch.setattr(shards, "WRITE_BATCH_BYTES", 10)
    rng = np.random.default_rng(0)
    jpegs = [encode_jpeg(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)) for _ in range(6)]

    def failing():
        yield from jpegs[:4]
        raise ValueError("decoder died")

    path = tmp_path / "shard.h5"
    writer = ShardWriter(path, "rgb")
    assert writer.add_clip("a", 0, iter(jpegs[:2]), 25.0, 8, 8) == 2
    with pytest.raises(ValueError, match="decoder died"):
        writer.add_clip("broken", 1, failing(), 25.0, 8, 8)
    assert writer.add_clip("b", 2, iter(jpegs[2:]), 25.0, 8, 8) == 4
    writer.close()
    reader = ShardReader(path)
    assert [(c.clip_id, c.first_frame, c.num_frames) for c in reader.clips] == [("a", 0, 2), ("b", 2, 4)]
    assert [g.tobytes() for g in reader.encoded("b", range(4))] == jpegs[2:]
    assert reader.offsets[-1] == reader._frames().shape[0] == sum(map(len, jpegs))
