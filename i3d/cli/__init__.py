"""The ``i3d`` command: one subcommand per pipeline stage, called by the Snakemake rules.

Heavy imports (torch, OpenCV) happen inside each subcommand, so ``i3d --help`` is instant. One module per stage
group, named as its rule file: workflow/rules/<name>.smk runs the commands of i3d/cli/<name>.py.
May import every i3d package (inside the handlers); nothing in the package imports it.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import common, data, download, evaluate, flow, frames, report, tables, train, transfer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="i3d", description=__doc__.splitlines()[0] + " Usually run by "
                                     "Snakemake (snakemake --cores all results/table2.md); each stage can also be "
                                     "run by hand.")
    sub = parser.add_subparsers(dest="command", required=True)

    data_steps = data.add_parsers(sub)
    frames.add_parsers(data_steps)
    download.add_parsers(sub)
    flow.add_parsers(sub)
    train.add_parsers(sub)
    evaluate.add_parsers(sub)
    transfer.add_parsers(sub)
    tables.add_parsers(sub)
    train.add_weights_parsers(sub)
    report.add_parsers(sub)
    common.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if not sys.stderr.isatty():
        # progress bars going to a log file (Snakemake's log:) update every 15 s instead of every 0.1 s
        os.environ.setdefault("TQDM_MININTERVAL", "15")
    args = build_parser().parse_args(argv)
    args.func(args)
    return 0
