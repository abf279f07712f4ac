"""``i3d predict`` (workflow/rules/evaluate.smk): whole-clip test predictions of a trained model."""
from __future__ import annotations

import argparse

from .common import _add_common, _add_provenance_options


def _predict(args: argparse.Namespace) -> None:
    from ..data.shards import shards_by_kind
    from ..evaluate.predict import predict
    from ..models.whole_clip import CHUNK_FRAMES

    top1 = predict(args.model, args.manifest, shards_by_kind(args.shards), args.split, args.out, crop_size=args.crop_size,
                   device=args.device, threads=args.threads, progress=not args.quiet,
                   attrs=dict(dataset=args.dataset, init=args.init, data=args.data, protocol=args.protocol,
                              imagenet_source=args.imagenet_source),
                   chunk_frames=args.chunk_frames or CHUNK_FRAMES)
    print(f"top-1 {top1:.1f}% -> {args.out}")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``i3d predict``."""
    p = sub.add_parser("predict", help="whole-clip test predictions of a trained model")
    p.add_argument("--model", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--shards", nargs="+", required=True, help="the model's shards (rgb, flow or both)")
    p.add_argument("--split", type=int, default=1)
    p.add_argument("--out", required=True, help="output predictions .h5")
    p.add_argument("--crop-size", type=int, default=224,
                   help="center crop for a 224-input architecture (C3D: resized to half)")
    p.add_argument("--dataset", required=True, help="recorded in the predictions file")
    p.add_argument("--init", default="scratch", help="recorded in the predictions file")
    p.add_argument("--data", default="stand-in", choices=["stand-in", "real"], help="recorded in the predictions file")
    _add_provenance_options(p)
    p.add_argument("--chunk-frames", type=int, default=None,
                   help="I3D: longer clips go through in overlapping chunks of this many frames (same logits, "
                        "bounded memory; at least 144). Default: i3d.models.whole_clip.CHUNK_FRAMES (512)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    _add_common(p)
    p.set_defaults(func=_predict)
