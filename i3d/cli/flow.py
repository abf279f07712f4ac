"""``i3d flow`` (workflow/rules/flow.smk): TV-L1 optical flow of an RGB shard into a flow shard."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import _add_common


def _flow(args: argparse.Namespace) -> None:
    import logging

    from ..flow.shard import compute_flow_shard

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")  # the backend in the log

    summary = compute_flow_shard(Path(args.rgb), Path(args.out), backend=args.backend, bound=args.bound,
                                 workers=args.workers, progress=not args.quiet, tvl1=dict(args.tvl1),
                                 device=args.device)
    print(json.dumps(summary))


def _tvl1_setting(text: str) -> tuple[str, float | int]:
    """``name=value`` -> (name, number); integers stay integers (OpenCV's setters are typed)."""
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    number = float(value)
    return name, int(number) if number.is_integer() and "." not in value else number


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``i3d flow``."""
    p = sub.add_parser("flow", help="TV-L1 optical flow of an RGB shard into a flow shard")
    p.add_argument("--rgb", required=True, help="input RGB shard")
    p.add_argument("--out", required=True, help="output flow shard")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "opencv", "triton"],
                   help="auto: torch on CUDA, else opencv (the faster CPU path); torch: the project's batched TV-L1 "
                        "(fused Triton kernels on CUDA where it can, else PyTorch ops); triton: torch, failing at "
                        "start-up unless the Triton kernels run")
    p.add_argument("--device", default="auto", help="for --backend torch: auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--bound", type=float, default=20.0, help="truncate flow to [-bound, bound] before quantizing")
    p.add_argument("--workers", type=int, default=1,
                   help="CPU: worker processes (clips are shared among them); GPU: threads decoding and encoding "
                        "JPEGs beside the solver")
    p.add_argument("--tvl1", nargs="*", type=_tvl1_setting, default=[], metavar="NAME=VALUE",
                   help="TV-L1 parameters that differ from OpenCV's defaults, e.g. epsilon=0.05 "
                        "(names: tau lambda_ theta nscales warps epsilon inner_iterations outer_iterations "
                        "scale_step gamma median_filtering)")
    _add_common(p)
    p.set_defaults(func=_flow)
