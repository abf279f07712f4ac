"""Top-1 of each I3D stream on the stand-in classes with and without a typical scene (after a default run).

The stand-ins give every second class a typical but unreliable scene (i3d/standin/synthetic.py); on the other
classes only the motion tells the class. This prints, per dataset and stream, the accuracy on all test clips,
on the "motion-only" classes and on the scene classes, from results/<dataset>/split1/i3d-<stream>-scratch/.

    python benchmarks/scene_breakdown.py [--results results]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from i3d.standin.synthetic import CLASSES, has_scene


def breakdown(results: Path, dataset: str) -> list[tuple[str, float, float, float, int]]:
    """(stream, top-1 all, motion-only, scene classes, motion-only clips) for rgb, flow and their mean logits."""
    manifest = pd.read_csv(results / dataset / "manifest.csv")
    names = dict(zip(manifest.label_index, manifest.label))
    order = [name for name, _ in CLASSES[dataset]]
    logits, labels = {}, None
    for stream in ("rgb", "flow"):
        with h5py.File(results / dataset / "split1" / f"i3d-{stream}-scratch" / "predictions.h5", "r") as f:
            logits[stream], labels = f["logits"][:], f["label"][:]
    logits["rgb+flow"] = (logits["rgb"] + logits["flow"]) / 2
    scene = np.array([has_scene(order.index(names[label])) for label in labels])
    rows = []
    for stream, lg in logits.items():
        hit = lg.argmax(1) == labels
        rows.append((stream, 100 * hit.mean(), 100 * hit[~scene].mean(), 100 * hit[scene].mean(), int((~scene).sum())))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results", type=Path)
    args = p.parse_args()
    print("| dataset | stream | all | motion-only classes | scene classes |\n| --- | --- | --- | --- | --- |")
    for dataset in ("ucf101", "hmdb51", "kinetics400"):
        for stream, top1, motion, scene, n in breakdown(args.results, dataset):
            print(f"| {dataset} | {stream} | {top1:.1f} | {motion:.1f} (of {n} clips) | {scene:.1f} |")


if __name__ == "__main__":
    main()
