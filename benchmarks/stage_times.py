"""Where the time of a workflow run went: Snakemake's benchmark files summed per stage (:mod:`i3d.report.stage_times`).

Usage (after `snakemake --cores all results/table2.md`):  python benchmarks/stage_times.py [results/benchmarks]
Prints, per rule, the number of jobs, the summed job seconds and the share of the total; with --cores 2 two
jobs overlap, so the wall time is shorter than the sum.
"""
from __future__ import annotations

import sys

from i3d.report.stage_times import stage_times


def main(root: str = "results/benchmarks") -> None:
    df = stage_times(root)
    if df.empty:
        sys.exit(f"no benchmark files under {root}: run the workflow first")
    print(df.set_index("stage").round(1).to_string())
    print(f"total job seconds: {df['job_seconds'].sum():.0f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
