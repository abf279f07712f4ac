"""How long Snakemake takes to plan the full-scale real-data run (config/paper.yaml), with Kinetics-400's full
annotation lists on disk (246,534 train + 19,906 val + 39,805 labelled test rows, generated here in the real CSV
format).

The DAG is static (shard and part counts come from the config), so planning must not grow with the number of
clips; the default stand-in run's dry run, timed in the same process, is the baseline.

    python benchmarks/dry_run.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import random
import re
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAIN_ROWS, VAL_ROWS, TEST_ROWS, CLASSES = 246_534, 19_906, 39_805, 400


def write_kinetics_csvs(root: Path, seed: int = 0) -> None:
    """Kinetics-400-sized ``annotations/train.csv``, ``validate.csv`` (label,youtube_id,time_start,time_end,split,
    is_cc) and the labelled ``test.csv`` (CVDF's since 2021, without is_cc)."""
    rng = random.Random(seed)
    labels = [f"class {k:03d}" for k in range(CLASSES)]
    chars = string.ascii_letters + string.digits + "-_"
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for name, rows, split in (("train.csv", TRAIN_ROWS, "train"), ("validate.csv", VAL_ROWS, "val"),
                              ("test.csv", TEST_ROWS, "test")):
        lines = ["label,youtube_id,time_start,time_end,split" + (",is_cc" if split != "test" else "")]
        for i in range(rows):
            start = rng.randrange(0, 600)
            youtube_id = "".join(rng.choice(chars) for _ in range(11))
            lines.append(f'"{labels[i % CLASSES]}",{youtube_id},{start},{start + 10},{split}'
                         + (",0" if split != "test" else ""))
        (root / "annotations" / name).write_text("\n".join(lines) + "\n")


def project_copy(dst: Path) -> Path:
    for part in ("workflow", "config"):
        shutil.copytree(REPO / part, dst / part)
    return dst


def dry_run(project: Path, *args: str) -> tuple[float, int]:
    """Seconds and planned job count of ``snakemake -n`` in ``project``."""
    tic = time.perf_counter()
    out = subprocess.run(["snakemake", "-n", "--cores", "all", "--config", "gpus=0", *args], cwd=project,
                         capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - tic
    if out.returncode != 0:
        sys.exit(f"dry run failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    total = re.search(r"^total\s+(\d+)", out.stdout, re.M)
    return seconds, int(total.group(1)) if total else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = project_copy(Path(tmp))
        tic = time.perf_counter()
        write_kinetics_csvs(project / "resources" / "kinetics400")
        print(f"# wrote {TRAIN_ROWS:,} + {VAL_ROWS:,} + {TEST_ROWS:,} Kinetics-400 rows in "
              f"{time.perf_counter() - tic:.1f} s")
        runs = {"default config (stand-ins)": (), "config/paper.yaml, full Kinetics lists": (
            "--configfile", "config/paper.yaml")}
        results = {}
        for name, extra in runs.items():
            times = [dry_run(project, *extra) for _ in range(args.repeats)]
            results[name] = (min(t for t, _ in times), times[0][1])
        base = results["default config (stand-ins)"][0]
        print("| dry run | jobs | best of {} (s) | × default |".format(args.repeats))
        print("|---|---|---|---|")
        for name, (seconds, jobs) in results.items():
            print(f"| {name} | {jobs} | {seconds:.1f} | {seconds / base:.2f} |")


if __name__ == "__main__":
    main()
