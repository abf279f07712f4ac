"""Labelled still images drawn like the stand-in videos: the data of an offline ImageNet stand-in.

Why: ``init: imagenet`` needs 2D weights pre-trained on still images, and without network there are none. The
stand-in pre-trains a 2D Inception-V1 on images made of the videos' own appearance (``synthetic.py``'s sprites,
textures, colours, backgrounds and scene props), so its filters suit the stand-in videos as ImageNet's suit real
footage. A class is an *appearance*, never a motion: the main object's shape kind and texture kind
(``STILL_CLASSES``). Everything else is drawn independently of the class: the object's colours, size, place and
turn, the background (random, or 30% of the time a video class's typical scene with its prop, see
``synthetic.has_scene``) and up to two small clutter objects of any look.

Deterministic in ``seed``: each image draws from its own generator keyed by (seed, class, index).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from i3d.data.annotations import DATASETS
from i3d.standin.synthetic import (
    CLASSES,
    SHAPES,
    TEXTURES,
    Sprite,
    draw_background,
    draw_sprite,
    has_scene,
    paste,
)

STILL_CLASSES: tuple[tuple[int, int], ...] = tuple(
    (s, (s + k) % len(TEXTURES)) for k in range(len(TEXTURES)) for s in range(len(SHAPES)))
"""(shape kind, texture kind) per class: every pair once, ordered so that the first N of them (``classes=N``)
spread over all shapes and textures (the first ten: each shape twice, each texture two or three times)."""

SCENES: tuple[tuple[int, int], ...] = tuple(
    (d, c) for d, dataset in enumerate(DATASETS) for c in range(len(CLASSES[dataset])) if has_scene(c))
"""Every class-typical scene (dataset index, class index) of the video stand-ins."""

_STILLS = 5  # first key of every image's generator, apart from the videos' streams (which start with a seed)


@dataclass(frozen=True)
class Stills:
    """Images (N×H×W×3 uint8 RGB) and their class indices (N int64)."""

    images: np.ndarray
    labels: np.ndarray


def class_names(classes: int) -> list[str]:
    """Names of the first ``classes`` still-image classes, e.g. ``star with stripes``."""
    return [f"{SHAPES[s]} with {TEXTURES[t]}" for s, t in STILL_CLASSES[:classes]]


def render_still(seed: int, class_index: int, index: int, size: int) -> np.ndarray:
    """Image ``index`` of class ``class_index``: size×size×3 uint8, the same for the same arguments."""
    shape, texture = STILL_CLASSES[class_index]
    rng = np.random.default_rng([_STILLS, seed, class_index, index])
    scene = SCENES[rng.integers(len(SCENES))] if rng.random() < 0.3 else None
    image = draw_background(rng, size, size, size, scene=scene)
    for _ in range(rng.integers(0, 3)):
        _put(image, draw_sprite(rng, rng.uniform(0.1, 0.18) * size), rng)
    _put(image, draw_sprite(rng, rng.uniform(0.36, 0.54) * size, shape, texture), rng)
    image += rng.normal(0.0, 2.0, image.shape).astype(np.float32)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def _put(image: np.ndarray, sprite: Sprite, rng: np.random.Generator) -> None:
    """Paste ``sprite`` centred at a random point of the image's central 60%."""
    c = (len(sprite[0]) - 1) / 2
    x, y = rng.uniform(0.2, 0.8, 2) * len(image)
    paste(image, sprite, np.float64([[1, 0, x - c], [0, 1, y - c]]))


def render_stills(classes: int, images_per_class: int, size: int, seed: int,
                  val_fraction: float = 0.2) -> tuple[Stills, Stills]:
    """(train, val): every class's first images train, its last ``val_fraction`` (at least one) validate."""
    if not 1 <= classes <= len(STILL_CLASSES):
        raise ValueError(f"the still images have 1..{len(STILL_CLASSES)} classes, asked for {classes}")
    n_val = max(1, round(val_fraction * images_per_class))
    if images_per_class <= n_val:
        raise ValueError(f"images_per_class={images_per_class} leaves no training image beside {n_val} for val")
    parts = []
    for indices in (range(images_per_class - n_val), range(images_per_class - n_val, images_per_class)):
        keys = [(c, k) for c in range(classes) for k in indices]
        images = np.stack([render_still(seed, c, k, size) for c, k in keys])
        parts.append(Stills(images, np.array([c for c, _ in keys], dtype=np.int64)))
    return parts[0], parts[1]
