"""Example frames beside their stored TV-L1 flow, to check by eye that the flow follows the motion (and that
the frames are what the dataset says), read back from the shards the models were trained on."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.image import imsave

from ..data.shards import ShardReader, open_shards
from ..flow.quantize import dequantize
from .flow_colour import flow_to_colour

MIN_SCALE = 1.0
"""Pixels drawn fully saturated at least: a still clip's quantisation noise (±0.08 px) stays near white."""
GAP = 2


@dataclass(frozen=True)
class Example:
    """One clip's strip: the image written, the clip, its label index, the frames shown, the flow scale."""

    image: Path
    clip_id: str
    label: int
    frames: tuple[int, ...]
    scale: float


def shard_bound(reader: ShardReader, default: float) -> float:
    """The bound the flow shard was quantised with (recorded in its params by ``i3d flow``), else ``default``."""
    return float(reader.params.get("bound", default))


def pick_clips(rgb: dict[str, ShardReader], flow: dict[str, ShardReader], count: int) -> list[str]:
    """Up to ``count`` clips with both frames and flow, one per class first so that the strips differ."""
    both = [c for c in rgb if c in flow and flow[c].record(c).num_frames > 0]
    chosen: list[str] = []
    seen: set[int] = set()
    for clip in both:
        label = rgb[clip].record(clip).label
        if label not in seen and len(chosen) < count:
            chosen.append(clip)
            seen.add(label)
    return chosen + [c for c in both if c not in chosen][:count - len(chosen)]


def strip_image(frames: np.ndarray, flows: np.ndarray, scale: float) -> np.ndarray:
    """Frames (T×H×W×3) on top, their flow in colour (T×H×W×2, pixels) below, white gaps, enlarged so a small
    frame is still visible."""
    t, h, w = frames.shape[:3]
    zoom = max(1, round(112 / h))
    out = np.full((2 * h + GAP, t * (w + GAP) - GAP, 3), 255, np.uint8)
    for i in range(t):
        x = i * (w + GAP)
        out[:h, x:x + w] = frames[i]
        out[h + GAP:, x:x + w] = flow_to_colour(flows[i], scale)
    return out.repeat(zoom, axis=0).repeat(zoom, axis=1)


def write_examples(rgb_shards: list[Path], flow_shards: list[Path], out_dir: Path, prefix: str, count: int,
                   frames_per_clip: int, default_bound: float) -> list[Example]:
    """Write one strip per picked clip as ``out_dir/<prefix>-<n>.png``: ``frames_per_clip`` frames spread over
    the clip, each with the flow to the next frame, all strips of a clip at one scale (the largest motion
    shown, at least ``MIN_SCALE`` px)."""
    rgb, flow = open_shards(rgb_shards), open_shards(flow_shards)
    examples = []
    for n, clip in enumerate(pick_clips(rgb, flow, count)):
        pairs = flow[clip].record(clip).num_frames
        index = sorted(set(np.linspace(0, pairs - 1, min(frames_per_clip, pairs)).round().astype(int).tolist()))
        frames = rgb[clip].read(clip, index)
        flows = dequantize(flow[clip].read(clip, index), shard_bound(flow[clip], default_bound))
        scale = max(float(np.hypot(flows[..., 0], flows[..., 1]).max()), MIN_SCALE)
        image = out_dir / f"{prefix}-{n}.png"
        imsave(image, strip_image(frames, flows, scale))
        examples.append(Example(image, clip, rgb[clip].record(clip).label, tuple(index), scale))
    for reader in {id(r): r for r in (*rgb.values(), *flow.values())}.values():
        reader.close()
    return examples
