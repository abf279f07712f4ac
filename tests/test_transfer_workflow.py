"""The transfer half of the paper through the workflow (issue 14): Kinetics models reused on UCF-101 as frozen
features with a softmax probe (Fixed) and fine-tuned (Full-FT), Tables 3-5 and the index, and what reruns when
the probe's or the fine-tuning's settings change.

A tiny config: I3D only, Kinetics and UCF-101 stand-ins, one epoch, so the whole chain runs in about a minute.
"""
from __future__ import annotations

import copy
import re

import h5py
import pandas as pd
import pytest
import yaml

from test_workflow import TINY, copy_project, planned, planned_rules, snakemake

SMALL = copy.deepcopy(TINY)
del SMALL["datasets"]["hmdb51"]
SMALL["datasets"]["ucf101"]["architectures"] = ["i3d"]
SMALL["transfer"] = {"finetune": {"epochs": 1, "lr": 0.01}, "probe": {"l2": [0.001, 0.1], "folds": 2}}


@pytest.fixture(scope="module")
def transferred(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("transfer"))
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(SMALL))
    out = snakemake(root, "results/tables.md")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return root


def test_fixed_and_fullft_models_reach_tables_3_to_5(transferred):
    results = transferred / "results"
    for stream in ("rgb", "flow"):
        fixed = results / f"ucf101/split1/fixed/i3d-{stream}-scratch/predictions.h5"
        with h5py.File(fixed) as f:
            assert f.attrs["protocol"] == "fixed" and f.attrs["init"] == "scratch"
        assert (fixed.parent / "predictions.cv.csv").is_file()
        with h5py.File(results / f"ucf101/split1/fullft/i3d-{stream}-scratch/predictions.h5") as f:
            assert f.attrs["protocol"] == "fullft"
        with h5py.File(results / f"ucf101/features/i3d-{stream}-scratch.h5") as f:
            assert f["features"].shape[1] == 1024  # I3D's pooled Mixed_5c
    table4 = pd.read_csv(results / "table4.csv")
    ours = table4[table4.top1.notna()] if "top1" in table4 else table4
    assert {"original", "fixed", "fullft"} <= set(ours.protocol)
    assert (results / "table3.md").is_file() and (results / "table5.md").is_file()
    index = (results / "tables.md").read_text()
    assert all(f"table{n}.md" in index for n in range(1, 6))


def test_probe_settings_rerun_only_probes_and_tables(transferred):
    changed = copy.deepcopy(SMALL)
    changed["transfer"]["probe"]["folds"] = 3
    (transferred / "probe.yaml").write_text(yaml.safe_dump(changed))
    plan = planned_rules(transferred, "results/tables.md", "--configfile", "probe.yaml")
    assert plan == {"probe", "table345", "tables"}


def test_finetune_schedule_reruns_only_fine_tuning_and_what_follows(transferred):
    changed = copy.deepcopy(SMALL)
    changed["transfer"]["finetune"]["lr"] = 0.02
    (transferred / "finetune.yaml").write_text(yaml.safe_dump(changed))
    plan = planned_rules(transferred, "results/tables.md", "--configfile", "finetune.yaml")
    assert plan == {"finetune", "predict_fullft", "table345", "tables"}


def test_table2_alone_plans_no_transfer_job(transferred, tmp_path):
    root = copy_project(tmp_path)
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(SMALL))
    out = snakemake(root, "-n", "results/table2.md")
    assert out.returncode == 0, out.stderr[-2000:]
    assert not {"features", "probe", "finetune", "predict_fullft", "table345"} & {
        line.split()[0] for line in out.stdout.splitlines() if line.split()}


def test_the_imagenet_standin_replaces_the_download_offline(tmp_path):
    """imagenet.standin: Kinetics models from ImageNet train from the stand-in, never the torchvision download,
    and every prediction says where its ImageNet weights came from."""
    root = copy_project(tmp_path)
    config = copy.deepcopy(SMALL)
    config["imagenet"] = {"standin": True}
    config["transfer"]["kinetics_inits"] = ["scratch", "imagenet"]
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    out = snakemake(root, "-n", "-p", "results/tables.md")
    assert out.returncode == 0, out.stderr[-2000:]
    rules = {line.split()[0] for line in out.stdout.splitlines() if line.split()}
    assert "imagenet_standin" in rules and "fetch_imagenet" not in rules
    assert "--imagenet resources/weights/googlenet-standin.pth" in out.stdout
    assert "--imagenet-source stand-in" in out.stdout
    assert "results/ucf101/split1/fullft/i3d-rgb-imagenet/model.pt" in out.stdout


@pytest.mark.long
@pytest.mark.parametrize("init, other", [("scratch", "imagenet"), ("imagenet", "scratch")])
def test_table4_original_gets_both_starts_for_i3d(tmp_path, init, other):
    """Table 4's Original column is "with ImageNet / without ImageNet": with both starts in
    transfer.kinetics_inits, I3D on UCF-101 is also trained (and tested) from the start models.init is not, and
    Table 4 reads it; Table 2 does not, and with one start nothing is added."""
    root = copy_project(tmp_path)
    config = copy.deepcopy(SMALL)
    config["imagenet"] = {"standin": True}
    config["models"]["init"] = init
    config["transfer"]["kinetics_inits"] = ["scratch", "imagenet"]
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    extra = {(f"results/ucf101/split1/i3d-{stream}-{other}/{name}", rule)
             for stream in ("rgb", "flow") for name, rule in (("model.pt", "train"), ("predictions.h5", "predict"))}
    assert extra <= set(planned(root, "results/tables.md"))
    out = snakemake(root, "-n", "results/table4.md")
    assert out.returncode == 0, out.stderr[-2000:]
    assert all(f"results/ucf101/split1/i3d-{s}-{other}/predictions.h5" in _inputs(out.stdout, "results/table4.csv")
               for s in ("rgb", "flow"))
    assert not extra & set(planned(root, "results/table2.md"))
    config["transfer"]["kinetics_inits"] = [init]
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    assert not extra & set(planned(root, "results/tables.md"))


def _inputs(dry_run: str, output: str) -> str:
    """The input line of the job that writes ``output`` in a dry run's listing."""
    lines = dry_run.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("output:") and output in line)
    return next(line for line in reversed(lines[:at]) if line.strip().startswith("input:"))


def _recorded_data(dry_run: str) -> dict[str, str]:
    """The --data each probe / predict command of a dry run (-p) passes, by the folder it writes to."""
    return dict(re.findall(r"--out results/(\S+)/predictions\.h5 .*?--data (\S+)", dry_run))


def test_data_label_is_stand_in_when_any_source_is(tmp_path):
    """A Fixed or Full-FT row is stand-in when the Kinetics it was pre-trained on is, although UCF-101 is real;
    any row is stand-in when its ImageNet start is; only a model that saw real data alone is real."""
    root = copy_project(tmp_path)
    config = copy.deepcopy(SMALL)
    config["datasets"]["ucf101"] = {**config["datasets"]["ucf101"], "source": "local", "root": str(tmp_path / "ucf")}
    config["transfer"]["kinetics_inits"] = ["scratch"]
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    out = snakemake(root, "-n", "-p", "results/tables.md")
    assert out.returncode == 0, out.stderr[-2000:]
    data = _recorded_data(out.stdout)
    assert {k: v for k, v in data.items() if k.startswith("ucf101/")} == {
        "ucf101/split1/i3d-rgb-scratch": "real", "ucf101/split1/i3d-flow-scratch": "real",
        **{f"ucf101/split1/{p}/i3d-{s}-scratch": "stand-in" for p in ("fixed", "fullft") for s in ("rgb", "flow")}}

    config["datasets"]["kinetics400"] = {**config["datasets"]["kinetics400"], "source": "local",
                                         "root": str(tmp_path / "kinetics")}
    config["imagenet"] = {"standin": True}
    config["transfer"]["kinetics_inits"] = ["scratch", "imagenet"]
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    out = snakemake(root, "-n", "-p", "results/tables.md")
    assert out.returncode == 0, out.stderr[-2000:]
    data = _recorded_data(out.stdout)
    assert {k for k, v in data.items() if v == "stand-in"} == {
        k for k in data if k.endswith("-imagenet")} != set()
    assert "ucf101/split1/fixed/i3d-rgb-scratch" in data and "kinetics400/split1/i3d-rgb-imagenet" in data
