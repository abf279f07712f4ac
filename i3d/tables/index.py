"""``results/tables.md``: the five tables, what each shows and what data its numbers of ours came from."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..atomic import write_text_atomic

DESCRIPTIONS = {
    "table1": "parameters and temporal input sizes per architecture.",
    "table2": "architecture comparison: top-1 on UCF-101, HMDB-51 and Kinetics per stream, trained on each dataset.",
    "table3": "Kinetics top-1 / top-5, trained from scratch vs ImageNet→Kinetics.",
    "table4": "UCF-101 and HMDB-51 split 1: Original vs Fixed (probe on frozen Kinetics features) vs Full-FT "
              "(fine-tuned from Kinetics), with and without ImageNet.",
    "table5": "UCF-101 and HMDB-51, mean over the three splits, of Kinetics models fine-tuned, beside the state of "
              "the art the paper quotes.",
}


def data_used(name: str, csv: Path) -> str:
    """What the table's numbers of ours came from, read off its tidy CSV."""
    if name == "table1":
        return "the model definitions (no data)"
    df = pd.read_csv(csv)
    ours = df[df.top1.notna()]
    if ours.empty:
        return "none run, the paper's numbers only"
    kinds = [kind for kind in ("real", "stand-in") if (ours.data == kind).any()]
    text = f"{len(ours)} number{'' if len(ours) == 1 else 's'}, from " + " and ".join(f"{k} data" for k in kinds)
    if "imagenet_source" in ours and (ours.imagenet_source == "stand-in").any():
        text += "; some from the offline ImageNet stand-in weights (‡)"
    if "kinetics_source" in ours and (ours.kinetics_source == "released").any():
        text += "; some from released Kinetics weights (§)"
    return text


def write_index(out_md: str | Path, tables: Mapping[str, str | Path]) -> str:
    """Write ``out_md`` linking each table's markdown (``tables``: name such as ``table3`` -> its ``.md``,
    whose tidy ``.csv`` sits beside it) with a one-line description and the data it came from."""
    out_md = Path(out_md)
    unknown = set(tables) - set(DESCRIPTIONS)
    if unknown:
        raise ValueError(f"no description for {sorted(unknown)}; known tables: {list(DESCRIPTIONS)}")
    lines = ["# The paper's tables, reproduced", "",
             ("Each table puts our numbers beside the paper's (**ours (paper)**) and says in its caption how they "
             "were obtained; each has a tidy `.csv` beside its `.md`."), ""]
    for name in sorted(tables, key=list(DESCRIPTIONS).index):
        md = Path(tables[name]).with_suffix(".md")
        link = Path(os.path.relpath(md, out_md.parent)).as_posix()
        number = name.removeprefix("table")
        ours = data_used(name, md.with_suffix(".csv"))
        lines.append(f"- [Table {number}]({link}): {DESCRIPTIONS[name]} Ours: {ours}.")
    text = "\n".join(lines) + "\n"
    write_text_atomic(out_md, text)
    return text
