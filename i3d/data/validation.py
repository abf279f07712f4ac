"""A validation set carved out of a split's training clips, so that no choice (schedule, checkpoint
selection) ever looks at the test split.

The carve is a pure function of the manifest: per class, the training clips' groups in the order of a
stable hash of their key go to validation until the class's share is reached (at least one group, never
the last one, so every class keeps training clips and, where it has two groups or more, appears in
validation). A group holds clips that must stay on one side, or validation would score clips of a video
the model trained on:

- UCF-101 ``v_<Class>_g<XX>_c<YY>``: the group ``gXX`` (clips cut from one long video; the official
  splits are group-disjoint too);
- HMDB-51 ``<title>_<class>_<tags>_<k>``: the source movie's title (its clips differ in ``k``); per class,
  as the carve is stratified: a movie's clips of another action may train (they show another label);
- Kinetics ``<youtube id>_<start>_<end>`` and anything else: the clip itself (one clip per video).

A manifest without the ``label`` (class name) column groups HMDB-style names per clip.
"""
from __future__ import annotations

import hashlib
import re

import pandas as pd

_UCF = re.compile(r"^v_(?P<cls>.+)_g(?P<group>\d+)_c\d+$")
_KINETICS = re.compile(r"^.{11}_\d{6}_\d{6}$")


def group_key(clip_id: str, label: str) -> str:
    """The key of the clips that share a source video with ``clip_id`` (see the module docstring)."""
    if _KINETICS.match(clip_id):
        return clip_id
    ucf = _UCF.match(clip_id)
    if ucf:
        return f"{ucf['cls']}_g{ucf['group']}"
    title, sep, _ = clip_id.rpartition(f"_{label}_")
    return title if sep and title else clip_id


def clip_groups(clips: pd.DataFrame) -> list[str]:
    """Each manifest row's :func:`group_key` (rows without a ``label`` column: HMDB-style names per clip)."""
    labels = clips["label"].astype(str) if "label" in clips else [""] * len(clips)
    return [group_key(clip_id, label) for clip_id, label in zip(clips.clip_id, labels)]


def _stable_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def carve_validation(manifest: pd.DataFrame, split: int, fraction: float) -> set[str]:
    """Clip ids of split ``split``'s training clips that validate instead of training (``fraction`` of each
    class, in whole groups; ``0`` carves nothing)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"the validation fraction must be in [0, 1), got {fraction}")
    if fraction == 0:
        return set()
    train = manifest[manifest[f"split{split}"] == "train"]
    chosen: set[str] = set()
    for _, clips in train.groupby("label_index", sort=True):
        groups: dict[str, list[str]] = {}
        for clip_id, key in zip(clips.clip_id, clip_groups(clips)):
            groups.setdefault(key, []).append(clip_id)
        target = fraction * len(clips)
        taken = 0
        for key in sorted(groups, key=_stable_hash)[:-1]:  # the last group always trains
            if taken and taken + len(groups[key]) > target:
                break
            chosen.update(groups[key])
            taken += len(groups[key])
    return chosen
