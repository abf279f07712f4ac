"""An offline stand-in for torchvision's ImageNet GoogLeNet: a 2D Inception-V1 pre-trained on stand-in stills.

Why: ``init: imagenet`` reads ``googlenet-1378be20.pth``, which cannot be downloaded without network. This
trains the project's own 2D Inception-V1 (``InceptionV1(inflated=False)``, the very definition that I3D
inflates) on :mod:`i3d.standin.still_images` and writes its weights in torchvision GoogLeNet's state-dict layout
(``inception.to_torchvision``: ``conv1.conv.weight``, ..., ``fc.weight`` for the stand-in's own classes), so
``inflate.load_imagenet`` takes the file exactly as it takes the real one (the head is then left out, as for
1000 ImageNet classes, because the class counts differ). The file holds tensors only (the loader rejects any
other key); a JSON file next to it (:func:`metadata_path`) says it is a stand-in and how it was trained.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from i3d.atomic import atomic_path, write_text_atomic
from i3d.standin.still_images import Stills, class_names, render_stills
from i3d.fingerprint import code_fingerprint
from i3d.models.inception import InceptionV1, to_torchvision
from i3d.train.loop import lr_at

TORCHVISION_BN_MOMENTUM = 0.1
"""torchvision's BatchNorm2d momentum; the video models' 0.01 would leave the running statistics of a
few-hundred-step run far from the data."""


def metadata_path(weights: str | Path) -> Path:
    """The JSON that describes a stand-in weights file: same name, ``.json`` suffix."""
    return Path(weights).with_suffix(".json")


def googlenet_state(net: InceptionV1) -> dict[str, torch.Tensor]:
    """A 2D Inception-V1's weights in torchvision GoogLeNet's keys and shapes (contiguous copies)."""
    return {key: value.contiguous().clone() for key, value in to_torchvision(net.state_dict()).items()}


def _tensor(images: np.ndarray) -> torch.Tensor:
    """N×H×W×3 uint8 -> N×3×H×W float32 in [-1, 1], the input range of the video models and of GoogLeNet."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().mul_(2.0 / 255.0).sub_(1.0)


@torch.no_grad()
def top1(net: InceptionV1, data: Stills, batch_size: int = 128) -> float:
    """Share of ``data`` classified correctly by ``net`` in eval mode."""
    net.eval()
    x, y = _tensor(data.images), torch.from_numpy(data.labels)
    hits = sum(int((net(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
               for i in range(0, len(y), batch_size))
    return hits / len(y)


def train_imagenet_standin(out_path: str | Path, *, classes: int = 10, images_per_class: int = 500, size: int = 48,
                           epochs: int = 2, batch_size: int = 32, lr: float = 1e-3, seed: int = 0,
                           threads: int = 1, progress: bool = True) -> dict:
    """Pre-train a 2D Inception-V1 on ``classes`` × ``images_per_class`` stills of ``size`` px and write it to
    ``out_path`` in torchvision GoogLeNet's layout, with :func:`metadata_path` beside it; returns the metadata.

    Adam (measured: SGD with momentum at lr 0.01-0.02 learns this several times slower from scratch, at 0.05 it
    diverges), linear warm-up over the first 10% of steps then cosine decay of ``lr``, random horizontal flips.
    Generalisation comes from many images seen once or twice, not from many epochs. 80% of each class trains,
    20% validates (``val_top1``); deterministic in ``seed`` on a given machine and thread count. The defaults
    take about 1.5 minutes on one CPU core (val top-1 0.215, chance 0.1). Both files are written atomically, the JSON first, so a weights file
    never lacks its description.
    """
    started = time.monotonic()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        train, val = render_stills(classes, images_per_class, size, seed)
        net = InceptionV1(classes, dropout=0.0, bn_momentum=TORCHVISION_BN_MOMENTUM)
        _fit(net, train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
        meta = {
            "standin": True,
            "what": "NOT ImageNet: the offline stand-in, a 2D Inception-V1 trained on i3d.standin.still_images "
                    "(classes are shape x texture of the stand-in videos' sprites), in torchvision GoogLeNet's layout",
            "class_names": class_names(classes),
            "params": {"classes": classes, "images_per_class": images_per_class, "size": size, "epochs": epochs,
                       "batch_size": batch_size, "lr": lr, "seed": seed},
            "train_images": len(train.labels), "val_images": len(val.labels),
            "train_top1": top1(net, train), "val_top1": top1(net, val), "chance": 1.0 / classes,
            "code": code_fingerprint(__name__), "torch": torch.__version__, "threads": threads,
        }
        meta["seconds"] = round(time.monotonic() - started, 1)
        write_text_atomic(metadata_path(out_path), json.dumps(meta, indent=1) + "\n")
        with atomic_path(out_path) as tmp:
            torch.save(googlenet_state(net), tmp)
        return meta
    finally:
        torch.set_num_threads(previous_threads)


def _fit(net: InceptionV1, data: Stills, *, epochs: int, batch_size: int, lr: float, seed: int,
         progress: bool) -> None:
    """SGD on ``data`` (see :func:`train_imagenet_standin`); leaves ``net`` in train mode."""
    x, y = _tensor(data.images), torch.from_numpy(data.labels)
    steps = len(y) // batch_size  # drop the last partial batch: a batch of one breaks batch norm
    if steps == 0:
        raise ValueError(f"{len(y)} training images are fewer than one batch of {batch_size}")
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        bar = tqdm(range(steps), desc=f"imagenet stand-in epoch {epoch + 1}/{epochs}", unit="batch",
                   disable=not progress)
        hits = 0
        for step in bar:
            idx = order[step * batch_size:(step + 1) * batch_size]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], x[idx].flip(3), x[idx])
            for group in opt.param_groups:
                group["lr"] = lr_at(epoch * steps + step, epochs * steps, max(1, epochs * steps // 10), lr)
            logits = net(xb)
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            hits += int((logits.argmax(1) == y[idx]).sum())
            bar.set_postfix(loss=f"{loss.item():.3f}", top1=f"{hits / ((step + 1) * batch_size):.2f}")
