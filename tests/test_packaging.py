"""Packaging: pyproject and environment.yml list the same dependencies; the CLI answers --help."""
from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    listed = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            listed |= {_name(r) for r in dep["pip"]}
        elif _name(dep) not in ("python", "pip"):
            listed.add(CONDA_TO_PYPI.get(_name(dep), _name(dep)))
    assert listed == wanted


def test_cli_help_lists_the_stages():
    out = subprocess.run(["i3d", "--help"], capture_output=True, text=True, check=True).stdout
    for stage in ("data", "flow", "train", "predict", "tables", "config"):
        assert stage in out
