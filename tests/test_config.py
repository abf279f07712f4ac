"""Config validation: defaults filled in, bad keys and values named with what is allowed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from i3d.config import ConfigError, arch_epochs, load_config, validate

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(name):
    config = load_config(REPO / "config" / name)
    for dataset in config["datasets"].values():
        assert dataset["root"].startswith("resources/") and dataset["train"]["momentum"] == 0.9


def _as_snakemake_merges(*names: str) -> dict:
    """config/config.yaml updated key by key with each ``--configfile`` in turn, as Snakemake does."""
    from snakemake.utils import update_config

    merged = yaml.safe_load((REPO / "config/config.yaml").read_text())
    for name in names:
        update_config(merged, yaml.safe_load((REPO / "config" / name).read_text()))
    return validate(merged)


def test_the_paper_config_starts_from_torchvisions_imagenet_not_the_standin():
    """config.yaml turns the offline ImageNet stand-in on; the paper's settings must turn it off again."""
    config = _as_snakemake_merges("paper.yaml")
    assert config["imagenet"]["standin"] is False and config["imagenet"]["url"].endswith("googlenet-1378be20.pth")


def test_the_released_config_over_the_papers_takes_deepminds_imagenet_checkpoints():
    config = _as_snakemake_merges("paper.yaml", "released.yaml")
    released = config["transfer"]["released"]
    assert config["transfer"]["kinetics_source"] == "released"
    assert {s: (released[s]["format"], released[s]["init"]) for s in ("rgb", "flow")} == \
        {"rgb": ("tf", "imagenet"), "flow": ("tf", "imagenet")}
    assert released["flow"]["url"].endswith("/flow_imagenet/model.ckpt")


def test_defaults_and_per_dataset_overrides():
    config = validate({"datasets": {"ucf101": {"source": "synthetic", "train": {"epochs": 3}},
                                    "hmdb51": {"source": "synthetic"}},
                       "train": {"lr": 0.2}})
    assert config["frames"] == {"fps": 25, "short_side": 256}
    assert config["flow"]["backend"] == "auto" and config["flow"]["tvl1"] == {}
    assert config["datasets"]["ucf101"]["train"]["epochs"] == 3
    assert config["datasets"]["ucf101"]["train"]["lr"] == 0.2  # global value kept where not overridden
    assert config["datasets"]["hmdb51"]["train"]["epochs"] == 10


@pytest.mark.parametrize("config, message", [
    ({"datasets": {"ucf101": {"source": "youtube"}}}, "datasets.ucf101.source': 'youtube' is not one of"),
    ({"datasets": {"ucf101": {"source": "local"}}, "trian": {}}, "Allowed keys: datasets, device"),
    ({"datasets": {"ucf101": {"source": "local"}}, "train": {"lr": "fast"}}, "train.lr': 'fast' is not of type"),
    ({"datasets": {"ucf101": {"source": "local", "train": {"lrr": 1}}}}, "datasets.ucf101.train': Additional"),
    ({"datasets": {"ucf101": {"source": "local"}}, "flow": {"tvl1": {"warps": 0}}}, "flow.tvl1.warps"),
    ({"datasets": {"ucf-101": {"source": "local"}}}, "Allowed keys: hmdb51, kinetics400, ucf101"),
    ({"datasets": {"ucf101": {"source": "local"}}, "device": "tpu"},
     ("device': 'tpu' does not match '^(auto|cpu|cuda(:[0-9]+)?)$'. "
      "Allowed values: auto (CUDA when present), cpu, cuda, cuda:N")),
    ({"datasets": {"ucf101": {"source": "local"}}, "device": "cuda:x"}, "config key 'device'"),
    ({"datasets": {"ucf101": {"source": "local"}}, "gpus": 2}, "gpus': 2 is not one of ['auto', 0, 1]"),
    ({"datasets": {"ucf101": {"source": "local"}}, "frames": {"fps": 30}}, "frames.fps': 30 is not one of [25]"),
    ({"datasets": {"ucf101": {"source": "local", "test": {"crop": 1}}}}, "datasets.ucf101.test': Additional"),
])
def test_bad_config_names_the_key(config, message):
    with pytest.raises(ConfigError, match=None) as err:
        validate(config)
    assert message in str(err.value)


def test_enum_errors_list_allowed_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"datasets": {"ucf101": {"source": "synthetic"}}, "flow": {"backend": "x"}}))
    with pytest.raises(ConfigError, match="Allowed values: auto, torch, opencv"):
        load_config(path)


def test_architectures_come_from_the_registry():
    from i3d.models import list_architectures

    config = validate({"datasets": {"ucf101": {"source": "synthetic"}, "hmdb51": {"source": "synthetic",
                                                                                  "architectures": ["c3d"]}},
                       "models": {"architectures": list_architectures(), "frames_scale": 0.5,
                                  "per_arch": {"lstm": {"frames_scale": 0.2, "epochs_scale": 0.25}}}})
    assert config["datasets"]["ucf101"]["architectures"] == list_architectures()
    assert config["datasets"]["hmdb51"]["architectures"] == ["c3d"]
    per_arch = config["models"]["per_arch"]
    assert per_arch["lstm"] == {"init": "scratch", "frames_scale": 0.2, "epochs_scale": 0.25}
    assert per_arch["i3d"] == {"init": "scratch", "frames_scale": 0.5, "epochs_scale": 1.0}
    assert config["datasets"]["ucf101"]["train"]["epochs"] == 10
    assert arch_epochs(config, "ucf101", "lstm") == 2 and arch_epochs(config, "ucf101", "i3d") == 10
    assert arch_epochs(config, "hmdb51", "c3d") == 10
    with pytest.raises(ConfigError, match="Allowed values: lstm, c3d, two_stream, fused, i3d"):
        validate({"datasets": {"ucf101": {"source": "synthetic"}}, "models": {"architectures": ["resnet"]}})


def test_imagenet_init_and_c3d():
    with pytest.raises(ConfigError, match="c3d has no ImageNet initialisation.*per_arch.c3d.init: scratch"):
        validate({"datasets": {"ucf101": {"source": "synthetic"}},
                  "models": {"architectures": ["c3d", "i3d"], "init": "imagenet"}})
    config = validate({"datasets": {"ucf101": {"source": "synthetic"}},
                       "models": {"architectures": ["c3d", "i3d"], "init": "imagenet",
                                  "per_arch": {"c3d": {"init": "scratch"}}}})
    assert config["models"]["per_arch"]["i3d"]["init"] == "imagenet"
    assert config["imagenet"]["url"].endswith("googlenet-1378be20.pth") and config["imagenet"]["path"] is None


def test_a_registry_entry_is_all_a_new_architecture_needs(monkeypatch):
    """README "Adding an architecture": one ArchSpec in the registry (plus its module) and the config, the
    workflow's streams, the builder and Table 1 accept it; nothing else is edited."""
    import torch
    from torch import nn

    from i3d.models import registry
    from i3d.tables.table1 import table1_rows

    def tiny(num_classes, stream, **options):
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 8 * 8, num_classes))

    spec = registry.ArchSpec(name="tiny", paper_name="Tiny", builder=tiny, streams=("rgb",),
                             train={"rgb": registry.Sampling(4)}, test={"rgb": registry.Sampling(4, samples=3)},
                             imagenet_init=False)
    monkeypatch.setitem(registry.ARCHITECTURES, "tiny", spec)
    config = validate({"datasets": {"ucf101": {"source": "synthetic"}}, "models": {"architectures": ["tiny"]}})
    assert config["models"]["per_arch"]["tiny"]["init"] == "scratch"
    assert spec.model_streams(["rgb", "flow"]) == ["rgb"]
    assert registry.build("tiny", num_classes=7)(torch.zeros(2, 3, 4, 8, 8)).shape == (2, 7)
    row = table1_rows(["tiny"], frames_scale={"tiny": 0.5}).iloc[0]
    assert row.run_test_input == "6 rgb (3 x 2)" and np.isnan(row.paper_params_m)  # no paper figures: "–"


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1"])
def test_devices_torch_accepts_pass(device):
    assert validate({"datasets": {"ucf101": {"source": "synthetic"}}, "device": device})["device"] == device


@pytest.mark.parametrize("sections, key", [
    ({"train": {"crop_size": 64}}, "'train.crop_size': crop 64 exceeds frames.short_side 56"),
    ({"test": {"crop_size": 64}}, "'test.crop_size': crop 64 exceeds frames.short_side 56"),
    ({"datasets": {"ucf101": {"source": "synthetic", "train": {"crop_size": 60}}}},
     "'datasets.ucf101.train.crop_size': crop 60 exceeds"),
    ({"datasets": {"ucf101": {"source": "synthetic", "test": {"crop_size": 60}}}},
     "'datasets.ucf101.test.crop_size': crop 60 exceeds"),
])
def test_a_crop_larger_than_the_frames_fails_at_validation(sections, key):
    config = {"datasets": {"ucf101": {"source": "synthetic"}}, "frames": {"short_side": 56},
              "train": {"crop_size": 48}, "test": {"crop_size": 48}, **sections}
    with pytest.raises(ConfigError) as err:
        validate(config)
    assert key in str(err.value) and "allowed: at most 56" in str(err.value)


def test_test_crop_can_be_overridden_per_dataset():
    config = validate({"datasets": {"ucf101": {"source": "synthetic", "test": {"crop_size": 32}},
                                    "hmdb51": {"source": "synthetic"}},
                       "frames": {"short_side": 56}, "train": {"crop_size": 48}, "test": {"crop_size": 48}})
    assert config["datasets"]["ucf101"]["test"] == {"crop_size": 32}
    assert config["datasets"]["hmdb51"]["test"] == {"crop_size": 48}


def test_the_schema_lists_the_packages_datasets():
    """The schema's dataset names are the package's (the workflow's wildcards come from the validated config)."""
    from i3d.config import load_schema
    from i3d.data.annotations import DATASETS

    assert set(load_schema()["properties"]["datasets"]["properties"]) == set(DATASETS)
