"""Table assembly: accuracies from prediction files, stream fusion, the paper's numbers beside ours."""
from __future__ import annotations

from dataclasses import asdict

import h5py
import numpy as np
import pandas as pd

from i3d.data.shards import ShardWriter, encode_jpeg
from i3d.evaluate.predict import predict, write_predictions
from i3d.models import build
from i3d.tables.assemble import paper_numbers, write_table2
from i3d.train.checkpoints import save_atomic
from i3d.train.loop import TrainConfig


def _predictions(path, stream, logits, labels, ids, arch="i3d", epochs=28, dataset="ucf101", split=1, **attrs):
    write_predictions(path, ids, np.array(labels), np.array(logits, dtype=np.float32),
                      dict(arch=arch, stream=stream, split=split, dataset=dataset, init="scratch", data="stand-in",
                           epochs=epochs, **attrs))


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
    measured_on = paper_numbers("table2").groupby(["dataset", "split"]).paper_test_set.unique().map(list)
    assert measured_on.to_dict() == {("hmdb51", 1): ["split 1 test"], ("kinetics400", 1): ["held-out test"],
                                     ("ucf101", 1): ["split 1 test"]}


def test_two_stream_rgb_flow_is_its_joint_network_and_i3d_averages_its_streams(tmp_path):
    labels = [0, 1]
    rgb, flow = [[2, 0], [1, 0]], [[0, 1], [0, 3]]  # averaged: both right (100%); each stream alone: 50%
    for arch in ("two_stream", "i3d"):
        _predictions(tmp_path / f"{arch}-rgb.h5", "rgb", rgb, labels, ["a", "b"], arch=arch)
        _predictions(tmp_path / f"{arch}-flow.h5", "flow", flow, labels, ["a", "b"], arch=arch)
    _predictions(tmp_path / "two_stream-joint.h5", "rgb+flow", [[0, 1], [1, 0], [1, 0]], [0, 1, 0], ["a", "b", "c"],
                 arch="two_stream")  # the joint network's own file: 1 of 3 right
    df = write_table2(sorted(tmp_path.glob("*.h5")), tmp_path / "table2")
    fused = df[df.stream == "rgb+flow"].set_index("architecture")
    assert sorted(fused.index) == ["i3d", "two_stream"]  # one RGB+Flow row each
    assert fused.loc["two_stream", "top1"] == 33.3 and fused.loc["two_stream", "test_clips"] == 3
    assert fused.loc["i3d", "top1"] == 100.0 and fused.loc["i3d", "test_clips"] == 2
    md = (tmp_path / "table2.md").read_text()
    assert ("Two-Stream (`two_stream`): one network trained end to end on both inputs with one loss, averaging "
            "the two streams' logits") in md
    assert "Two-Stream I3D (`i3d`): RGB and Flow networks trained separately, averaging the two streams' logits " \
           "at test" in md


def test_paper_numbers_only_beside_split_1(tmp_path):
    for split in (1, 2):
        _predictions(tmp_path / f"split{split}.h5", "rgb", [[2, 0], [2, 0]], [0, 1], ["a", "b"], split=split)
    df = write_table2([tmp_path / "split1.h5", tmp_path / "split2.h5"], tmp_path / "table2")
    paper = df.set_index("split").paper_top1
    assert paper[1] == 84.5 and np.isnan(paper[2])
    md = (tmp_path / "table2.md").read_text()
    assert "| i3d | 1 | scratch | stand-in | 50.0 (84.5) |" in md
    assert "| i3d | 2 | scratch | stand-in | 50.0 (–) |" in md and "split-1 rows only" in md


def test_kinetics_says_ours_is_validation_and_marks_the_papers_test_set(tmp_path):
    _predictions(tmp_path / "kin.h5", "rgb", [[2, 0], [2, 0]], [0, 1], ["a", "b"], dataset="kinetics400")
    _predictions(tmp_path / "ucf.h5", "rgb", [[2, 0], [2, 0]], [0, 1], ["a", "b"])
    df = write_table2([tmp_path / "kin.h5", tmp_path / "ucf.h5"], tmp_path / "table2")
    sets = df.set_index("dataset")[["test_set", "paper_test_set"]].T.to_dict("list")
    assert sets == {"kinetics400": ["validation", "held-out test"], "ucf101": ["split 1 test", "split 1 test"]}
    md = (tmp_path / "table2.md").read_text()
    assert "50.0 (71.1†)" in md and "50.0 (84.5)" in md
    assert ("† Kinetics-400: ours is on the validation set, which plays the test split because this run's test "
            "list has no labels") in md and "the paper's is on the held-out test set" in md


def test_kinetics_on_its_labelled_test_list_is_beside_the_papers_without_a_dagger(tmp_path):
    """A predictions file scored on Kinetics' labelled test list (``test_set`` attribute, written by predict)."""
    _predictions(tmp_path / "kin.h5", "rgb", [[2, 0], [2, 0]], [0, 1], ["a", "b"], dataset="kinetics400",
                 test_set="held-out test", listed_clips=3)
    df = write_table2([tmp_path / "kin.h5"], tmp_path / "table2")
    assert df.set_index("dataset").loc["kinetics400", ["test_set", "paper_test_set"]].tolist() == [
        "held-out test", "held-out test"]
    md = (tmp_path / "table2.md").read_text()
    assert "50.0 (71.1)" in md and "†" not in md
    assert "Kinetics-400: ours and the paper's are both on the held-out test set" in md
    assert "Kinetics-400 held-out test: 2 of 3 listed" in md


def test_markdown_states_test_clips_used_of_those_listed(tmp_path):
    _predictions(tmp_path / "rgb.h5", "rgb", [[2, 0]] * 3, [0, 1, 0], ["a", "b", "c"], listed_clips=5)
    _predictions(tmp_path / "flow.h5", "flow", [[2, 0]] * 2, [0, 1], ["a", "b"], listed_clips=5)
    _predictions(tmp_path / "hmdb.h5", "rgb", [[2, 0]] * 4, [0, 1, 0, 1], list("abcd"), dataset="hmdb51", split=2,
                 listed_clips=4)
    _predictions(tmp_path / "kin.h5", "rgb", [[2, 0]], [0], ["a"], dataset="kinetics400")  # from before the attr
    df = write_table2(sorted(tmp_path.glob("*.h5")), tmp_path / "table2")
    assert df.set_index(["dataset", "stream"]).listed_clips.to_dict() == {
        ("hmdb51", "rgb"): 4, ("kinetics400", "rgb"): 0, ("ucf101", "rgb"): 5, ("ucf101", "flow"): 5,
        ("ucf101", "rgb+flow"): 5}
    md = (tmp_path / "table2.md").read_text()
    assert ("UCF-101 split 1 test: 2–3 (by stream) of 5 listed; HMDB-51 split 2 test: 4 of 4 listed; "
            "Kinetics-400 validation: 1 of an unrecorded number listed.") in md


def test_predictions_record_how_many_test_clips_the_split_lists(tmp_path):
    """A listed test clip that never reached the shards (failed to decode) still counts as listed."""
    rgb = ShardWriter(tmp_path / "rgb.h5", "rgb")
    for clip_id in ("a", "b"):
        rgb.add_clip(clip_id, 0, [encode_jpeg(np.full((32, 40, 3), 90, dtype=np.uint8))] * 3, 25.0, 32, 40)
    rgb.close()
    pd.DataFrame({"clip_id": ["a", "b", "broken", "t", "u"], "label_index": [0, 1, 0, 1, 0],
                  "split1": ["test", "test", "test", "train", "none"]}).to_csv(tmp_path / "manifest.csv", index=False)
    cfg = TrainConfig(arch="two_stream", stream="rgb", num_classes=2, epochs=1)
    save_atomic(dict(config=asdict(cfg), model=build("two_stream", 2, "rgb").state_dict()), tmp_path / "model.pt")
    predict(tmp_path / "model.pt", tmp_path / "manifest.csv", {"rgb": [tmp_path / "rgb.h5"]}, 1,
            tmp_path / "predictions.h5", crop_size=32, progress=False)
    with h5py.File(tmp_path / "predictions.h5") as f:
        assert len(f["clip_id"]) == 2 and f.attrs["listed_clips"] == 3


def test_lstm_kinetics_rgb_is_marked_uncertain_where_shown(tmp_path):
    """The sources disagree on it (63.3 / 63.6): "?" on the cell and the reason in the caption, only when the
    table shows that cell."""
    assert paper_numbers("table2").paper_uncertain.notna().sum() == 1
    _predictions(tmp_path / "lstm.h5", "rgb", [[2, 0]], [0], ["a"], arch="lstm", dataset="kinetics400")
    df = write_table2([tmp_path / "lstm.h5"], tmp_path / "table2")
    md = (tmp_path / "table2.md").read_text()
    assert "(63.3?†)" in md and "63.6 in the bilingual v3 transcription" in md
    assert isinstance(df.paper_uncertain.iloc[0], str)
    _predictions(tmp_path / "ucf.h5", "rgb", [[2, 0]], [0], ["a"], arch="lstm")
    write_table2([tmp_path / "ucf.h5"], tmp_path / "ucf")
    md = (tmp_path / "ucf.md").read_text()
    assert "(81.0)" in md and "?)" not in md and "uncertain" not in md
