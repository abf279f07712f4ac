"""The offline ImageNet stand-in: appearance-labelled stills, a GoogLeNet-layout file the real loader takes."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_inflate import torchvision_keys

from i3d.standin import still_images, synthetic
from i3d.standin.still_images import STILL_CLASSES, render_still, render_stills
from i3d.models import build
from i3d.train.imagenet_standin import metadata_path, train_imagenet_standin
from i3d.train.loop import initialise

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- synthetic.py still renders the same videos -------------------------------------------------------

# sha256 of the raw frames (and frame rates) of every clip that the Kinetics planner (4 classes, so two with a
# typical scene) and the HMDB planner (2 classes: clutter, occluder, shake) make with 3 clips per class, seed 5,
# 0.4-0.6 s, rendered by `_render` at short side 32-40. Computed with the code before `synthetic.py` exposed its
# shape and texture kinds (commit b1afb28); the refactor also left the encoded files of the default config's three
# stand-ins byte for byte the same.
FRAMES_SHA256 = "d4b352aee2225e2e596637546ae0148de417bda7186d34375a946561ec9943e5"


def test_video_frames_are_unchanged_by_the_refactor() -> None:
    digest = hashlib.sha256()
    for dataset, classes in (("kinetics400", 4), ("hmdb51", 2)):
        chosen = [(name, synthetic._MOTION[motion]) for name, motion in synthetic.CLASSES[dataset][:classes]]
        jobs, _ = synthetic._PLANNERS[dataset](Path("x"), chosen, 3, 5, (0.4, 0.6))
        for job in jobs:
            frames, fps = synthetic._render(job, (32, 40), 4.0)
            digest.update(frames.tobytes())
            digest.update(repr(fps).encode())
    assert digest.hexdigest() == FRAMES_SHA256


# --- still images ---------------------------------------------------------------------------------------


def test_classes_are_every_shape_texture_pair_and_the_first_ten_spread() -> None:
    pairs = {(s, t) for s in range(len(synthetic.SHAPES)) for t in range(len(synthetic.TEXTURES))}
    assert sorted(STILL_CLASSES) == sorted(pairs)
    first = STILL_CLASSES[:10]
    assert {s for s, _ in first} == set(range(5)) and {t for _, t in first} == set(range(4))


def test_only_the_main_object_depends_on_the_class(monkeypatch) -> None:
    """The class fixes the big object's shape and texture kinds; clutter and background are drawn at random."""
    calls = []
    real = synthetic.draw_sprite

    def spy(rng, diameter, shape=None, texture=None):
        calls.append((diameter, shape, texture))
        return real(rng, diameter, shape, texture)

    monkeypatch.setattr(still_images, "draw_sprite", spy)
    for c in range(len(STILL_CLASSES)):
        for k in range(3):
            calls.clear()
            render_still(0, c, k, 64)
            *clutter, (diameter, shape, texture) = calls
            assert (shape, texture) == STILL_CLASSES[c]
            assert diameter >= 0.32 * 64 > max((d for d, _, _ in clutter), default=0.0)
            assert all(s is None and t is None for _, s, t in clutter)


def test_kinds_set_the_sprite_shape_and_texture() -> None:
    """Same stream, other kinds: the shape changes the outline, the texture only the colours inside it."""
    def sprite(shape, texture):
        colour, clear = synthetic.draw_sprite(np.random.default_rng(3), 40.0, shape, texture)
        return colour, 1.0 - clear[..., 0]

    colour, alpha = sprite(1, 0)
    other_colour, other_alpha = sprite(1, 1)
    np.testing.assert_array_equal(alpha, other_alpha)
    assert np.abs(colour - other_colour).mean() > 10.0
    areas = {shape: sprite(shape, 0)[1].sum() for shape in range(len(synthetic.SHAPES))}
    assert areas[3] < areas[1] and areas[2] < areas[1]  # a star and a triangle cover less than a rectangle


def test_stills_are_deterministic_with_disjoint_splits() -> None:
    train, val = render_stills(3, 5, 32, seed=4)
    again, _ = render_stills(3, 5, 32, seed=4)
    other, _ = render_stills(3, 5, 32, seed=5)
    assert train.images.shape == (12, 32, 32, 3) and val.images.shape == (3, 32, 32, 3)
    assert train.images.dtype == np.uint8
    assert train.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and val.labels.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(train.images, again.images)
    assert not np.array_equal(train.images, other.images)
    flat = {im.tobytes() for im in np.concatenate([train.images, val.images])}
    assert len(flat) == 15  # every image differs from every other
    np.testing.assert_array_equal(val.images[1], render_still(4, 1, 4, 32))  # val: each class's last image


# --- the weights file ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("weights") / "googlenet-standin.pth"
    meta = train_imagenet_standin(path, classes=3, images_per_class=10, size=32, epochs=1, batch_size=8,
                                  threads=1, progress=False)
    return path, meta


def test_the_file_has_torchvision_googlenets_layout(tiny_weights) -> None:
    path, meta = tiny_weights
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert set(state) == torchvision_keys()
    shapes = {  # from torchvision's GoogLeNet (reference §4.1), the head for the stand-in's 3 classes
        "conv1.conv.weight": (64, 3, 7, 7), "conv1.bn.running_var": (64,), "conv3.conv.weight": (192, 64, 3, 3),
        "inception3a.branch3.1.conv.weight": (32, 16, 3, 3), "inception4e.branch4.1.conv.weight": (128, 528, 1, 1),
        "inception5b.branch2.1.conv.weight": (384, 192, 3, 3), "fc.weight": (3, 1024), "fc.bias": (3,),
    }
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    assert all(v.is_floating_point() or k.endswith("num_batches_tracked") for k, v in state.items())
    assert state["conv1.bn.num_batches_tracked"] == 3  # trained: 8 images per class, 3 batches of 8
    assert json.loads(metadata_path(path).read_text()) == meta
    assert meta["standin"] is True and meta["class_names"] == ["ellipse with stripes", "rectangle with checker",
                                                               "triangle with rings"]
    assert meta["train_images"] == 24 and meta["val_images"] == 6


@pytest.mark.parametrize(("arch", "parts"), [("lstm", ["cnn"]), ("two_stream", ["rgb", "flow"]),
                                             ("fused", ["rgb", "flow"]), ("i3d", ["rgb", "flow"])])
def test_the_real_imagenet_path_takes_it(arch, parts, tiny_weights, capsys) -> None:
    """``init: imagenet`` (``train.loop.initialise``) loads the file into every Inception-based model."""
    path, _ = tiny_weights
    state = torch.load(path, map_location="cpu", weights_only=True)
    with torch.device("meta"):
        model = build(arch, num_classes=5)
    model.to_empty(device="cpu")
    initialise(model, "imagenet", path)
    assert ", ".join(parts) in capsys.readouterr().out
    first = getattr(model, parts[0]).Conv3d_1a_7x7.conv3d.weight  # rgb (or the LSTM's CNN) conv1
    torch.testing.assert_close(first.sum(dim=2), state["conv1.conv.weight"])
    bn = getattr(model, parts[-1]).Mixed_5c.b3b.bn
    torch.testing.assert_close(bn.running_mean, state["inception5b.branch4.1.bn.running_mean"])


@pytest.mark.long
def test_a_short_run_beats_chance_on_held_out_stills(tmp_path) -> None:
    """One pass over 2400 stills (75 steps, ~40 s on one core) already generalises: measured 0.378 top-1 on the
    600 held-out images, chance 0.25; 0.32 is 4 standard deviations of a guesser above chance."""
    meta = train_imagenet_standin(tmp_path / "w.pth", classes=4, images_per_class=750, size=48, epochs=1,
                                  batch_size=32, lr=1e-3, seed=0, threads=1, progress=False)
    assert meta["val_images"] == 600
    assert meta["val_top1"] >= 0.32, meta
