"""Class alignment: a model's logit k means its k-th class, a manifest's ``label_index`` k its k-th; the two must
name the same class, or every accuracy is wrong without any error.

A model trained here learns the manifest's order, so they agree by construction. A released model (``i3d weights
import --labels``) keeps its own: DeepMind's ``label_map.txt``, alphabetical. Scoring it on Kinetics needs the data's
classes to be exactly those names in that order; a subset, another version (Kinetics-600) or another spelling fails
here, naming what differs, rather than being aligned by position.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

SHOWN = 5
"""Names listed per kind of difference in the error (the rest are counted)."""


class ClassMismatch(ValueError):
    """A model's classes are not the data's, in the same order."""


def manifest_classes(table: pd.DataFrame) -> list[str]:
    """The manifest's class names by ``label_index`` (0, 1, ...); rows without a class (index -1) are left out.
    ValueError when an index has two names or the indices have gaps."""
    labelled = table.loc[table.label_index >= 0, ["label_index", "label"]].drop_duplicates()
    if labelled.label_index.duplicated().any():
        index = int(labelled.label_index[labelled.label_index.duplicated()].iloc[0])
        raise ValueError(f"the manifest gives label_index {index} more than one class name")
    names = labelled.sort_values("label_index")
    if names.label_index.tolist() != list(range(len(names))):
        raise ValueError("the manifest's label_index values are not 0, 1, ... without gaps")
    return [str(n) for n in names.label]


def _listed(names: Sequence[str]) -> str:
    more = f" (+{len(names) - SHOWN} more)" if len(names) > SHOWN else ""
    return ", ".join(repr(n) for n in names[:SHOWN]) + more if names else "none"


def check_classes(model_classes: Sequence[str], data_classes: Sequence[str], model: str, data: str) -> None:
    """Raise :class:`ClassMismatch` (one line, naming ``model`` and ``data`` and the first names that differ) unless
    the model's classes are the data's, in the same order."""
    model_classes, data_classes = list(model_classes), list(data_classes)
    if model_classes == data_classes:
        return
    missing = [c for c in model_classes if c not in set(data_classes)]
    extra = [c for c in data_classes if c not in set(model_classes)]
    head = (f"{model} has {len(model_classes)} classes and {data} {len(data_classes)}, not the same names in the same "
            "order (a model's logits are never aligned by position)")
    if missing or extra:
        raise ClassMismatch(f"{head}: missing from the data: {_listed(missing)}; not in the model: {_listed(extra)}")
    at = next(i for i, (m, d) in enumerate(zip(model_classes, data_classes)) if m != d)
    raise ClassMismatch(f"{head}: the same names in another order, first at position {at}: the model has "
                        f"{model_classes[at]!r}, the data {data_classes[at]!r}")
