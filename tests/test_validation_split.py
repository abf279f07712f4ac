"""The validation carve: a pure function of the manifest, group-aware, stratified, never the test split."""
from __future__ import annotations

import pandas as pd
import pytest

from i3d.data.validation import carve_validation, group_key


def manifest(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """(clip id, class name, split1 subset) rows as a manifest."""
    classes = sorted({label for _, label, _ in rows})
    return pd.DataFrame([dict(clip_id=c, label=label, label_index=classes.index(label), split1=subset)
                         for c, label, subset in rows])


def ucf_like(classes: int = 4, groups: int = 8, clips: int = 4) -> pd.DataFrame:
    """``v_<Class>_gXX_cYY``; groups 1-2 are the test split, as UCF-101's splits are group-disjoint."""
    return manifest([(f"v_Class{c}_g{g:02d}_c{k:02d}", f"Class{c}", "test" if g <= 2 else "train")
                     for c in range(classes) for g in range(1, groups + 1) for k in range(1, clips + 1)])


def test_group_keys_follow_each_datasets_naming():
    assert group_key("v_ApplyEyeMakeup_g08_c03", "ApplyEyeMakeup") == "ApplyEyeMakeup_g08"
    assert group_key("April_09_brush_hair_u_nm_np1_ba_goo_2", "brush_hair") == "April_09"
    assert group_key("RATRACE_wave_f_nm_np1_fr_goo_37", "wave") == "RATRACE"
    assert group_key("R6llTwEh07w_000010_000020", "air drumming") == "R6llTwEh07w_000010_000020"
    assert group_key("clip7", "anything") == "clip7"


def test_ucf_groups_stay_whole_and_every_class_trains_and_validates():
    df = ucf_like()
    val = carve_validation(df, 1, 0.15)
    train = df[df.split1 == "train"]
    assert val <= set(train.clip_id)
    sides = train.assign(val=train.clip_id.isin(val), group=[group_key(c, l) for c, l in zip(train.clip_id, train.label)])
    assert (sides.groupby("group").val.nunique() == 1).all()  # no group on both sides
    per_class = sides.groupby("label").val.agg(["sum", "size"])
    assert (per_class["sum"] > 0).all() and (per_class["sum"] < per_class["size"]).all()
    assert per_class["sum"].max() <= 0.25 * per_class["size"].min()  # one group of four of 24: about the fraction


def test_carve_is_a_pure_function_of_the_manifest():
    df = ucf_like()
    shuffled = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert carve_validation(df, 1, 0.15) == carve_validation(shuffled, 1, 0.15)
    assert carve_validation(df, 1, 0.0) == set()
    with pytest.raises(ValueError, match="fraction"):
        carve_validation(df, 1, 1.0)


def test_hmdb_clips_of_one_movie_stay_together():
    titles = ["April_09", "Bubbles", "Catch", "Dune", "Eagle", "Fargo"]
    df = manifest([(f"{t}_wave_f_nm_np1_fr_goo_{k}", "wave", "train") for t in titles for k in range(3)])
    val = carve_validation(df, 1, 0.2)
    assert val and {c.split("_wave_")[0] for c in val} & {c.split("_wave_")[0] for c in set(df.clip_id) - val} == set()


def test_a_class_with_one_group_keeps_it_for_training():
    df = manifest([(f"v_Solo_g03_c{k:02d}", "Solo", "train") for k in range(1, 5)]
                  + [(f"youtubeid{k:02d}_000000_000010", "other", "train") for k in range(10)])
    val = carve_validation(df, 1, 0.15)
    assert not any(c.startswith("v_Solo") for c in val)
    assert len(val) == 1  # Kinetics-style: per clip, 15% of 10
