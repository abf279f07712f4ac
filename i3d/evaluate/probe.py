"""A softmax probe on frozen features: the paper's "Fixed" protocol (§4), the network trained on Kinetics
and only a new classifier trained on UCF-101/HMDB-51.

Multinomial logistic regression on the split's train-clip features (``features.py``), standardised with
their own mean and spread; its L2 strength is chosen by k-fold cross-validation within the train split, in
folds that keep a source video's clips together (UCF-101 groups, HMDB-51 source movies:
:func:`~i3d.data.validation.clip_groups`), so that no choice looks at the test clips; then refit on the
whole train split and the test clips predicted into a predictions file like predict's, which the tables read.

The objective (mean cross-entropy + l2/2 ||W||², bias not penalised) is strictly convex, so full-batch
L-BFGS in float64 from zero reaches its one optimum deterministically; no scikit-learn needed.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..atomic import write_text_atomic
from ..data.validation import clip_groups
from .features import read_features
from .predict import MODEL_ATTRS, write_predictions

L2_GRID: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
"""L2 strengths tried by default (per unit of the mean cross-entropy, on standardised features)."""

MAX_ITER = 500
"""L-BFGS iterations per fit at most (a weakly penalised fit on separable features stops here)."""


@dataclass(frozen=True)
class Softmax:
    """A fitted probe: standardisation (``mean``, ``scale``) then logits ``x @ weight.T + bias``."""

    mean: torch.Tensor
    scale: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor

    def logits(self, x: np.ndarray) -> np.ndarray:
        """N x classes logits (float64) of N x D raw features."""
        z = (torch.from_numpy(x).double() - self.mean) / self.scale
        return (z @ self.weight.T + self.bias).numpy()


def fit_softmax(x: np.ndarray, y: np.ndarray, classes: int, l2: float) -> Softmax:
    """The L2-penalised multinomial logistic regression of ``y`` (N, in [0, classes)) on ``x`` (N x D)."""
    x64 = torch.from_numpy(x).double()
    mean, std = x64.mean(dim=0), x64.std(dim=0, unbiased=False)
    scale = torch.where(std > 0, std, torch.ones_like(std))  # a constant feature stays 0
    z, target = (x64 - mean) / scale, torch.from_numpy(np.asarray(y, dtype=np.int64))
    weight = torch.zeros(classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    solver = torch.optim.LBFGS([weight, bias], lr=1, max_iter=MAX_ITER, history_size=20, tolerance_grad=1e-9,
                               tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:
        solver.zero_grad()
        loss = F.cross_entropy(z @ weight.T + bias, target) + 0.5 * l2 * weight.square().sum()
        loss.backward()
        return loss

    solver.step(objective)
    return Softmax(mean, scale, weight.detach(), bias.detach())


def group_folds(clips: pd.DataFrame, folds: int, seed: int = 0) -> np.ndarray:
    """Fold (0 .. folds-1) of each manifest row (``clip_id``, ``label_index``, optional ``label``): whole
    groups, each class's clips spread evenly; a function of the rows' set and ``seed`` (not their order)."""
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
    keys = clip_groups(clips)
    labels = clips.label_index.to_numpy()
    rank = {k: i for i, k in enumerate(np.random.default_rng(seed).permutation(sorted(set(keys))))}
    members: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    counts = np.zeros((labels.max() + 1, folds), dtype=np.int64)
    fold_of: dict[str, int] = {}
    for cls in np.unique(labels):
        for key in sorted({keys[i] for i in np.flatnonzero(labels == cls)}, key=rank.__getitem__):
            if key not in fold_of:  # a movie's clips of an earlier class placed it already
                fold = int(np.lexsort((np.arange(folds), counts.sum(axis=0), counts[cls]))[0])
                fold_of[key] = fold
                np.add.at(counts, (labels[members[key]], fold), 1)
    return np.array([fold_of[k] for k in keys])


def cross_validate(x: np.ndarray, y: np.ndarray, classes: int, fold: np.ndarray,
                   l2_grid: Sequence[float]) -> pd.DataFrame:
    """Top-1 (%) on each held-out fold for each L2 (columns l2, fold, clips, top1)."""
    rows = []
    for l2 in l2_grid:
        for k in np.unique(fold):
            held = fold == k
            model = fit_softmax(x[~held], y[~held], classes, l2)
            top1 = 100.0 * float(np.mean(model.logits(x[held]).argmax(1) == y[held]))
            rows.append({"l2": l2, "fold": int(k), "clips": int(held.sum()), "top1": top1})
    return pd.DataFrame(rows)


def choose_l2(scores: pd.DataFrame) -> float:
    """The L2 of best clip-weighted CV top-1; a tie goes to the stronger L2 (the simpler model)."""
    pooled = scores.assign(hits=scores.top1 * scores.clips).groupby("l2")[["hits", "clips"]].sum()
    top1 = pooled.hits / pooled.clips
    return float(top1[top1 == top1.max()].index.max())


def cv_scores_path(out_path: str | Path) -> Path:
    """Where :func:`fit_probe` writes its cross-validation scores: ``predictions.h5`` -> ``predictions.cv.csv``."""
    return Path(out_path).with_suffix(".cv.csv")


def fit_probe(features_path: str | Path, manifest: str | Path, split: int, out_path: str | Path, *,
              l2_grid: Sequence[float] = L2_GRID, folds: int = 3, seed: int = 0, attrs: dict | None = None) -> float:
    """Fit the probe on split ``split``'s train clips, write the test clips' predictions to ``out_path`` (predict's
    format and attributes, plus ``protocol``, ``l2``, ``folds``, ``features``) and the CV scores per L2 and fold
    to :func:`cv_scores_path` (``chosen`` marks the L2 used); return test top-1 (%).

    ``attrs`` (e.g. dataset, init, data) go into the predictions file as predict's do. The classes are the
    manifest's (``label_index``); the model attributes are the features file's.
    """
    ids, labels, x, meta = read_features(features_path)
    table = pd.read_csv(manifest)
    classes = int(table.label_index.max()) + 1
    by_clip = table.set_index("clip_id")
    subset = by_clip[f"split{split}"].reindex(ids).to_numpy()
    train, test = subset == "train", subset == "test"
    if not train.any() or not test.any():
        raise RuntimeError(f"split {split} has {train.sum()} train and {test.sum()} test clips in {features_path}")
    train_rows = by_clip.loc[np.asarray(ids)[train]].reset_index()
    scores = cross_validate(x[train], labels[train], classes, group_folds(train_rows, folds, seed), l2_grid)
    l2 = choose_l2(scores)
    write_text_atomic(cv_scores_path(out_path), scores.assign(chosen=scores.l2 == l2).to_csv(index=False))
    logits = fit_softmax(x[train], labels[train], classes, l2).logits(x[test]).astype(np.float32)
    model = {k: meta[k] for k in MODEL_ATTRS if k in meta}  # features files from before some keys lack them
    write_predictions(out_path, [c for c, t in zip(ids, test) if t], labels[test], logits,
                      {**model, "split": split, "listed_clips": int((table[f"split{split}"] == "test").sum()),
                       "protocol": "fixed", "l2": l2, "folds": folds, "features": str(features_path),
                       **(attrs or {})})
    return float(100.0 * np.mean(logits.argmax(1) == labels[test]))
