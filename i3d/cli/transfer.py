"""``i3d features`` and ``i3d probe`` (workflow/rules/transfer.smk): frozen Kinetics features, and a probe on them."""
from __future__ import annotations

import argparse

from .common import _add_common, _add_imagenet_source_option


def _features(args: argparse.Namespace) -> None:
    from ..data.shards import shards_by_kind
    from ..evaluate.features import extract_features

    clips = extract_features(args.model, args.manifest, shards_by_kind(args.shards), args.out,
                             crop_size=args.crop_size, device=args.device, threads=args.threads,
                             progress=not args.quiet)
    print(f"features of {clips} clips -> {args.out}")


def _probe(args: argparse.Namespace) -> None:
    import torch

    from ..evaluate.probe import cv_scores_path, fit_probe

    torch.set_num_threads(args.threads)
    top1 = fit_probe(args.features, args.manifest, args.split, args.out, l2_grid=args.l2, folds=args.folds,
                     seed=args.seed, attrs=dict(dataset=args.dataset, init=args.init, data=args.data,
                                                imagenet_source=args.imagenet_source))
    print(f"top-1 {top1:.1f}% -> {args.out} (cross-validation of the L2 strength: {cv_scores_path(args.out)})")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``i3d features`` and ``i3d probe``."""
    p = sub.add_parser("features", help="frozen pre-classifier features of every clip (Kinetics model, any dataset)")
    p.add_argument("--model", required=True, help="the model.pt whose features are taken (frozen)")
    p.add_argument("--manifest", required=True)
    p.add_argument("--shards", nargs="+", required=True, help="the model's shards (rgb, flow or both)")
    p.add_argument("--out", required=True, help="output features .h5 (clip_id, label, features)")
    p.add_argument("--crop-size", type=int, default=224, help="center crop for a 224-input architecture")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    _add_common(p)
    p.set_defaults(func=_features)

    p = sub.add_parser("probe", help="a softmax probe on frozen features: L2 by cross-validation within the train "
                       "split, test predictions in predict's format")
    p.add_argument("--features", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--split", type=int, default=1)
    p.add_argument("--out", required=True, help="output predictions .h5 (a .cv.csv of the L2 choice beside it)")
    p.add_argument("--l2", type=float, nargs="+", default=[1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
                   help="L2 strengths tried by cross-validation")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", required=True, help="recorded in the predictions file")
    p.add_argument("--init", default="scratch", help="the Kinetics model's init, recorded in the predictions file")
    p.add_argument("--data", default="stand-in", choices=["stand-in", "real"], help="recorded in the predictions file")
    _add_imagenet_source_option(p)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_probe)
