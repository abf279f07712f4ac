"""Rules' code fingerprints: what a stage runs counts, comments and docstrings and other stages' code do not.

Each case edits a copy of the package and fingerprints it in a fresh interpreter (the fingerprints read the
sources of the ``i3d`` that is imported).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGES = {"acquire": ("_acquire", None), "frames": ("_frames", None), "flow": ("_flow", None),
          "train-c3d": ("_train", "c3d"), "train-i3d": ("_train", "i3d"), "predict-c3d": ("_predict", "c3d"),
          "predict-i3d": ("_predict", "i3d"), "table1": ("_table1", None), "table2": ("_table2", None)}


def fingerprints(root: Path) -> dict[str, str]:
    code = ("import json, sys; from i3d.stage_fingerprint import stage_fingerprint; "
            "print(json.dumps({k: stage_fingerprint(*v) for k, v in json.loads(sys.argv[1]).items()}))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(STAGES)], cwd=root, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(root)}, check=True)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> dict[str, str]:
    return fingerprints(copy_package(tmp_path_factory.mktemp("original")))


def copy_package(root: Path) -> Path:
    shutil.copytree(REPO / "i3d", root / "i3d", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / "i3d" / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


def append_statement(root: Path, rel: str) -> None:
    path = root / "i3d" / rel
    path.write_text(path.read_text() + "\nEDITED = True\n")


def changed_stages(original: dict[str, str], root: Path) -> set[str]:
    now = fingerprints(root)
    return {stage for stage in STAGES if now[stage] != original[stage]}


def test_comments_and_docstrings_do_not_count(original, tmp_path):
    root = copy_package(tmp_path)
    edit(root, "data/video.py", '"""', '"""A reworded docstring. ')
    edit(root, "models/c3d.py", "\nimport", "\n# a new comment\nimport")
    edit(root, "cli/train.py", "def _train(args: argparse.Namespace) -> None:\n",
         "def _train(args: argparse.Namespace) -> None:\n    # say why\n")
    assert changed_stages(original, root) == set()


def test_a_c3d_statement_changes_c3d_jobs_not_i3d_ones(original, tmp_path):
    root = copy_package(tmp_path)
    append_statement(root, "models/c3d.py")
    assert changed_stages(original, root) == {"train-c3d", "predict-c3d", "table1", "table2"}


def test_a_video_statement_reruns_the_stages_that_decode(original, tmp_path):
    root = copy_package(tmp_path)
    append_statement(root, "data/video.py")
    assert changed_stages(original, root) == {"acquire", "frames"}


@pytest.mark.parametrize("rel, old, new, expected", [
    ("cli/train.py", "    manifest = pd.read_csv(args.manifest)\n", "    manifest = pd.read_csv(args.manifest, sep=',')\n",
     {"train-c3d", "train-i3d"}),
    ("cli/flow.py", 'p.add_argument("--bound", type=float, default=20.0,',
     'p.add_argument("--bound", type=float, default=10.0,', {"flow"}),
    ("cli/__init__.py", "    args = build_parser().parse_args(argv)\n",
     "    args = build_parser().parse_args(argv or None)\n", set(STAGES)),
    ("cli/common.py", "values[0].isdigit() else values\n", "values[0].isdigit() else list(values)\n", {"acquire"}),
    ("cli/download.py", 'getattr(args, "version", "400"))', 'getattr(args, "version", "600"))', set()),
], ids=["train-handler", "flow-parser", "main", "helper-of-another-module", "other-module"])
def test_cli_edits_count_for_the_stages_that_run_them(original, tmp_path, rel, old, new, expected):
    root = copy_package(tmp_path)
    edit(root, rel, old, new)
    assert changed_stages(original, root) == expected


def test_a_builder_without_readable_source_leaves_no_model_out(monkeypatch):
    """A partial of a builder function is read through; a callable whose source is unknown makes every job count
    every model module (never too few)."""
    import functools
    from dataclasses import replace

    from i3d.models import registry
    from i3d.stage_fingerprint import other_architectures_modules

    before = other_architectures_modules("i3d", ["i3d.train.loop"])
    c3d = registry.ARCHITECTURES["c3d"]
    monkeypatch.setitem(registry.ARCHITECTURES, "c3d", replace(c3d, builder=functools.partial(c3d.builder)))
    assert other_architectures_modules("i3d", ["i3d.train.loop"]) == before
    assert "i3d.models.c3d" in before
    monkeypatch.setitem(registry.ARCHITECTURES, "c3d", replace(c3d, builder=type("Builder", (), {"__call__": None})()))
    assert other_architectures_modules("i3d", ["i3d.train.loop"]) == frozenset()
