"""Captions state the settings of ours that change numbers against the paper's (issue 26), each only when it
applies to the table's runs: dropout other than 0.5, the validation hold-out, the Fixed probe's definition, the
3D-ConvNet's resize, a real-data schedule other than the paper's plateau cuts."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from i3d.evaluate.predict import model_attrs, write_predictions
from i3d.tables.assemble import write_table2
from i3d.tables.table4 import write_table4
from i3d.train.loop import TrainConfig


def predictions(path: Path, **attrs) -> Path:
    """A two-clip predictions file of a stand-in I3D RGB on UCF-101 split 1 (attrs override)."""
    write_predictions(path, ["a", "b"], np.array([0, 1]), np.array([[2, 0], [0, 2]], dtype=np.float32),
                      {"arch": "i3d", "stream": "rgb", "split": 1, "dataset": "ucf101", "init": "scratch",
                       "data": "stand-in", "epochs": 10, "input_size": 48, **attrs})
    return path


def table2_md(tmp_path: Path, **attrs) -> str:
    write_table2([predictions(tmp_path / "p.h5", **attrs)], tmp_path / "table2")
    return (tmp_path / "table2.md").read_text()


def table4_md(tmp_path: Path, *files: Path) -> str:
    write_table4(list(files), tmp_path / "table4")
    return (tmp_path / "table4.md").read_text()


def test_predictions_record_what_the_captions_state():
    attrs = model_attrs(asdict(TrainConfig(dropout=0.0, val_fraction=0.1, schedule="plateau")), 48)
    assert (attrs["dropout"], attrs["val_fraction"], attrs["schedule"]) == (0.0, 0.1, "plateau")


@pytest.mark.parametrize("attrs, stated", [(dict(dropout=0.0), True), (dict(dropout=0.5), False), ({}, False)])
def test_dropout_is_stated_when_not_the_papers(tmp_path, attrs, stated):
    md = table2_md(tmp_path, **attrs)
    assert ("**Dropout:** these models trained with dropout 0 before the logits layer" in md) == stated
    assert ("the paper's with 0.5" in md) == stated


@pytest.mark.parametrize("attrs, stated", [(dict(val_fraction=0.1), True), (dict(val_fraction=0.0), False),
                                           ({}, False)])
def test_validation_hold_out_is_stated_when_clips_were_held_out(tmp_path, attrs, stated):
    md = table2_md(tmp_path, **attrs)
    assert ("**Validation hold-out:** 10% of each class's training clips" in md) == stated


def test_probe_definition_is_stated_when_table4_has_fixed_rows(tmp_path):
    original = predictions(tmp_path / "original.h5")
    assert "Fixed, ours" not in table4_md(tmp_path, original)
    fixed = predictions(tmp_path / "fixed.h5", protocol="fixed")
    md = table4_md(tmp_path, original, fixed)
    assert ("**Fixed, ours:** multinomial logistic regression on the frozen Kinetics model's clip-averaged "
            "features, standardised") in md
    assert "L-BFGS" in md and "the paper trains the network's last layer" in md


def test_c3d_resize_is_stated_when_a_c3d_is_in_the_table(tmp_path):
    assert "3D-ConvNet input" not in table2_md(tmp_path)
    md = table2_md(tmp_path, arch="c3d", input_size=24)
    assert "**3D-ConvNet input:**" in md and "(48→24 px; 224→112 at the paper's size)" in md
    c3d = predictions(tmp_path / "c3d.h5", arch="c3d", input_size=112, data="real")
    assert "(224→112 px; 224→112 at the paper's size)" in table4_md(tmp_path, c3d)


@pytest.mark.parametrize("attrs, stated", [(dict(data="real", schedule="cosine"), True),
                                           (dict(data="real", schedule="plateau"), False),
                                           (dict(data="stand-in", schedule="cosine"), False),
                                           (dict(data="real"), False)])
def test_real_data_schedule_is_stated_when_not_the_papers(tmp_path, attrs, stated):
    md = table2_md(tmp_path, **attrs)
    assert ("**Schedule:** these real-data models trained with cosine decay" in md) == stated
    fixed = predictions(tmp_path / "fixed.h5", protocol="fixed", **attrs)
    assert ("**Schedule:**" in table4_md(tmp_path, fixed)) == stated
