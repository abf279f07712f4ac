"""``i3d data frames`` (workflow/rules/frames.smk): one shard's clips decoded into an HDF5 RGB shard."""
from __future__ import annotations

import argparse

from .common import _add_common


def _frames(args: argparse.Namespace) -> None:
    import pandas as pd

    from ..data.ingest import ingest_shard

    table = ingest_shard(pd.read_csv(args.manifest), args.shard, args.num_shards, args.out, fps=args.fps,
                         short_side=args.short_side, progress=not args.quiet)
    ok = int((table.status == "ok").sum())
    print(f"shard {args.shard}: {ok}/{len(table)} clips decoded, {int(table.num_frames.sum())} frames -> {args.out}")
    for row in table[table.status != "ok"].itertuples():
        print(f"  skipped {row.clip_id}: {row.status}: {row.reason}")
    for row in table[(table.status == "ok") & (table.reason.fillna("") != "")].itertuples():
        print(f"  kept {row.clip_id} ({row.num_frames} frames): {row.reason}")


def add_parsers(data: argparse._SubParsersAction) -> None:
    """``frames`` in the ``i3d data`` group."""
    p = data.add_parser("frames", help="decode one shard's clips into an HDF5 RGB shard")
    p.add_argument("--manifest", required=True)
    p.add_argument("--shard", type=int, required=True)
    p.add_argument("--num-shards", type=int, required=True)
    p.add_argument("--out", required=True, help="output .h5 (a status .csv is written next to it)")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--short-side", type=int, default=256)
    _add_common(p)
    p.set_defaults(func=_frames)
