"""Read each dataset's native annotation format into one manifest table.

The manifest has one row per clip: ``clip_id, label, label_index, path, time_start, time_end, split1..3,
status, reason``. ``splitN`` is ``train``, ``test`` or ``none``. The stand-in datasets are written in the
real formats, so the same parsers serve real downloads placed on disk and the rendered stand-ins.
"""
from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import DATASETS

SPLIT_COLUMNS = ("split1", "split2", "split3")
MANIFEST_COLUMNS = ("clip_id", "label", "label_index", "path", "time_start", "time_end", *SPLIT_COLUMNS,
                    "status", "reason")


def kinetics_clip_id(youtube_id: str, start: int, end: int) -> str:
    """The naming every Kinetics tool uses: ``<youtube_id>_<start:06d>_<end:06d>``."""
    return f"{youtube_id}_{int(start):06d}_{int(end):06d}"


KINETICS_SETS = {"test": "held-out test", "val": "validation"}
"""The words the tables use for the Kinetics list a manifest scores (``test_set`` of :func:`scored_set`)."""


def _kinetics_lists(root: Path, test: bool) -> dict[str, str]:
    """Manifest role per annotation file: the labelled ``test.csv`` is the test split and ``validate.csv`` the
    model-selection set (``val``); without labels there (the 2017 file, Kinetics-600's), or with ``test``
    False (its clips were not fetched), ``validate.csv`` plays the test split, as in every public reproduction
    before CVDF published the test labels (2021)."""
    path = root / "annotations" / "test.csv"
    if test and path.is_file():
        with path.open(newline="") as fh:
            if "label" in (csv.DictReader(fh).fieldnames or []):
                return {"train.csv": "train", "validate.csv": "val", "test.csv": "test"}
    return {"train.csv": "train", "validate.csv": "test"}


def _kinetics(root: Path, test: bool = True) -> pd.DataFrame:
    """``annotations/{train,validate,test}.csv`` (``label,youtube_id,time_start,time_end,split[,is_cc]``; labels
    with spaces quoted or not) + ``videos/<youtube_id>.mp4`` or already-trimmed ``clips/<clip id>.mp4``.

    Roles per file: :func:`_kinetics_lists`. Class index = position in the sorted set of training labels.
    """
    rows = []
    for name, split in _kinetics_lists(root, test).items():
        path = root / "annotations" / name
        if not path.is_file():
            raise FileNotFoundError(f"Kinetics annotation file not found: {path}")
        with path.open(newline="") as fh:
            for rec in csv.DictReader(fh):
                start, end = int(float(rec["time_start"])), int(float(rec["time_end"]))
                video = root / "videos" / f"{rec['youtube_id']}.mp4"
                trimmed = root / "clips" / f"{kinetics_clip_id(rec['youtube_id'], start, end)}.mp4"
                # an already-trimmed clip (as the CVDF mirror ships them) needs no time window
                use_trimmed = trimmed.is_file() and not video.is_file()
                rows.append(dict(clip_id=kinetics_clip_id(rec["youtube_id"], start, end), label=rec["label"],
                                 path=str(trimmed if use_trimmed else video),
                                 time_start=float("nan") if use_trimmed else start,
                                 time_end=float("nan") if use_trimmed else end,
                                 split1=split, split2="none", split3="none"))
    df = pd.DataFrame(rows)
    classes = sorted(df.loc[df.split1 == "train", "label"].unique())
    return df.assign(label_index=df.label.map({c: i for i, c in enumerate(classes)}).fillna(-1).astype(int))


def _ucf101(root: Path) -> pd.DataFrame:
    """``UCF-101/<Class>/v_*.avi`` + ``ucfTrainTestlist/{classInd,trainlist0N,testlist0N}.txt``."""
    lists = root / "ucfTrainTestlist"
    classes = {}
    for line in (lists / "classInd.txt").read_text().split("\n"):
        if line.strip():
            index, name = line.split()
            classes[name] = int(index) - 1
    membership: dict[str, dict[str, str]] = {}
    for n in (1, 2, 3):
        for kind in ("train", "test"):
            for line in (lists / f"{kind}list0{n}.txt").read_text().split("\n"):
                if line.strip():
                    rel = line.split()[0]
                    membership.setdefault(rel, {})[f"split{n}"] = kind
    rows = []
    for rel, splits in sorted(membership.items()):
        label = rel.split("/")[0]
        rows.append(dict(clip_id=Path(rel).stem, label=label, label_index=classes[label],
                         path=str(root / "UCF-101" / rel), time_start=float("nan"), time_end=float("nan"),
                         **{c: splits.get(c, "none") for c in SPLIT_COLUMNS}))
    return pd.DataFrame(rows)


def _hmdb51(root: Path) -> pd.DataFrame:
    """``hmdb51_org/<class>/*.avi`` + ``testTrainMulti_7030_splits/<class>_test_split<N>.txt`` (1 train, 2 test, 0 unused)."""
    split_dir = root / "testTrainMulti_7030_splits"
    flags = {"1": "train", "2": "test", "0": "none"}
    membership: dict[tuple[str, str], dict[str, str]] = {}
    for path in sorted(split_dir.glob("*_test_split[123].txt")):
        label, n = path.stem.rsplit("_test_split", 1)
        for line in path.read_text().split("\n"):
            if line.strip():
                name, flag = line.split()
                membership.setdefault((label, name), {})[f"split{n}"] = flags[flag]
    if not membership:
        raise FileNotFoundError(f"no HMDB-51 split files in {split_dir}")
    classes = {c: i for i, c in enumerate(sorted({label for label, _ in membership}))}
    rows = [dict(clip_id=Path(name).stem, label=label, label_index=classes[label],
                 path=str(root / "hmdb51_org" / label / name), time_start=float("nan"), time_end=float("nan"),
                 **{c: splits.get(c, "none") for c in SPLIT_COLUMNS})
            for (label, name), splits in sorted(membership.items())]
    return pd.DataFrame(rows)


_READERS = {"kinetics400": _kinetics, "ucf101": _ucf101, "hmdb51": _hmdb51}


def read_annotations(dataset: str, root: str | Path, *, kinetics_test: bool = True) -> pd.DataFrame:
    """Manifest rows for a dataset in its native layout under ``root``; missing videos get status ``missing``.

    ``kinetics_test``: score Kinetics on its labelled test list where there is one (False: on validation).
    """
    if dataset not in _READERS:
        raise ValueError(f"unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
    df = _kinetics(Path(root), kinetics_test) if dataset == "kinetics400" else _READERS[dataset](Path(root))
    exists = df.path.map(lambda p: Path(p).is_file())
    df["status"] = exists.map({True: "ok", False: "missing"})
    df["reason"] = [("" if ok else f"video file not found: {p}") for ok, p in zip(exists, df.path)]
    df = df.sort_values("clip_id", kind="stable").drop_duplicates("clip_id").reset_index(drop=True)
    return df[list(MANIFEST_COLUMNS)]


def scored_set(dataset: str, manifest: pd.DataFrame, split: int) -> str:
    """What the test split of ``manifest`` is, in the tables' words: Kinetics' labelled test list (``held-out
    test``: its validation list is then the ``val`` rows) or its validation list; other datasets' split lists."""
    if dataset == "kinetics400":
        return KINETICS_SETS["test" if (manifest[f"split{split}"] == "val").any() else "val"]
    return f"split {split} test"


def select_subset(manifest: pd.DataFrame, classes: Sequence[str] | int | None = None,
                  max_per_class: int | None = None) -> pd.DataFrame:
    """A deterministic subset, so a user with 50 GB rather than 450 GB can still run the real pipeline.

    ``classes``: class names to keep, or a number *K* for the first *K* training classes in sorted order; ``None``
    keeps all. ``max_per_class``: at most this many training and this many test clips per class in each split
    (the first by clip id, so the same clips are chosen on every run and by every download job); a clip kept
    for one split but beyond the cap in another is ``none`` there, and one within no split's cap is dropped.
    Class indices are renumbered 0..K-1.
    """
    df = manifest
    if classes is not None:
        known = sorted(df.label.unique())
        wanted = known[:classes] if isinstance(classes, int) else list(classes)
        unknown = sorted(set(wanted) - set(known))
        if unknown:
            raise ValueError(f"subset classes not in the annotations: {', '.join(unknown[:5])}"
                             f"{' ...' if len(unknown) > 5 else ''}")
        df = df[df.label.isin(wanted)]
    if max_per_class is not None:
        df = _cap_per_split(df, max_per_class)
    labels = sorted(df.loc[df.label_index >= 0, "label"].unique())
    index = {c: i for i, c in enumerate(labels)}
    df = df.assign(label_index=df.label.map(index).fillna(-1).astype(int))
    return df.sort_values("clip_id", kind="stable").reset_index(drop=True)


def _cap_per_split(df: pd.DataFrame, cap: int) -> pd.DataFrame:
    """Per split column, the first ``cap`` clips by id of each (class, role: train / val / test) keep their role
    there; the others become ``none`` in that split. Capping each split on its own: a clip's roles differ between
    splits (UCF-101's groups rotate through the test split), so capping per role combination kept several
    times ``cap`` per class in a split."""
    df = df.sort_values("clip_id", kind="stable")
    kept = pd.Series(False, index=df.index)
    for column in SPLIT_COLUMNS:
        role = df[column].astype(str)
        member = role.isin(["train", "val", "test"])  # val: Kinetics' official list when its test list is scored
        within = df.groupby(["label", role], sort=False).cumcount() < cap
        df = df.assign(**{column: role.where(within | ~member, "none")})
        kept |= member & within
    return df[kept]


def shard_rows(manifest: pd.DataFrame, shard: int, num_shards: int) -> pd.DataFrame:
    """The clips of one shard: a contiguous block of the clip-id-sorted list.

    A pure function of the annotation list and the (configured) shard count, so the DAG is static before
    anything is downloaded, and adding a clip moves few clips between shards.
    """
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} out of range 0..{num_shards - 1}")
    ordered = manifest.sort_values("clip_id", kind="stable").reset_index(drop=True)
    n = len(ordered)
    return ordered.iloc[shard * n // num_shards:(shard + 1) * n // num_shards]
