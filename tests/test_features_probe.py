"""The "Fixed" protocol: frozen features from predict's own footprint, and a softmax probe that picks its L2
by grouped cross-validation on the train split alone and writes a predictions file the tables read."""
from __future__ import annotations

from dataclasses import asdict

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from i3d.models.registry import model_sampling
from i3d.data.shards import ShardWriter, encode_jpeg
from i3d.data.validation import clip_groups
from i3d.evaluate.features import extract_features, read_features, write_features
from i3d.models.clip_outputs import clip_outputs
from i3d.evaluate.predict import predict, read_predictions
from i3d.evaluate.probe import choose_l2, cv_scores_path, fit_probe, group_folds
from i3d.models import build, get_spec
from i3d.models.registry import STREAM_CHANNELS
from i3d.tables.runs import read_runs, scored_rows
from i3d.train.checkpoints import save_atomic
from i3d.train.loop import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# (arch, stream): the five architectures in their test footprints, the joint ones on both streams
MODELS = {("lstm", "rgb"): 512, ("c3d", "rgb"): 4096, ("two_stream", "rgb+flow"): 2048, ("fused", "rgb+flow"): 512,
          ("i3d", "rgb"): 1024}


def footprint_inputs(arch: str, stream: str, side: int = 32, whole_clip: int = 24) -> list[torch.Tensor]:
    """Random S x C x T x H x W inputs per stream in the architecture's test sampling, frames scaled by 0.2."""
    g = torch.Generator().manual_seed(0)
    size = get_spec(arch).crop_for(side)
    return [torch.rand(s.samples, STREAM_CHANNELS[name], s.frames or whole_clip, size, size, generator=g) * 2 - 1
            for name, s in model_sampling(arch, stream, "test", 0.2).items()]


@pytest.mark.parametrize(("arch", "stream"), list(MODELS))
def test_logits_are_the_classifier_on_the_features_and_the_mean_of_the_samples_logits(arch, stream):
    """The classifier is affine (dropout off), so on the averaged features it gives the averaged logits
    (I3D: of its per-time logits; LSTM: the last step's), which is what ``forward`` defines."""
    torch.manual_seed(0)
    model = build(arch, num_classes=5, stream=stream).eval()
    inputs = footprint_inputs(arch, stream)
    with torch.inference_mode():
        features, logits = clip_outputs(model, inputs)
        reference = model(*inputs).mean(dim=0)
        assert torch.equal(logits, model.classifier(features[None])[0])
    assert features.shape == (MODELS[arch, stream],)
    assert (logits - reference).abs().max() <= 1e-5 * reference.abs().max()


def write_clips(root, clips: dict[str, int]) -> list:
    """An RGB shard of ``clips`` (id -> label; 12 frames of 32x40, brightness codes the class)."""
    rgb = ShardWriter(root / "rgb.h5", "rgb")
    rng = np.random.default_rng(0)
    for clip_id, label in clips.items():
        frames = [encode_jpeg(rng.integers(0, 60, (32, 40, 3), dtype=np.uint8) + 150 * label) for _ in range(12)]
        rgb.add_clip(clip_id, label, frames, 25.0, 32, 40)
    rgb.close()
    return [root / "rgb.h5"]


def test_every_listed_clip_gets_the_features_predict_classifies(tmp_path):
    """One row per clip that a split lists as train or test (any split) and that is in the shards; a test
    clip's predicted logits are the model's classifier on its row."""
    shards = write_clips(tmp_path, {"a": 0, "b": 1, "c": 0, "unused": 1})
    pd.DataFrame({"clip_id": ["a", "b", "c", "unused", "undecoded"], "label_index": [0, 1, 0, 1, 1],
                  "split1": ["train", "test", "none", "none", "test"],
                  "split2": ["test", "train", "train", "none", "train"]}).to_csv(tmp_path / "manifest.csv", index=False)
    torch.manual_seed(0)
    model = build("i3d", 2, "rgb").eval()
    cfg = TrainConfig(arch="i3d", stream="rgb", num_classes=2, epochs=1)
    save_atomic({"config": asdict(cfg), "model": model.state_dict()}, tmp_path / "model.pt")
    count = extract_features(tmp_path / "model.pt", tmp_path / "manifest.csv", {"rgb": shards}, tmp_path / "f.h5",
                             crop_size=32, progress=False)
    ids, labels, features, attrs = read_features(tmp_path / "f.h5")
    assert count == 3 and ids == ["a", "b", "c"] and labels.tolist() == [0, 1, 0]
    assert features.shape == (3, 1024) and features.dtype == np.float32 and attrs["dim"] == 1024
    assert (attrs["arch"], attrs["stream"], attrs["model_path"]) == ("i3d", "rgb", str(tmp_path / "model.pt"))
    predict(tmp_path / "model.pt", tmp_path / "manifest.csv", {"rgb": shards}, 1, tmp_path / "p.h5", crop_size=32,
            progress=False)
    test_ids, _, logits = read_predictions(tmp_path / "p.h5")
    with torch.inference_mode():
        classified = model.classifier(torch.from_numpy(features[ids.index("b")])[None])[0].numpy()
    assert test_ids == ["b"] and np.array_equal(logits[0], classified)


def synthetic(tmp_path, *, signal: float, classes: int = 4, seed: int = 0) -> tuple:
    """UCF-style clips (groups 1-4 test, 5-16 train, 5 clips each) with 8-d features: ``signal`` times a
    class-coded direction plus a per-group offset and noise. Returns (features path, manifest path)."""
    rng = np.random.default_rng(seed)
    rows, features = [], []
    for c in range(classes):
        for g in range(1, 17):
            offset = rng.normal(0, 0.5, 8)
            for k in range(1, 6):
                rows.append({"clip_id": f"v_Class{c}_g{g:02d}_c{k:02d}", "label": f"Class{c}", "label_index": c,
                                 "split1": "test" if g <= 4 else "train"})
                features.append(signal * np.eye(8)[c] + offset + rng.normal(0, 1, 8))
    table = pd.DataFrame(rows)
    table.to_csv(tmp_path / "manifest.csv", index=False)
    write_features(tmp_path / "features.h5", list(table.clip_id), table.label_index.to_numpy(),
                   np.array(features, dtype=np.float32),
                   {"arch": "i3d", "stream": "rgb", "frames_scale": 1.0, "input_size": 224, "epochs": 3})
    return tmp_path / "features.h5", tmp_path / "manifest.csv"


GRID = (1e-4, 1e-2, 1.0)
STANDIN = {"dataset": "ucf101", "init": "scratch", "data": "stand-in"}  # init: the Kinetics model's


def test_probe_recovers_a_separable_problem_and_the_tables_read_its_predictions(tmp_path):
    features, manifest = synthetic(tmp_path, signal=6.0)
    out = tmp_path / "probe" / "predictions.h5"
    top1 = fit_probe(features, manifest, 1, out, l2_grid=GRID, attrs=STANDIN)
    ids, labels, logits = read_predictions(out)
    assert top1 >= 95.0 and top1 == 100.0 * np.mean(logits.argmax(1) == labels)
    assert len(ids) == 4 * 4 * 5 and all(int(c[-6:-4]) <= 4 for c in ids)  # the test groups only
    scores = pd.read_csv(cv_scores_path(out))
    assert len(scores) == len(GRID) * 3 and scores[scores.chosen].l2.nunique() == 1
    with h5py.File(out) as f:
        assert f.attrs["l2"] == scores[scores.chosen].l2.iloc[0] and f.attrs["listed_clips"] == len(ids)
    row = scored_rows(read_runs([out])).iloc[0]  # as Tables 4 and 5 read it
    assert (row.architecture, row.stream, row.init, row.protocol, row.test_clips) == (
        "i3d", "rgb", "scratch", "fixed", len(ids))
    assert round(row.top1, 6) == round(top1, 6)


def test_probe_is_at_chance_on_noise(tmp_path):
    features, manifest = synthetic(tmp_path, signal=0.0)
    top1 = fit_probe(features, manifest, 1, tmp_path / "predictions.h5", l2_grid=GRID, attrs=STANDIN)
    assert abs(top1 - 25.0) < 15.0  # 80 test clips: chance 25 % with a standard deviation of 5


def test_probe_never_looks_at_test_labels(tmp_path):
    """Shuffled test labels (in the features file and the manifest) leave the CV scores, the chosen L2 and the
    fitted probe (its test logits) exactly as they were."""
    features, manifest = synthetic(tmp_path, signal=1.0)
    ids, labels, x, attrs = read_features(features)
    table = pd.read_csv(manifest)
    test = (table.split1 == "test").to_numpy()
    poisoned = labels.copy()
    poisoned[test] = np.random.default_rng(1).permutation(labels[test])
    write_features(tmp_path / "poisoned.h5", ids, poisoned, x, {k: v for k, v in attrs.items() if k != "dim"})
    table.assign(label_index=poisoned).to_csv(tmp_path / "poisoned.csv", index=False)
    runs = {}
    for name, (f, m) in {"clean": (features, manifest), "poisoned": (tmp_path / "poisoned.h5",
                                                                       tmp_path / "poisoned.csv")}.items():
        out = tmp_path / name / "predictions.h5"
        fit_probe(f, m, 1, out, l2_grid=GRID)
        with h5py.File(out) as h:
            runs[name] = (h.attrs["l2"], h["logits"][()], h["label"][()], pd.read_csv(cv_scores_path(out)))
    (l2, logits, written, scores), (l2_p, logits_p, written_p, scores_p) = runs["clean"], runs["poisoned"]
    assert not np.array_equal(written, written_p)  # the poison reached the predictions file
    assert l2 == l2_p and np.array_equal(logits, logits_p)
    pd.testing.assert_frame_equal(scores, scores_p)


def test_l2_of_best_clip_weighted_cv_top1_ties_to_the_stronger():
    scores = pd.DataFrame({"l2": [0.1, 0.1, 1.0, 1.0, 10.0, 10.0], "fold": [0, 1] * 3, "clips": [30, 10] * 3,
                           "top1": [50.0, 100.0, 70.0, 40.0, 60.0, 70.0]})
    assert choose_l2(scores) == 10.0  # pooled 62.5 / 62.5 / 62.5 (means over folds: 75, 55, 65): a tie
    assert choose_l2(scores.assign(top1=[50.0, 100.0, 70.0, 41.0, 60.0, 70.0])) == 1.0


def hmdb_like() -> pd.DataFrame:
    """HMDB-style names: 6 movies, each with clips of 3 actions, 2 clips per (movie, action)."""
    actions = ("wave", "run", "jump")
    return pd.DataFrame([{"clip_id": f"Movie{m}_{a}_f_nm_np1_fr_med_{k}", "label": a, "label_index": i}
                         for m in range(6) for i, a in enumerate(actions) for k in range(2)])


def ucf_like() -> pd.DataFrame:
    return pd.DataFrame([{"clip_id": f"v_C{c}_g{g:02d}_c{k:02d}", "label": f"C{c}", "label_index": c}
                         for c in range(3) for g in range(1, 8) for k in range(1, 2 + g % 3)])


@pytest.mark.parametrize("clips", [ucf_like(), hmdb_like()], ids=["ucf", "hmdb"])
def test_folds_keep_source_videos_together_and_spread_every_class(clips):
    fold = group_folds(clips, 3, seed=0)
    sides = clips.assign(fold=fold, group=clip_groups(clips))
    assert (sides.groupby("group").fold.nunique() == 1).all()  # a UCF group / HMDB movie in one fold
    assert (sides.groupby("label_index").fold.nunique() == 3).all()
    per_fold = sides.groupby(["label_index", "fold"]).size().unstack()
    assert (per_fold.max(axis=1) - per_fold.min(axis=1) <= per_fold.max(axis=1) / 2 + 1).all()
    shuffled = clips.sample(frac=1.0, random_state=2)
    assert (group_folds(shuffled, 3, seed=0) == pd.Series(fold, index=clips.index)[shuffled.index]).all()
