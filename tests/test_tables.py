"""Table assembly: accuracies from prediction files, stream fusion, the paper's numbers beside ours."""
from __future__ import annotations

import numpy as np
import pandas as pd

from i3d.evaluate.predict import write_predictions
from i3d.tables.assemble import paper_numbers, write_table2


def _predictions(path, stream, logits, labels, ids, arch="i3d", epochs=28):
    write_predictions(path, ids, np.array(labels), np.array(logits, dtype=np.float32),
                      dict(arch=arch, stream=stream, split=1, dataset="ucf101", init="scratch", data="stand-in",
                           epochs=epochs))


def test_rgb_flow_fusion_averages_logits_on_common_clips(tmp_path):
    labels = [0, 1, 1]
    # rgb right on clip a only; flow right on b only; averaged they get a and b right, c (flow only) is dropped
    _predictions(tmp_path / "rgb.h5", "rgb", [[2, 0], [1, 0], [0, 1]], labels, ["a", "b", "c"])
    _predictions(tmp_path / "flow.h5", "flow", [[0, 1], [0, 3]], labels[:2], ["a", "b"])
    df = write_table2([tmp_path / "rgb.h5", tmp_path / "flow.h5"], tmp_path / "table2")
    top1 = df.set_index("stream").top1
    assert top1["rgb"] == 66.7 and top1["flow"] == 50.0 and top1["rgb+flow"] == 100.0
    assert df.set_index("stream").loc["rgb+flow", "test_clips"] == 2
    assert df.set_index("stream").loc["rgb+flow", "paper_top1"] == 93.4
    assert (df.chance == 50.0).all()
    tidy = pd.read_csv(tmp_path / "table2.csv")
    assert {"architecture", "dataset", "split", "stream", "top1", "paper_top1", "data"} <= set(tidy.columns)
    md = (tmp_path / "table2.md").read_text()
    assert "66.7 (84.5)" in md and "Stand-in data" in md
    assert "Training schedules differ" not in md  # one architecture, one schedule


def test_caption_names_shorter_schedules(tmp_path):
    _predictions(tmp_path / "i3d.h5", "rgb", [[2, 0]], [0], ["a"])
    _predictions(tmp_path / "c3d.h5", "rgb", [[2, 0]], [0], ["a"], arch="c3d", epochs=7)
    df = write_table2([tmp_path / "i3d.h5", tmp_path / "c3d.h5"], tmp_path / "table2")
    assert df.set_index("architecture").epochs.to_dict() == {"c3d": 7, "i3d": 28}
    assert "epochs per architecture (UCF-101: c3d 7, i3d 28)" in (tmp_path / "table2.md").read_text()


def test_paper_numbers_carry_table2():
    paper = paper_numbers("table2").set_index(["architecture", "dataset", "stream"]).paper_top1
    assert paper["i3d", "kinetics400", "rgb+flow"] == 74.2 and paper["two_stream", "hmdb51", "flow"] == 56.3
    assert len(paper) == 31  # 9 cells for each two-stream model, 7 for 3D-Fused, 3 for LSTM and C3D
