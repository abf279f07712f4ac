"""``i3d data acquire`` (workflow/rules/data.smk): a dataset's manifest, from a rendered stand-in or the real
data on disk; ``i3d data real-footage``, run by hand: a small UCF-101-layout dataset of real camera footage. The
``data`` group also holds ``frames`` (:mod:`.frames`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..data import DATASETS
from .common import _add_common, _add_subset_options, _subset_classes


def _acquire(args: argparse.Namespace) -> None:
    from ..atomic import atomic_path
    from ..data.annotations import read_annotations

    if args.source == "synthetic":
        from ..standin.synthetic import render_standin

        render_standin(args.dataset, Path(args.root), classes=args.classes, clips_per_class=args.clips_per_class,
                       seed=args.seed, short_side=tuple(args.render_short_side), seconds=tuple(args.seconds),
                       progress=not args.quiet)
    manifest = read_annotations(args.dataset, args.root, kinetics_test=not args.no_kinetics_test)
    if args.source != "synthetic" and (args.subset_classes is not None or args.max_per_class is not None):
        from ..data.annotations import select_subset

        manifest = select_subset(manifest, _subset_classes(args.subset_classes), args.max_per_class)
    if args.download_report:
        import pandas as pd

        from ..acquire.report import merge_download_reasons

        manifest = merge_download_reasons(manifest, pd.read_csv(args.download_report, keep_default_na=False))
    out = Path(args.manifest)
    with atomic_path(out) as tmp:
        manifest.to_csv(tmp, index=False)
    bad = manifest[manifest.status != "ok"]
    print(f"{args.dataset}: {len(manifest)} clips in the manifest, {len(bad)} not available -> {out}")
    for row in bad.head(10).itertuples():
        print(f"  {row.clip_id}: {row.reason}")


REAL_FOOTAGE_OUT = {"scene": "resources/real_ucf101", "motion": "resources/real_ucf101_motion"}
"""Where ``i3d data real-footage`` writes each task's dataset by default: apart, so neither replaces the other."""


def _real_footage(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from ..standin.real_footage import DEFAULTS, build_real_footage, clip_counts

    given = {"seconds": args.seconds, "groups": args.groups, "max_clips": args.max_clips}
    settings = replace(DEFAULTS[args.task], **{k: v for k, v in given.items() if v is not None})
    out = args.out or REAL_FOOTAGE_OUT[args.task]
    clips = build_real_footage(args.clips, out, settings, task=args.task)
    per = "class" if args.task == "scene" else "source"
    print(f"{out}: UCF-101 layout, {args.task} task, {sum(clips.values())} clips of {settings.frames} frames, "
          f"at most {settings.groups} groups per {per}: " + ", ".join(f"{c} {n}" for c, n in clips.items()))
    print(clip_counts(out).to_string())


def add_parsers(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """``i3d data`` and its ``acquire``; returns the group, for ``frames``."""
    data = sub.add_parser("data", help="acquire datasets and decode frames").add_subparsers(dest="step", required=True)
    p = data.add_parser("acquire", help="render a stand-in dataset (or read one placed on disk) and write its manifest")
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--source", default="synthetic", choices=["synthetic", "local", "download"],
                   help="synthetic: render the built-in stand-in into --root; local or download: the real dataset "
                        "is in its native layout under --root (download: put there by `i3d download`)")
    p.add_argument("--root", required=True, help="dataset folder (native layout)")
    p.add_argument("--manifest", required=True, help="output manifest CSV")
    p.add_argument("--classes", type=int, default=10, help="stand-in: number of classes")
    p.add_argument("--clips-per-class", type=int, default=16, help="stand-in: clips per class")
    p.add_argument("--seed", type=int, default=0, help="stand-in: random seed")
    p.add_argument("--render-short-side", type=int, nargs=2, default=(72, 112), metavar=("MIN", "MAX"),
                   help="stand-in: short side of the rendered videos, pixels")
    p.add_argument("--seconds", type=float, nargs=2, default=(1.6, 2.6), metavar=("MIN", "MAX"),
                   help="stand-in: clip duration range, seconds")
    _add_subset_options(p)
    p.add_argument("--download-report", default=None,
                   help="the dataset's download report: its reasons replace 'file not found' for missing clips")
    _add_common(p)
    p.set_defaults(func=_acquire)
    p = data.add_parser("real-footage", help="cut the real clips tests/real_clips.sh fetches into a small dataset "
                                             "in UCF-101's layout (read it with source: local)")
    _add_real_footage_options(p)  # in p's block: only this subcommand's code fingerprint holds what it imports
    p.set_defaults(func=_real_footage)
    return data


def _add_real_footage_options(p: argparse.ArgumentParser) -> None:
    from ..standin.real_footage import DEFAULTS, MOTIONS, TASKS

    scene, motion = DEFAULTS["scene"], DEFAULTS["motion"]
    p.add_argument("--task", default="scene", choices=TASKS,
                   help="scene: one class per clip (its scene gives the class away); motion: classes "
                        f"{', '.join(MOTIONS)} (as filmed, backwards, twice the speed), each with clips of every "
                        "source, so only the motion tells them apart")
    p.add_argument("--clips", default="resources/real_clips", help="folder of vtest.avi, tree.avi, box.mp4, cup.mp4")
    p.add_argument("--out", default=None,
                   help="dataset root to write (UCF-101/, ucfTrainTestlist/); left as it is if built the same "
                        f"(default: {REAL_FOOTAGE_OUT['scene']}, --task motion: {REAL_FOOTAGE_OUT['motion']})")
    p.add_argument("--seconds", type=float, default=None,
                   help=f"length of each clip, seconds at 25 fps (default: {scene.seconds:g})")
    p.add_argument("--groups", type=int, default=None,
                   help=f"groups of adjacent clips per class (scene, default {scene.groups}) or at most per source "
                        f"(motion, default {motion.groups}); each split tests a different third of a class's groups")
    p.add_argument("--max-clips", type=int, default=None,
                   help=f"at most this many clips per class (scene, default {scene.max_clips}) or per class from one "
                        f"source (motion, default {motion.max_clips})")
