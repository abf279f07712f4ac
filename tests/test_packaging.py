"""Packaging: pyproject and environment.yml list the same dependencies; the CLI answers --help; a non-editable
install works without the source tree."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
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


@pytest.mark.slow  # a venv and a package build (5-30 s); .ci/run runs it
def test_a_non_editable_install_validates_the_config(tmp_path):
    """`pip install .` (no source tree beside it) ships the schema: `i3d config` validates from the install."""
    source = tmp_path / "source"
    shutil.copytree(REPO / "i3d", source / "i3d", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    venv = tmp_path / "venv"
    # without its own pip (and, on 3.11, an old bundled setuptools): the system's build tools install into it
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(source)],
                   check=True, capture_output=True)
    shutil.rmtree(source)  # nothing may be read from the source tree
    installed = subprocess.run([python, "-c", "import i3d; print(i3d.__file__)"], cwd=tmp_path, check=True,
                               capture_output=True, text=True).stdout
    assert installed.startswith(str(venv)), installed
    out = subprocess.run([venv / "bin" / "i3d", "config", str(REPO / "config" / "config.yaml")], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0 and "valid" in out.stdout, out.stderr
