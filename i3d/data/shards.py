"""HDF5 shards: many clips' encoded frames in one file (format v1).

Why shards: one Snakemake job per clip makes a Kinetics-sized DAG unusable, and one file per frame makes
the file system the bottleneck. Layout of one shard:

- ``frames``  1-D uint8: every frame's encoded bytes (JPEG), concatenated
- ``offsets`` int64, one entry per frame plus one: frame ``i`` is ``frames[offsets[i]:offsets[i+1]]``
- ``clips/{clip_id,label,first_frame,num_frames,fps,height,width}``: one row per clip
- attributes ``format_version``, ``kind`` (``rgb`` or ``flow``), ``params`` (JSON of what produced it)

No variable-length HDF5 types (slow, not compressible). Writers write to a temporary name and rename when
complete, so a killed job never leaves a half-written file that looks valid. Readers open lazily (never
before a DataLoader fork) and with file locking off.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np

from ..atomic import temporary_name

FORMAT_VERSION = 1
JPEG_QUALITY = 95
FRAMES_CHUNK_BYTES = 1 << 16  # HDF5 chunk of the frames blob: what h5py picks for a 140 MB blob; reads as fast
WRITE_BATCH_BYTES = 8 << 20  # a clip's frames are written in pieces of about this size


@dataclass(frozen=True)
class ClipRecord:
    """One clip's row in a shard's clip table."""

    clip_id: str
    label: int
    first_frame: int
    num_frames: int
    fps: float
    height: int
    width: int


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """Encode an H×W (gray) or H×W×3 (RGB) uint8 image as JPEG."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg(data: np.ndarray | bytes, color: bool) -> np.ndarray:
    """Decode JPEG bytes to H×W×3 RGB (color) or H×W gray uint8."""
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    flag = cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE
    image = cv2.imdecode(buf, flag)
    if image is None:
        raise ValueError("corrupt JPEG frame")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if color else image


class ShardWriter:
    """Append clips (iterables of encoded frames) to a temporary file as they come, and rename it on ``close``.

    Frames go to disk in batches as they come, so a writer holds a few MB, not a clip or the shard (a shard of
    ~1000 Kinetics clips is ~4 GB of JPEG); the temporary file is opened at the first write, never before a fork.
    """

    def __init__(self, path: str | os.PathLike, kind: str, params: dict | None = None) -> None:
        if kind not in ("rgb", "flow"):
            raise ValueError(f"shard kind must be 'rgb' or 'flow', got {kind!r}")
        self.path = Path(path)
        self.kind = kind
        self.params = params or {}
        self._tmp = temporary_name(self.path)
        self._file: h5py.File | None = None
        self._offsets: list[int] = [0]
        self._written = 0  # bytes of the frames blob on disk; the offsets may run ahead by one batch
        self._clips: list[ClipRecord] = []

    def _frames(self) -> h5py.Dataset:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = h5py.File(self._tmp, "w")
            self._file.create_dataset("frames", shape=(0,), maxshape=(None,), dtype=np.uint8,
                                      chunks=(FRAMES_CHUNK_BYTES,))
        return self._file["frames"]

    def add_clip(self, clip_id: str, label: int, encoded_frames: Iterable[bytes], fps: float,
                 height: int, width: int) -> int:
        """Append one clip's encoded frames as ``encoded_frames`` yields them and return how many there were.

        They go to disk every ``WRITE_BATCH_BYTES``, so a long clip streamed from the decoder is never held
        whole. If ``encoded_frames`` raises part-way, what was written of this clip is cut off again (offsets
        and blob) and the exception propagates: the shard holds whole clips only, and the next clip starts
        where this one started.
        """
        first = len(self._offsets) - 1
        blob_end = self._offsets[-1]
        batch: list[bytes] = []
        try:
            for encoded in encoded_frames:
                batch.append(encoded)
                self._offsets.append(self._offsets[-1] + len(encoded))
                if self._offsets[-1] - self._written >= WRITE_BATCH_BYTES:
                    self._write(batch)
                    batch = []
            self._write(batch)
        except BaseException:
            del self._offsets[first + 1:]
            self._written = blob_end
            if self._file is not None:
                self._frames().resize((blob_end,))
            raise
        count = len(self._offsets) - 1 - first
        self._clips.append(ClipRecord(clip_id, int(label), first, count, float(fps), int(height), int(width)))
        return count

    def _write(self, batch: list[bytes]) -> None:
        """Append ``batch`` (frames already counted in the offsets) to the frames blob."""
        blob = np.frombuffer(b"".join(batch), dtype=np.uint8)
        frames = self._frames()
        frames.resize((self._written + blob.size,))
        frames[self._written:] = blob
        self._written += blob.size

    def close(self) -> None:
        """Add the offsets and the clip table, then rename: the shard appears complete or not at all."""
        self._frames()  # a shard without clips still gets its (empty) frames
        ids = [c.clip_id.encode() for c in self._clips]
        id_len = max([len(i) for i in ids] + [1])
        with self._file as f:
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["kind"] = self.kind
            f.attrs["params"] = json.dumps(self.params, sort_keys=True)
            f.create_dataset("offsets", data=np.array(self._offsets, dtype=np.int64))
            g = f.create_group("clips")
            g.create_dataset("clip_id", data=np.array(ids, dtype=f"S{id_len}"))
            for name, dtype in (("label", np.int64), ("first_frame", np.int64), ("num_frames", np.int64),
                                ("fps", np.float64), ("height", np.int64), ("width", np.int64)):
                g.create_dataset(name, data=np.array([getattr(c, name) for c in self._clips], dtype=dtype))
        self._file = None
        os.replace(self._tmp, self.path)


class ShardReader:
    """Random access to one shard's frames. Opens the file lazily so it is safe to create before a fork."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._file: h5py.File | None = None
        self._pid: int | None = None
        with h5py.File(self.path, "r", locking=False) as f:
            version = int(f.attrs.get("format_version", -1))
            if version != FORMAT_VERSION:
                raise ValueError(f"{self.path}: shard format {version}, expected {FORMAT_VERSION}")
            self.kind = str(f.attrs["kind"])
            self.params = json.loads(f.attrs["params"])
            g = f["clips"]
            ids = [b.decode() for b in g["clip_id"][()]]
            cols = {n: g[n][()] for n in ("label", "first_frame", "num_frames", "fps", "height", "width")}
            self.offsets = f["offsets"][()]
        self.clips = [ClipRecord(ids[i], int(cols["label"][i]), int(cols["first_frame"][i]),
                                 int(cols["num_frames"][i]), float(cols["fps"][i]), int(cols["height"][i]),
                                 int(cols["width"][i])) for i in range(len(ids))]
        self.index = {c.clip_id: i for i, c in enumerate(self.clips)}

    def _frames(self) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r", locking=False)
            self._pid = os.getpid()
        return self._file["frames"]

    def record(self, clip_id: str) -> ClipRecord:
        """The clip's row (frame count, size, label)."""
        return self.clips[self.index[clip_id]]

    def encoded(self, clip_id: str, frame_indices: Sequence[int]) -> list[np.ndarray]:
        """Encoded bytes of the given frames (indices relative to the clip)."""
        clip = self.clips[self.index[clip_id]]
        frames = self._frames()
        lo = clip.first_frame + min(frame_indices)
        hi = clip.first_frame + max(frame_indices) + 1
        block = frames[self.offsets[lo]:self.offsets[hi]]  # one contiguous read for the whole window
        base = self.offsets[lo]
        out = []
        for i in frame_indices:
            k = clip.first_frame + i
            out.append(block[self.offsets[k] - base:self.offsets[k + 1] - base])
        return out

    def read(self, clip_id: str, frame_indices: Sequence[int] | None = None, *,
             box: tuple[int, int, int, int] | None = None, mirror: bool = False) -> np.ndarray:
        """Decoded frames: T×H×W×3 uint8 for RGB shards, T×H×W×2 uint8 for flow shards.

        ``box`` (top, left, height, width) crops every frame as it is decoded and ``mirror`` flips it left to
        right (pixels only: a flow field's x component keeps its sign), each frame going straight from the
        decoder into its place in the result: the training loader's crop never copies whole frames. Values are
        those of :func:`decode_jpeg` on the whole frame (a flow frame: :func:`stack_flow_image` undone), cropped.
        """
        clip = self.clips[self.index[clip_id]]
        if frame_indices is None:
            frame_indices = range(clip.num_frames)
        top, left, height, width = box or (0, 0, clip.height, clip.width)
        rgb = self.kind == "rgb"
        out = np.empty((len(frame_indices), height, width, 3 if rgb else 2), dtype=np.uint8)
        for i, data in enumerate(self.encoded(clip_id, list(frame_indices))):
            image = cv2.imdecode(data, cv2.IMREAD_COLOR if rgb else cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise ValueError(f"{self.path}: corrupt JPEG frame in clip {clip_id}")
            if rgb:  # BGR -> RGB of the crop alone (OpenCV reads the ROI in place)
                pixels = cv2.cvtColor(image[top:top + height, left:left + width], cv2.COLOR_BGR2RGB)
            else:  # x on top, y below (stack_flow_image)
                half = image.shape[0] // 2
                pixels = cv2.merge((image[top:top + height, left:left + width],
                                    image[half + top:half + top + height, left:left + width]))
            if mirror:
                cv2.flip(pixels, 1, dst=out[i])
            else:
                out[i] = pixels
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None  # h5py handles cannot be pickled; each worker reopens
        return state


def stack_flow_image(flow_uint8: np.ndarray) -> np.ndarray:
    """H×W×2 quantized flow -> one 2H×W gray image (x on top, y below), stored as a single JPEG (``read`` splits it)."""
    return np.concatenate([flow_uint8[..., 0], flow_uint8[..., 1]], axis=0)


def open_shards(paths: Sequence[str | os.PathLike]) -> dict[str, ShardReader]:
    """Map every clip id to the reader of the shard that holds it."""
    by_clip: dict[str, ShardReader] = {}
    for p in paths:
        reader = ShardReader(p)
        for clip in reader.clips:
            by_clip[clip.clip_id] = reader
    return by_clip


def shards_by_kind(paths: Sequence[str | os.PathLike]) -> dict[str, list[Path]]:
    """Shard paths grouped by kind (``rgb``, ``flow``), read from the files, so that a job that needs both
    streams (a jointly trained RGB+Flow model) can be handed one list of shards."""
    groups: dict[str, list[Path]] = {}
    for p in paths:
        with h5py.File(p, "r", locking=False) as f:
            groups.setdefault(str(f.attrs["kind"]), []).append(Path(p))
    return groups
