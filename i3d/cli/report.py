"""``i3d report`` (workflow/rules/report.smk): the static HTML page of a run."""
from __future__ import annotations

import argparse
import time


def _run_report(args: argparse.Namespace) -> None:
    from ..report.page import write_report

    tic = time.perf_counter()
    out = write_report(args.results, args.out, flow_bound=args.flow_bound, examples=args.examples,
                       frames=args.frames)
    print(f"wrote {out} (images in {out.with_suffix('')}/) in {time.perf_counter() - tic:.0f} s")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``i3d report``."""
    p = sub.add_parser("report", help="a static HTML page of a run: tables, curves, confusion matrices, frames "
                       "with their flow, time per stage", description="Write a self-contained HTML report of a "
                       "results tree: every table page, training/validation curves per model, a confusion matrix "
                       "per predictions file, example frames beside their TV-L1 flow (Middlebury colours) and "
                       "the job seconds per stage from Snakemake's benchmarks. Images go to a folder beside the "
                       "page (OUT without .html), linked relatively; missing parts are noted, not fatal.")
    p.add_argument("--results", default="results",
                   help="the results tree to report on (only read; default %(default)s)")
    p.add_argument("--out", default="results/report.html",
                   help="the page to write; its images go to the folder of the same name (default %(default)s)")
    p.add_argument("--flow-bound", type=float, default=20.0,
                   help="flow quantisation bound (px) for flow shards that do not record theirs (config flow.bound; "
                        "default %(default)s)")
    p.add_argument("--examples", type=int, default=3,
                   help="clips per dataset shown with their flow (default %(default)s)")
    p.add_argument("--frames", type=int, default=4, help="frames per example clip (default %(default)s)")
    p.set_defaults(func=_run_report)
