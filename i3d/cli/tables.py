"""``i3d tables ...`` (workflow/rules/tables.smk): the paper's tables from the predictions."""
from __future__ import annotations

import argparse


def _table1(args: argparse.Namespace) -> None:
    from ..models import list_architectures
    from ..tables.table1 import write_table1

    write_table1(args.out, args.architectures or list_architectures(), frames_scale=dict(args.frames_scale),
                 crop_size=args.crop_size)
    print(f"wrote {args.out}.csv and {args.out}.md")


def _table2(args: argparse.Namespace) -> None:
    from ..tables.assemble import write_table2

    df = write_table2(args.predictions, args.out)
    print(df[["architecture", "dataset", "split", "stream", "top1", "paper_top1"]].to_string(index=False))
    print(f"wrote {args.out}.csv and {args.out}.md")


def _table345(args: argparse.Namespace) -> None:
    from ..tables.table3 import write_table3
    from ..tables.table4 import write_table4
    from ..tables.table5 import write_table5

    write = {"table3": write_table3, "table4": write_table4, "table5": write_table5}[args.table]
    df = write(args.predictions, args.out, released=args.released)
    print(f"{len(df)} rows; wrote {args.out}.csv and {args.out}.md")


def _tables_index(args: argparse.Namespace) -> None:
    from ..tables.index import write_index

    write_index(args.out, dict(item.split("=", 1) for item in args.tables))
    print(f"wrote {args.out}")


def _arch_scale(text: str) -> tuple[str, float]:
    """``arch=scale`` -> (arch, scale)."""
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected ARCH=SCALE, got {text!r}")
    return name, float(value)


def _add_table345_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output prefix (writes .csv and .md)")
    p.add_argument("predictions", nargs="*", help="predictions .h5 files (each table picks its own)")
    p.add_argument("--released", nargs="+", default=None, choices=["rgb", "flow"], metavar="STREAM",
                   help="released Kinetics weights stood for the Kinetics models, for these streams (the captions "
                        "say so); default: the Kinetics models were trained by the run")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``i3d tables`` and its subcommands."""
    tables = sub.add_parser("tables", help="assemble the paper's tables").add_subparsers(dest="table", required=True)
    p = tables.add_parser("table1", help="parameters and temporal footprint, ours beside the paper's")
    p.add_argument("--out", required=True, help="output prefix (writes .csv and .md)")
    p.add_argument("--architectures", nargs="+", default=None, help="default: all registered architectures")
    p.add_argument("--frames-scale", nargs="*", type=_arch_scale, default=[], metavar="ARCH=SCALE",
                   help="this run's frames per sample relative to the paper's, per architecture (default 1)")
    p.add_argument("--crop-size", type=int, default=224, help="this run's training crop for a 224-input architecture")
    p.set_defaults(func=_table1)
    p = tables.add_parser("table2", help="accuracy per architecture, dataset and stream, beside the paper's")
    p.add_argument("--out", required=True, help="output prefix (writes .csv and .md)")
    p.add_argument("predictions", nargs="+", help="predictions .h5 files")
    p.set_defaults(func=_table2)
    p = tables.add_parser("table3", help="Kinetics, from scratch vs ImageNet then Kinetics (top-1, top-5)")
    _add_table345_arguments(p)
    p.set_defaults(func=_table345)
    p = tables.add_parser("table4", help="UCF-101/HMDB-51 split 1: Original, Fixed (probe), Full-FT, with/without "
                          "ImageNet")
    _add_table345_arguments(p)
    p.set_defaults(func=_table345)
    p = tables.add_parser("table5", help="mean over the three splits, Kinetics pre-trained I3D beside the literature")
    _add_table345_arguments(p)
    p.set_defaults(func=_table345)
    p = tables.add_parser("index", help="results/tables.md: the five tables, linked, with what data made them")
    p.add_argument("--out", required=True)
    p.add_argument("tables", nargs="+", metavar="NAME=PATH", help="e.g. table1=results/table1.md")
    p.set_defaults(func=_tables_index)
