"""Config validation: defaults filled in, bad keys and values named with what is allowed."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from i3d.config import ConfigError, load_config, validate

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(name):
    config = load_config(REPO / "config" / name)
    for dataset in config["datasets"].values():
        assert dataset["root"].startswith("resources/") and dataset["train"]["momentum"] == 0.9


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
