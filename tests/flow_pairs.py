"""Frame pairs with exactly known flow, for validating TV-L1 implementations and benchmarking them (fixtures for
tests/ and benchmarks/, kept out of the package and out of the flow stage's code fingerprint).

Construction (exact for TV-L1's convention, flow from ``I0`` to ``I1`` with ``I1(x + u(x)) = I0(x)``): take a
texture ``B``, set ``I1 = B`` and ``I0(x) = B(x + u(x))`` by bicubic resampling. Displacements stay within the
capture range of OpenCV's default pyramid (about 6 px); beyond it TV-L1 fails by design.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def _texture(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    b = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), sigma)
    return (b - b.min()) / max(float(b.max() - b.min()), 1e-6) * 255.0


def _warp_pair(base: np.ndarray, u: np.ndarray, v: np.ndarray, rng: np.random.Generator,
               noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = base.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    i0 = cv2.remap(base, xs + u, ys + v, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    i1 = base
    if noise:
        i0 = i0 + rng.normal(0, noise, base.shape).astype(np.float32)
        i1 = i1 + rng.normal(0, noise, base.shape).astype(np.float32)
    as_u8 = lambda a: np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return as_u8(i0), as_u8(i1), np.stack([u, v], axis=-1).astype(np.float32)


def smooth_pair(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth random texture under a smooth sinusoidal flow (|u| up to ~5 px): ``(I0, I1, flow H×W×2)``."""
    rng = np.random.default_rng(seed)
    base = _texture(rng, h, w, sigma=rng.uniform(1.5, 3.0))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b, c = rng.uniform(25, 60, 3)
    u = 2.0 + 3.0 * np.sin(xs / a + seed) * np.cos(ys / b)
    v = -1.0 + 2.5 * np.cos(xs / c + ys / a)
    return _warp_pair(base, u.astype(np.float32), v.astype(np.float32), rng, noise=0.0)


def rectangle_pair(h: int, w: int, seed: int = 0, noise: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured rectangle moving over a textured background that moves differently, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    base = _texture(rng, h, w, sigma=rng.uniform(1.0, 2.5))
    u = np.full((h, w), rng.uniform(-2, 2), np.float32)
    v = np.full((h, w), rng.uniform(-2, 2), np.float32)
    y0, x0 = int(h * rng.uniform(0.2, 0.4)), int(w * rng.uniform(0.2, 0.4))
    y1, x1 = y0 + h // 3, x0 + w // 3
    u[y0:y1, x0:x1] = rng.uniform(3, 6) * rng.choice([-1, 1])
    v[y0:y1, x0:x1] = rng.uniform(-3, 3)
    return _warp_pair(base, u, v, rng, noise=noise)


def validation_pairs(h: int, w: int, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` distinct pairs alternating smooth and rectangle+noise: ``(I0s, I1s, flows)`` as N×H×W(×2)."""
    made = [(smooth_pair if i % 2 == 0 else rectangle_pair)(h, w, seed + i) for i in range(count)]
    return tuple(np.stack(parts) for parts in zip(*made))


def standin_video_frames(h: int, w: int, count: int, seed: int = 3) -> np.ndarray:
    """``count`` consecutive gray frames (uint8, H×W) of a rendered stand-in video, decoded through ffmpeg and
    resized to ``w``×``h``: real encoded video (edges, flat regions, compression noise) for flow validation."""
    import tempfile

    from i3d.standin.synthetic import render_standin
    from i3d.data.video import decode

    with tempfile.TemporaryDirectory() as tmp:
        render_standin("ucf101", Path(tmp), classes=1, clips_per_class=3, seed=seed, short_side=(h, h),
                       seconds=(max(1.0, count / 24), max(1.0, count / 24)), progress=False)
        video = min(Path(tmp, "UCF-101").rglob("*.avi"))
        rgb = decode(video, fps=25.0, short_side=min(h, w))[:count]
    return np.stack([_gray_resized(f, h, w) for f in rgb])


def _gray_resized(rgb: np.ndarray, h: int, w: int) -> np.ndarray:
    """An RGB frame as the tests' gray ``w``×``h`` input (area-averaged: no aliasing from the downscale)."""
    return cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (w, h), interpolation=cv2.INTER_AREA)


def real_footage_pairs(folder: str | Path, h: int, w: int, per_clip: int = 1,
                       min_change: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``per_clip`` pairs of consecutive frames from each video in ``folder`` (sorted by name), decoded as the
    pipeline does (25 fps) and resized to ``w``×``h`` gray: ``(I0s, I1s)`` as N×H×W uint8. Resampling to 25 fps
    repeats frames of slower sources, so a frame that differs from the last one kept by less than
    ``min_change`` gray levels on average is dropped first: a pair always holds motion to measure."""
    from i3d.data.video import decode

    firsts, seconds = [], []
    for video in sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".avi", ".mp4", ".mkv", ".webm")):
        kept: list[np.ndarray] = []
        for rgb in decode(video, fps=25.0, short_side=min(h, w)):
            gray = _gray_resized(rgb, h, w)
            if not kept or np.abs(gray.astype(np.int16) - kept[-1]).mean() >= min_change:
                kept.append(gray)
        if len(kept) < 2:
            raise ValueError(f"{video.name}: fewer than two distinct frames")
        for k in np.linspace(0, len(kept) - 2, per_clip + 2).round().astype(int)[1:-1]:
            firsts.append(kept[k])
            seconds.append(kept[k + 1])
    if not firsts:
        raise FileNotFoundError(f"no videos in {folder}")
    return np.stack(firsts), np.stack(seconds)
