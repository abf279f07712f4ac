"""Option helpers that several stage groups share, and ``i3d config`` (workflow/rules/common.smk validates
the config the same way)."""
from __future__ import annotations

import argparse


def _check_config(args: argparse.Namespace) -> None:
    from ..config import load_config

    load_config(args.config)
    print(f"{args.config}: valid")


def _subset_classes(values: list[str] | None) -> list[str] | int | None:
    """``--subset-classes 20`` (the first 20 classes) or ``--subset-classes abseiling "air drumming"``."""
    if not values:
        return None
    return int(values[0]) if len(values) == 1 and values[0].isdigit() else values


def _add_provenance_options(p: argparse.ArgumentParser) -> None:
    """What an output file records of the protocol behind it, for Tables 4 and 5 (i3d/tables/runs.py)."""
    p.add_argument("--protocol", default="original", choices=["original", "fixed", "fullft"],
                   help="original: trained on this dataset; fixed: a probe on frozen Kinetics features; fullft: "
                        "fine-tuned from Kinetics (recorded in the file)")
    _add_imagenet_source_option(p)


def _add_imagenet_source_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--imagenet-source", default="torchvision", choices=["torchvision", "stand-in", "released"],
                   help="where ImageNet weights came from, when init is imagenet (recorded in the file); released: "
                        "inside released Kinetics weights")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_subset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subset-classes", nargs="*", default=None, metavar="CLASS",
                   help="real data: only these classes, or a number K for the first K in sorted order")
    p.add_argument("--max-per-class", type=int, default=None, help="real data: at most N training and N test clips per class in each split")
    _add_kinetics_test_option(p)


def _add_kinetics_test_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-kinetics-test", action="store_true",
                   help="Kinetics: leave the labelled test list out and score on the validation list")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``i3d config``."""
    p = sub.add_parser("config", help="validate a config file against the schema")
    p.add_argument("config")
    p.set_defaults(func=_check_config)
