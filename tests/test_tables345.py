"""Tables 3, 4, 5 and the index: every cell from hand-computable logits, stream fusion, top-5, means over splits,
stand-in marks, the paper's columns, missing cells, and Table 2 unchanged by the refactor behind them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from i3d.evaluate.predict import write_predictions
from i3d.tables.assemble import write_table2
from i3d.tables.index import write_index
from i3d.tables.paper import paper_numbers
from i3d.tables.runs import read_runs, scored_rows, topk_accuracy
from i3d.tables.table3 import write_table3
from i3d.tables.table4 import write_table4
from i3d.tables.table5 import model_name, write_table5

CLASSES = 10


def _predictions(path: Path, stream: str, logits, labels, ids=None, **attrs) -> Path:
    """A predictions file in predict's format (``write_predictions``); attrs default to a stand-in I3D on UCF-101."""
    ids = ids or [f"clip{i}" for i in range(len(labels))]
    write_predictions(path, ids, np.array(labels), np.array(logits, dtype=np.float32),
                      {"arch": "i3d", "stream": stream, "split": 1, "dataset": "ucf101", "init": "scratch",
                       "data": "stand-in", "epochs": 28, **attrs})
    return path


def _ranked(*orders: list[int]) -> np.ndarray:
    """One logits row per clip: the classes of its order get scores 10, 9, ...; the rest 0."""
    rows = np.zeros((len(orders), CLASSES))
    for row, order in zip(rows, orders):
        row[order] = 10 - np.arange(len(order))
    return rows


def _guesses(labels: list[int], right: str) -> np.ndarray:
    """Clip ``i`` scores 3 on its label if ``right[i] == "y"``, else 2 on the next class. Two such streams
    averaged are right where either is (3 beats 2), wrong where both are wrong."""
    rows = np.zeros((len(labels), CLASSES))
    for row, label, ok in zip(rows, labels, right):
        if ok == "y":
            row[label] = 3
        else:
            row[(label + 1) % CLASSES] = 2
    return rows


def _row(md: str, start: str) -> str:
    """The markdown table line beginning with ``start``."""
    [line] = [line for line in md.splitlines() if line.startswith(start)]
    return line


LABELS = [0, 1, 2, 3]


def test_topk_accuracy_by_hand():
    logits = _ranked([0], [7, 1], [4, 5, 6, 7, 8, 2], [3])  # right; 2nd; 6th; right
    labels = np.array([0, 1, 2, 3])
    assert topk_accuracy(labels, logits) == 50.0
    assert topk_accuracy(labels, logits, 5) == 75.0
    assert topk_accuracy(np.array([1]), np.zeros((1, CLASSES))) == 0.0  # a tie goes to the lower class, as argmax


def test_attributes_contract(tmp_path):
    old = _predictions(tmp_path / "old.h5", "rgb", _guesses(LABELS, "yyyy"), LABELS)
    ft = _predictions(tmp_path / "ft.h5", "rgb", _guesses(LABELS, "yyyy"), LABELS, protocol="fullft", init="imagenet")
    probe = _predictions(tmp_path / "probe.h5", "rgb", _guesses(LABELS, "yyyy"), LABELS, protocol="fixed",
                         init="imagenet", imagenet_source="stand-in")
    settings = [run.setting for run in read_runs([old, ft, probe])]
    assert [(s.protocol, s.init, s.imagenet_source) for s in settings] == [
        ("original", "scratch", "none"), ("fullft", "imagenet", "torchvision"), ("fixed", "imagenet", "stand-in")]
    bad = _predictions(tmp_path / "bad.h5", "rgb", _guesses(LABELS, "yyyy"), LABELS, protocol="finetune")
    with pytest.raises(ValueError, match="protocol='finetune'"):
        read_runs([bad])


def test_streams_fuse_only_within_one_setting(tmp_path):
    """RGB of one protocol (or ImageNet source) is never averaged with Flow of another."""
    _predictions(tmp_path / "rgb.h5", "rgb", _guesses(LABELS, "yynn"), LABELS, protocol="fullft")
    _predictions(tmp_path / "flow.h5", "flow", _guesses(LABELS, "nnyy"), LABELS, protocol="fixed")
    _predictions(tmp_path / "rgb-in.h5", "rgb", _guesses(LABELS, "yynn"), LABELS, init="imagenet",
                 imagenet_source="stand-in")
    _predictions(tmp_path / "flow-in.h5", "flow", _guesses(LABELS, "nnyy"), LABELS, init="imagenet")
    df = scored_rows(read_runs(sorted(tmp_path.glob("*.h5"))))
    assert len(df) == 4 and "rgb+flow" not in set(df.stream)


def test_table3_cells_top5_fusion_and_marks(tmp_path):
    labels = [0, 1, 2, 3, 4]
    # RGB: right, right, 2nd, 6th, right (clip e only in RGB) -> top-1 3/5, top-5 4/5
    rgb = _ranked([0], [1], [5, 2], [4, 5, 6, 7, 8, 3], [4])
    # Flow: right, 2nd, right, 6th -> top-1 2/4, top-5 3/4
    flow = _ranked([0], [7, 1], [2], [4, 5, 6, 7, 8, 3])
    # averaged on a-d: a right; b 1 gets 10+9 > 7's 10; c 2 gets 9+10 > 5's 10; d as both: 6th -> 3/4 and 3/4
    kin = {"dataset": "kinetics400", "listed_clips": 6}
    _predictions(tmp_path / "rgb.h5", "rgb", rgb, labels, list("abcde"), **kin)
    _predictions(tmp_path / "flow.h5", "flow", flow, labels[:4], list("abcd"), **kin)
    _predictions(tmp_path / "rgb-in.h5", "rgb", _ranked(*[[c] for c in labels]), labels, list("abcde"),
                 init="imagenet", imagenet_source="stand-in", **kin)
    _predictions(tmp_path / "ucf.h5", "rgb", rgb, labels)  # another table's
    _predictions(tmp_path / "ft.h5", "rgb", rgb, labels, dataset="kinetics400", protocol="fullft")  # not Kinetics'
    df = write_table3(sorted(tmp_path.glob("*.h5")), tmp_path / "table3")
    ours = df[df.top1.notna()].set_index(["stream", "init"])
    assert ours[["top1", "top5", "test_clips"]].to_dict("index") == {
        ("rgb", "imagenet"): {"top1": 100.0, "top5": 100.0, "test_clips": 5},
        ("rgb", "scratch"): {"top1": 60.0, "top5": 80.0, "test_clips": 5},
        ("flow", "scratch"): {"top1": 50.0, "top5": 75.0, "test_clips": 4},
        ("rgb+flow", "scratch"): {"top1": 75.0, "top5": 75.0, "test_clips": 4}}
    assert ours.loc[("rgb", "imagenet"), "imagenet_source"] == "stand-in"
    assert ours.loc[("rgb+flow", "scratch"), ["paper_top1", "paper_top5"]].tolist() == [71.6, 90.0]
    assert len(df) == 17 and df.paper_top1.notna().all()  # every paper cell, ours or not
    assert pd.read_csv(tmp_path / "table3.csv").shape == df.shape
    md = (tmp_path / "table3.md").read_text()
    assert _row(md, "| i3d |") == ("| i3d | stand-in | 60.0 / 80.0 (68.4 / 88.0†) | 50.0 / 75.0 (61.5 / 83.4†) | "
                                   "75.0 / 75.0 (71.6 / 90.0†) | 100.0 / 100.0‡ (71.1 / 89.3†) | – (63.4 / 84.9†) | "
                                   "– (74.2 / 91.3†) |")
    assert _row(md, "| lstm |") == "| lstm | – | – (53.9†) | – | – | – (63.3†) | – | – |"
    assert _row(md, "| c3d |") == "| c3d | – | – (56.1†) | – | – | – | – | – |"
    assert "† Kinetics-400: ours is on the validation set, which plays the test split" in md
    assert "‡ **Stand-in ImageNet:**" in md and "**Stand-in data:**" in md and "None run" not in md
    assert "Two-Stream I3D (`i3d`): RGB and Flow networks trained separately, averaging" in md
    assert "Kinetics-400 validation: 4–5 (by stream) of 6 listed." in md
    assert "Chance level: Kinetics-400 10.0% (10 classes)." in md


def test_table3_without_runs_shows_the_paper(tmp_path):
    df = write_table3([], tmp_path / "table3")
    assert df.top1.isna().all() and len(df) == 17
    md = (tmp_path / "table3.md").read_text()
    assert "**None run:** this run's configuration asked for no Kinetics models" in md
    assert _row(md, "| i3d |") == ("| i3d | – | – (68.4 / 88.0†) | – (61.5 / 83.4†) | – (71.6 / 90.0†) | "
                                   "– (71.1 / 89.3†) | – (63.4 / 84.9†) | – (74.2 / 91.3†) |")
    assert "† Kinetics-400: ours is on the validation set" in md and "Test clips used" not in md


def test_table4_protocols_with_and_without_imagenet(tmp_path):
    _predictions(tmp_path / "rgb.h5", "rgb", _guesses(LABELS, "ynny"), LABELS, listed_clips=5)  # 50
    _predictions(tmp_path / "flow.h5", "flow", _guesses(LABELS, "yyyn"), LABELS, listed_clips=5)  # 75; fused 100
    probe = {"protocol": "fixed", "init": "imagenet"}
    _predictions(tmp_path / "probe-rgb.h5", "rgb", _guesses(LABELS, "ynnn"), LABELS, **probe)  # 25
    _predictions(tmp_path / "probe-flow.h5", "flow", _guesses(LABELS, "nnnn"), LABELS, **probe)  # 0; fused 25
    _predictions(tmp_path / "c3d.h5", "rgb", _guesses(LABELS, "nnny"), LABELS, arch="c3d", dataset="hmdb51",
                 protocol="fullft")  # 25
    _predictions(tmp_path / "split2.h5", "rgb", _guesses(LABELS, "yyyy"), LABELS, split=2)  # Table 5's or none
    _predictions(tmp_path / "kin.h5", "rgb", _guesses(LABELS, "yyyy"), LABELS, dataset="kinetics400")
    df = write_table4(sorted(tmp_path.glob("*.h5")), tmp_path / "table4")
    ours = df[df.top1.notna()].set_index(["architecture", "stream", "protocol", "init"]).top1
    assert ours.to_dict() == {
        ("c3d", "rgb", "fullft", "scratch"): 25.0,
        ("i3d", "rgb", "original", "scratch"): 50.0, ("i3d", "rgb", "fixed", "imagenet"): 25.0,
        ("i3d", "flow", "original", "scratch"): 75.0, ("i3d", "flow", "fixed", "imagenet"): 0.0,
        ("i3d", "rgb+flow", "original", "scratch"): 100.0, ("i3d", "rgb+flow", "fixed", "imagenet"): 25.0}
    assert len(df) == 54 + 4  # every paper cell, and our RGB and Flow rows the paper has no number for
    md = (tmp_path / "table4.md").read_text()
    assert "| architecture | stream | data | UCF-101 Original | UCF-101 Fixed | UCF-101 Full-FT | HMDB-51 Original " \
           "| HMDB-51 Fixed | HMDB-51 Full-FT |" in md
    assert _row(md, "| i3d | rgb+flow |") == ("| i3d | rgb+flow | stand-in | – (93.4) / 100.0 (88.8) | "
                                              "25.0 (97.7) / – (97.4) | – (98.0) / – (97.6) | – (66.4) / – (62.2) | "
                                              "– (79.7) / – (78.6) | – (81.2) / – (81.3) |")
    assert _row(md, "| i3d | rgb |") == ("| i3d | rgb | stand-in | – / 50.0 (–) | 25.0 (–) / – | – / – | – / – | "
                                         "– / – | – / – |")
    assert _row(md, "| c3d | rgb |") == ("| c3d | rgb | stand-in | – / – (51.6) | – / – (76.0) | – / – (79.9) | "
                                         "– / – (24.3) | – / – (47.0) | – / 25.0 (49.4) |")
    assert _row(md, "| fused |") == ("| fused | rgb+flow | – | – (89.3) / – (69.5) | – (94.3) / – (89.8) | "
                                     "– (94.2) / – (91.5) | – (56.8) / – (37.3) | – (69.9) / – (64.6) | "
                                     "– (71.0) / – (66.5) |")
    assert "**Layout:** the paper (v3) gives one number per cell: RGB+Flow for the two-stream architectures" in md
    assert "**Fixed**: a softmax probe" in md and "Kinetics only" in md
    assert "UCF-101 split 1 test: 4 of 5 listed; HMDB-51 split 1 test: 4 of an unrecorded number listed." in md
    assert "†" not in md  # UCF-101 and HMDB-51: ours and the paper's on the same split


def test_table4_original_with_imagenet_filled_from_its_predictions(tmp_path):
    """I3D's Original from ImageNet (the workflow trains it beside the scratch one when transfer.kinetics_inits
    has both) fills the "with ImageNet" half of the Original cells; an architecture whose Original is from one
    start while its Fixed has both is named in the caption."""
    stand_in = {"init": "imagenet", "imagenet_source": "stand-in"}
    _predictions(tmp_path / "rgb.h5", "rgb", _guesses(LABELS, "ynny"), LABELS)  # 50
    _predictions(tmp_path / "flow.h5", "flow", _guesses(LABELS, "yyyn"), LABELS)  # 75; fused 100
    _predictions(tmp_path / "in-rgb.h5", "rgb", _guesses(LABELS, "ynnn"), LABELS, **stand_in)  # 25
    _predictions(tmp_path / "in-flow.h5", "flow", _guesses(LABELS, "nyyy"), LABELS, **stand_in)  # 75; fused 100
    for init in ("scratch", "imagenet"):
        _predictions(tmp_path / f"fixed-{init}.h5", "rgb", _guesses(LABELS, "yyyy"), LABELS, protocol="fixed",
                     init=init, **({"imagenet_source": "stand-in"} if init == "imagenet" else {}))
        _predictions(tmp_path / f"lstm-fixed-{init}.h5", "rgb", _guesses(LABELS, "yyyy"), LABELS, arch="lstm",
                     protocol="fixed", init=init)
    _predictions(tmp_path / "lstm.h5", "rgb", _guesses(LABELS, "ynnn"), LABELS, arch="lstm")
    write_table4(sorted(tmp_path.glob("*.h5")), tmp_path / "table4")
    md = (tmp_path / "table4.md").read_text()
    assert _row(md, "| i3d | rgb |").startswith(
        "| i3d | rgb | stand-in | 25.0‡ (–) / 50.0 (–) | 100.0‡ (–) / 100.0 (–) |")
    assert _row(md, "| i3d | flow |").startswith("| i3d | flow | stand-in | 75.0‡ (–) / 75.0 (–) |")
    assert _row(md, "| i3d | rgb+flow |").startswith("| i3d | rgb+flow | stand-in | 100.0‡ (93.4) / 100.0 (88.8) |")
    assert _row(md, "| lstm | rgb |").startswith("| lstm | rgb | stand-in | – (81.0) / 25.0 (54.2) |")
    assert "**Original from one start:** ConvNet+LSTM was trained" in md


def test_table4_without_runs_shows_the_paper(tmp_path):
    df = write_table4([_predictions(tmp_path / "kin.h5", "rgb", _guesses(LABELS, "y"), LABELS,
                                    dataset="kinetics400")], tmp_path / "table4")
    assert df.top1.isna().all()
    md = (tmp_path / "table4.md").read_text()
    assert "**None run:**" in md and "| i3d | rgb+flow | – | – (93.4) / – (88.8) |" in md


def test_table5_means_over_splits_fused_per_split(tmp_path):
    ft = {"protocol": "fullft"}
    for split, rgb, flow in ((1, "ynnn", "yyyy"), (2, "yynn", "yyyy"), (3, "yyyn", "yynn")):
        _predictions(tmp_path / f"rgb{split}.h5", "rgb", _guesses(LABELS, rgb), LABELS, split=split, **ft)
        _predictions(tmp_path / f"flow{split}.h5", "flow", _guesses(LABELS, flow), LABELS, split=split, **ft)
    _predictions(tmp_path / "hmdb.h5", "rgb", _guesses(LABELS, "yyyn"), LABELS, dataset="hmdb51", init="imagenet",
                 imagenet_source="stand-in", **ft)
    _predictions(tmp_path / "original.h5", "rgb", _guesses(LABELS, "yyyy"), LABELS)  # not fine-tuned: not here
    df = write_table5(sorted(tmp_path.glob("*.h5")), tmp_path / "table5")
    ours = df[df.top1.notna()].set_index(["dataset", "model"])
    # RGB 25, 50, 75; Flow 100, 100, 50; RGB+Flow right where either is: 100, 100, 75
    measured = ours[["top1", "top1_split1", "top1_split2", "top1_split3", "splits"]].fillna(-1)  # -1: split not run
    assert measured.to_dict("index") == {
        ("ucf101", "RGB-I3D, Kinetics only"): {"top1": 50.0, "top1_split1": 25.0, "top1_split2": 50.0,
                                                   "top1_split3": 75.0,
                                                   "splits": "1, 2, 3"},
        ("ucf101", "Flow-I3D, Kinetics only"): {"top1": 83.3, "top1_split1": 100.0, "top1_split2": 100.0,
                                                    "top1_split3": 50.0, "splits": "1, 2, 3"},
        ("ucf101", "Two-Stream I3D, Kinetics only"): {"top1": 91.7, "top1_split1": 100.0, "top1_split2": 100.0,
                                                          "top1_split3": 75.0, "splits": "1, 2, 3"},
        ("hmdb51", "RGB-I3D, ImageNet+Kinetics"): {"top1": 75.0, "top1_split1": 75.0, "top1_split2": -1,
                                                       "top1_split3": -1,
                                                       "splits": "1"}}
    assert ours.loc[("ucf101", "Two-Stream I3D, Kinetics only"), "paper_top1"] == 97.8
    assert df.quoted.sum() == 18 and df[df.quoted].top1.isna().all() and df[df.quoted].architecture.isna().all()
    md = (tmp_path / "table5.md").read_text()
    assert "| RGB-I3D, Kinetics only | stand-in | 50.0 (95.1?) | – (74.3?) |" in md
    assert "| Flow-I3D, Kinetics only | stand-in | 83.3 (96.5?) | – (77.3?) |" in md
    assert "| Two-Stream I3D, Kinetics only | stand-in | 91.7 (97.8?) | – (80.9?) |" in md
    assert "| RGB-I3D, ImageNet+Kinetics | stand-in | – (95.6) | 75.0‡ (74.8) |" in md
    assert "| Two-Stream I3D, ImageNet+Kinetics | – | – (98.0) | – (80.7) |" in md
    assert "| IDT (quoted) | – | – (86.4) | – (61.7) |" in md
    assert "| C3D ensemble, Sports-1M (quoted) | – | – (85.2) | – |" in md
    lines = md.splitlines()
    assert lines.index("| IDT (quoted) | – | – (86.4) | – (61.7) |") < lines.index(
        "| RGB-I3D, Kinetics only | stand-in | 50.0 (95.1?) | – (74.3?) |")  # the paper's row order
    assert "**Splits:** not every mean covers the paper's three splits" in md
    assert "HMDB-51 split 1 (RGB-I3D, ImageNet+Kinetics)" in md
    assert "UCF-101 splits 1, 2, 3 (RGB-I3D, Kinetics only" in md
    assert "? The reference marks these paper numbers uncertain: CVPR version may differ." in md
    assert "UCF-101 split 3 test: 4 of an unrecorded number listed" in md


def test_table5_all_three_splits_and_none_run(tmp_path):
    for split in (1, 2, 3):
        _predictions(tmp_path / f"rgb{split}.h5", "rgb", _guesses(LABELS, "yynn"), LABELS, split=split,
                     protocol="fullft")
    write_table5(sorted(tmp_path.glob("*.h5")), tmp_path / "table5")
    md = (tmp_path / "table5.md").read_text()
    assert "Our means are over splits 1, 2 and 3, as the paper's." in md and "**Splits:**" not in md
    write_table5([], tmp_path / "empty")
    empty = (tmp_path / "empty.md").read_text()
    assert "**None run:**" in empty and "| Two-Stream I3D, Kinetics only | – | – (97.8?) | – (80.9?) |" in empty


def test_paper_csvs_carry_the_reference_numbers():
    t3 = paper_numbers("table3").set_index(["architecture", "stream", "init"])
    assert len(t3) == 17
    assert t3.loc[("i3d", "rgb+flow", "imagenet"), ["paper_top1", "paper_top5"]].tolist() == [74.2, 91.3]
    assert t3.loc[("lstm", "rgb", "scratch"), "paper_top1"] == 53.9 and t3.paper_top5.notna().sum() == 6
    assert "primary" in t3.loc[("i3d", "flow", "scratch"), "source"]
    t4 = paper_numbers("table4").set_index(["architecture", "dataset", "protocol", "init"])
    assert len(t4) == 54 and not t4.index.isin([("c3d", d, p, "imagenet") for d in ("ucf101", "hmdb51")
                                                 for p in ("original", "fixed", "fullft")]).any()
    assert t4.loc[("i3d", "hmdb51", "fullft", "scratch"), "paper_top1"] == 81.3
    assert t4.loc[("two_stream", "ucf101", "original", "scratch"), "paper_top1"] == 83.6
    assert t4.groupby(level=0).stream.unique().map(list).to_dict() == {
        "c3d": ["rgb"], "fused": ["rgb+flow"], "i3d": ["rgb+flow"], "lstm": ["rgb"], "two_stream": ["rgb+flow"]}
    assert t4.source.notna().all()
    t2 = paper_numbers("table2").set_index(["architecture", "dataset", "stream"]).paper_top1
    original = t4.xs(("original", "imagenet"), level=("protocol", "init"))
    assert all(t2[a, d, row.stream] == row.paper_top1 for (a, d), row in original.iterrows())  # as the reference says
    t5 = paper_numbers("table5")
    assert len(t5) == 30 and t5.quoted.sum() == 18
    ours = t5[~t5.quoted]
    assert [model_name(a, s, i) for a, s, i in zip(ours.architecture, ours.stream, ours.init)] == ours.model.tolist()
    assert (ours.paper_uncertain.notna() == (ours.init == "scratch")).all()
    assert t5.set_index(["model", "dataset"]).paper_top1[("Two-Stream I3D, Kinetics only", "hmdb51")] == 80.9


def test_index_links_the_tables_with_their_data(tmp_path):
    (tmp_path / "results").mkdir()
    _predictions(tmp_path / "kin.h5", "rgb", _guesses(LABELS, "yyyy"), LABELS, dataset="kinetics400",
                 init="imagenet", imagenet_source="stand-in")
    write_table3([tmp_path / "kin.h5"], tmp_path / "results/table3")
    write_table4([], tmp_path / "results/table4")
    text = write_index(tmp_path / "results/tables.md", {"table4": tmp_path / "results/table4.md",
                                                        "table3": tmp_path / "results/table3.md"})
    assert text == (tmp_path / "results/tables.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert lines == [
        ("- [Table 3](table3.md): Kinetics top-1 / top-5, trained from scratch vs ImageNet→Kinetics. Ours: 1 number, "
        "from stand-in data; some from the offline ImageNet stand-in weights (‡)."),
        ("- [Table 4](table4.md): UCF-101 and HMDB-51 split 1: Original vs Fixed (probe on frozen Kinetics features) "
        "vs Full-FT (fine-tuned from Kinetics), with and without ImageNet. Ours: none run, the paper's numbers only.")]
    with pytest.raises(ValueError, match="table9"):
        write_index(tmp_path / "results/tables.md", {"table9": tmp_path / "results/table3.md"})


def _table2_inputs(out: Path) -> list[Path]:
    """The inputs the Table 2 snapshot below was written from, by the code before the refactor (commit b1afb28)."""
    def p(name, stream, logits, labels, ids, **attrs):
        return _predictions(out / f"{name}.h5", stream, logits, labels, ids, **attrs)
    return [p("i3d-rgb", "rgb", [[2, 0, 0], [1, 0, 0], [0, 1, 0]], [0, 1, 1], ["a", "b", "c"], listed_clips=4,
              frames_scale=0.5, input_size=112),
            p("i3d-flow", "flow", [[0, 1, 0], [0, 3, 0]], [0, 1], ["a", "b"], listed_clips=4, frames_scale=0.5,
              input_size=112),
            p("ts-joint", "rgb+flow", [[0, 1], [1, 0], [1, 0]], [0, 1, 0], ["a", "b", "c"], arch="two_stream",
              epochs=7),
            p("c3d", "rgb", [[2, 0]], [0], ["a"], arch="c3d", init="imagenet", data="real", epochs=7),
            p("kin", "rgb", [[2, 0], [2, 0]], [0, 1], ["a", "b"], dataset="kinetics400"),
            p("hmdb2", "rgb", [[2, 0]] * 4, [0, 1, 0, 1], list("abcd"), dataset="hmdb51", split=2, listed_clips=4)]


def test_table2_unchanged_by_the_refactor(tmp_path):
    """Byte for byte the markdown the code before the refactor wrote; the CSV gained only ``imagenet_source``
    and (issue 26) ``paper_uncertain`` and the training settings the captions read."""
    inputs = _table2_inputs(tmp_path)
    _predictions(tmp_path / "probe.h5", "rgb", [[0, 2]], [0], ["a"], protocol="fixed")  # Table 4's, not Table 2's
    write_table2([*inputs, tmp_path / "probe.h5"], tmp_path / "table2")
    assert (tmp_path / "table2.md").read_text() == TABLE2_MD
    csv = pd.read_csv(tmp_path / "table2.csv")
    added = ["imagenet_source", "paper_uncertain", "dropout", "val_fraction", "schedule"]
    assert list(csv.columns[-5:]) == added
    assert set(csv.imagenet_source) == {"none", "torchvision"}
    assert csv.drop(columns=added).to_csv(index=False) == TABLE2_CSV


def test_table2_marks_standin_imagenet(tmp_path):
    _predictions(tmp_path / "rgb.h5", "rgb", [[2, 0], [2, 0]], [0, 1], ["a", "b"], init="imagenet",
                 imagenet_source="stand-in")
    write_table2([tmp_path / "rgb.h5"], tmp_path / "table2")
    md = (tmp_path / "table2.md").read_text()
    assert "| i3d | 1 | imagenet | stand-in | 50.0‡ (84.5) |" in md and "‡ **Stand-in ImageNet:**" in md


TABLE2_MD = (
    '# Table 2: architecture comparison (top-1 accuracy, %)\n'
    '\n'
    "Each cell is **ours (paper)**. Ours is computed by this run from its prediction files; the paper's "
    'number is from Carreira & Zisserman, "Quo Vadis, Action Recognition?" (arXiv v3, 1705.07750v3), Table '
    '2: top-1 % on split 1 of UCF-101 and HMDB-51 and on the Kinetics held-out test set. Its UCF-101 and '
    'HMDB-51 numbers are on split 1, so they appear on split-1 rows only (–: no paper number to compare '
    'with).\n'
    '\n'
    "† Kinetics-400: ours is on the validation set, which plays the test split because this run's test list "
    'has no labels (the 2017 file; labels were published on the CVDF mirror in 2021) or was left out '
    "(`download.test_set: false`); the paper's is on the held-out test set, so the two are close but not the "
    'same measurement.\n'
    '\n'
    'Chance level: UCF-101 50.0% (2 classes), HMDB-51 50.0% (2 classes), Kinetics-400 50.0% (2 classes), '
    'UCF-101 33.3% (3 classes).\n'
    '\n'
    '**RGB+Flow**, as the paper obtains it: Two-Stream (`two_stream`): one network trained end to end on '
    "both inputs with one loss, averaging the two streams' logits; Two-Stream I3D (`i3d`): RGB and Flow "
    "networks trained separately, averaging the two streams' logits at test (on the clips both have).\n"
    '\n'
    '**Test clips used**, out of the clips the official list puts in the test split (a clip that failed '
    'to decode, or has too few frames for flow, drops out; reasons in `results/<dataset>/manifest.csv` '
    'and `results/<dataset>/rgb/shardNNN.csv`): UCF-101 split 1 test: 1–3 (by stream) of 4 listed; '
    'HMDB-51 split 2 test: 4 of 4 listed; Kinetics-400 validation: 2 of an unrecorded number listed.\n'
    '\n'
    "`init` scratch: random initialisation. The paper's Table 2 models start from ImageNet weights "
    '(except the 3D-ConvNet), so scratch rows are expected to be lower.\n'
    '\n'
    '**Stand-in data:** rows marked `stand-in` learnt from a built-in, procedurally rendered stand-in '
    '(few motion-defined classes, small clips, short training on a CPU) somewhere: the dataset they were '
    'trained and tested on, the Kinetics they were pre-trained on, or the ImageNet weights they started '
    "from: compare them with chance and with each other, not with the paper's numbers.\n"
    '\n'
    '**Shortened clips and resolution:** to fit the CPU budget these models saw fewer frames per sample '
    "than the paper's (frames per sample: i3d ×0.5) and 112 px inputs instead of the paper's 224 "
    "(3D-ConvNet: 112); `table1.md` lists each architecture's inputs in this run.\n"
    '\n'
    '**Training schedules differ:** epochs per architecture (UCF-101: c3d 7, i3d 28, two_stream 7; '
    'HMDB-51: i3d 28; Kinetics-400: i3d 28); config `models.per_arch.<arch>.epochs_scale`.\n'
    '\n'
    '| architecture | split | init | data | UCF-101 rgb | UCF-101 flow | UCF-101 rgb+flow | HMDB-51 rgb |'
    ' Kinetics-400 rgb |\n'
    '|---|---|---|---|---|---|---|---|---|\n'
    '| c3d | 1 | imagenet | real | 100.0 (51.6) | – | – | – | – |\n'
    '| i3d | 1 | scratch | stand-in | 66.7 (84.5) | 50.0 (90.6) | 100.0 (93.4) | – | 50.0 (71.1†) |\n'
    '| i3d | 2 | scratch | stand-in | – | – | – | 50.0 (–) | – |\n'
    '| two_stream | 1 | scratch | stand-in | – | – | 33.3 (91.2) | – | – |\n'
    '\n'
    'Tidy form (one row per architecture, dataset, split, stream, with test clip counts): `table2.csv`. '
    'Model sizes and input lengths: `table1.md`.\n'
)
TABLE2_CSV = (
    'architecture,dataset,split,stream,init,data,test_clips,listed_clips,num_classes,top1,frames_scale,in'
    'put_size,epochs,chance,test_set,paper_test_set,paper_top1\n'
    'c3d,ucf101,1,rgb,imagenet,real,1,0,2,100.0,1.0,0,7,50.0,split 1 test,split 1 test,51.6\n'
    'i3d,hmdb51,2,rgb,scratch,stand-in,4,4,2,50.0,1.0,0,28,50.0,split 2 test,,\n'
    'i3d,kinetics400,1,rgb,scratch,stand-in,2,0,2,50.0,1.0,0,28,50.0,validation,held-out test,71.1\n'
    'i3d,ucf101,1,rgb,scratch,stand-in,3,4,3,66.7,0.5,112,28,33.3,split 1 test,split 1 test,84.5\n'
    'i3d,ucf101,1,flow,scratch,stand-in,2,4,3,50.0,0.5,112,28,33.3,split 1 test,split 1 test,90.6\n'
    'i3d,ucf101,1,rgb+flow,scratch,stand-in,2,4,3,100.0,0.5,112,28,33.3,split 1 test,split 1 test,93.4\n'
    'two_stream,ucf101,1,rgb+flow,scratch,stand-in,3,0,2,33.3,1.0,0,7,50.0,split 1 test,split 1 test,91.2'
    '\n'
)
