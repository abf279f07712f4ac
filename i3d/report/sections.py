"""The report's sections, each from its part of a results tree: HTML (all text escaped) plus the images it
links, written into the report's image folder. A missing or unreadable input becomes a short note, never an
error: the report is most useful while a run is still incomplete."""
from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import h5py
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.image import imsave

from ..evaluate.predict import read_predictions
from ..tables.render import DATASET_NAMES
from ..tables.runs import topk_accuracy
from .confusion import confusion_counts, plot_confusion
from .curves import plot_curves, read_metrics
from .examples import write_examples
from .flow_colour import wheel_legend
from .markdown import markdown_to_html, scrollable
from .pretraining import comparisons, plot_comparison, verdict
from .stage_times import stage_times
from .table2_figure import plot_table2, read_table2

PROTOCOLS = ("original", "fixed", "fullft")
"""Table 4's order: trained on the dataset, probe on frozen Kinetics features, fine-tuned from Kinetics."""
TABLES = ("tables", "table1", "table2", "table3", "table4", "table5")
UNREADABLE = (OSError, ValueError, KeyError, IndexError, pd.errors.ParserError)
"""What a damaged or half-written input raises; it is reported on the page, and the rest still shows."""


@dataclass
class Section:
    """One part of the page: its anchor, heading, body, how many items it shows (for the contents), and what
    of it the page shows first, at a glance."""

    anchor: str
    title: str
    body: list[str] = field(default_factory=list)
    items: int = 0
    glance: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Images:
    """Where the report's images go, and how the page (in ``page_dir``) links them."""

    folder: Path
    page_dir: Path

    def save_name(self, name: str) -> Path:
        """A file in the image folder for ``name``, with characters that need quoting in a URL replaced."""
        return self.folder / re.sub(r"[^A-Za-z0-9_.-]", "_", name)

    def tag(self, path: Path, alt: str) -> str:
        """An ``<img>`` linking ``path`` relative to the page."""
        rel = path.relative_to(self.page_dir).as_posix()
        return f'<img src="{quote(rel)}" alt="{html.escape(alt)}">'


def note(text: str) -> str:
    """A short remark on the page (e.g. what is missing and why)."""
    return f'<p class="note">{html.escape(text)}</p>'


def figure(img: str, caption: str, standin: bool = False, link: str = "") -> str:
    """An image with a caption (then ``link``, HTML made by the caller), marked when it comes from stand-in
    data."""
    mark = ' <span class="standin">stand-in data</span>' if standin else ""
    return f"<figure>{img}<figcaption>{html.escape(caption)}{link}{mark}</figcaption></figure>"


def data_table(df: pd.DataFrame) -> str:
    """A data frame as a table of the page, in a box that scrolls sideways when the table is wide."""
    return scrollable(df.to_html(index=False, classes="data", border=0, na_rep="–"))


def datasets(results: Path) -> list[str]:
    """Dataset folders of the results tree (those with a manifest or a split), in the paper's order."""
    found = [d.name for d in results.iterdir()
             if d.is_dir() and ((d / "manifest.csv").exists() or any(d.glob("split*")))]
    order = list(DATASET_NAMES)
    return sorted(found, key=lambda d: (order.index(d) if d in order else len(order), d))


def dataset_name(dataset: str) -> str:
    """The paper's spelling of a dataset's name."""
    return DATASET_NAMES.get(dataset, dataset)


def class_names(results: Path, dataset: str, count: int) -> list[str]:
    """Label index -> class name from the dataset's manifest; the index itself where the manifest has none."""
    names = [str(i) for i in range(count)]
    try:
        manifest = pd.read_csv(results / dataset / "manifest.csv", usecols=["label", "label_index"])
    except UNREADABLE:
        return names
    for label, index in manifest.drop_duplicates("label_index").itertuples(index=False):
        if 0 <= int(index) < count:
            names[int(index)] = str(label)
    return names


def model_runs(results: Path, dataset: str, filename: str) -> list[tuple[str, Path]]:
    """(``split<N> <protocol> <arch>-<stream>-<init>``, path) of every ``filename`` under the dataset's splits:
    Original models directly in the split folder, transfer ones in ``fixed/`` and ``fullft/``."""
    runs = []
    for path in (results / dataset).glob(f"split*/**/{filename}"):
        parts = path.relative_to(results / dataset).parts
        protocol = parts[1] if len(parts) == 4 else "original"
        runs.append((f"{parts[0]} {protocol} {path.parent.name}", path))
    return sorted(runs, key=lambda run: (run[0].split()[0], PROTOCOLS.index(run[0].split()[1])
                                         if run[0].split()[1] in PROTOCOLS else len(PROTOCOLS), run[0]))


def standin_datasets(results: Path) -> set[str]:
    """Datasets with at least one prediction file recorded as made from stand-in data."""
    marked = set()
    for dataset in datasets(results):
        for _, path in model_runs(results, dataset, "predictions.h5"):
            try:
                with h5py.File(path, "r", locking=False) as f:
                    if f.attrs.get("data") == "stand-in":
                        marked.add(dataset)
                        break
            except UNREADABLE:
                continue
    return marked


def tables_section(results: Path, images: Images) -> Section:
    """Every table page that exists (``tables.md`` is the index), as HTML tables with their captions; at a
    glance, Table 2 as a figure."""
    section = Section("tables", "Tables", glance=table2_glance(results, images))
    for name in TABLES:
        md = results / f"{name}.md"
        if not md.exists():
            section.body.append(note(f"{md.name}: not made yet."))
            continue
        section.body.append(f'<section id="{name}" class="table">{markdown_to_html(md.read_text())}</section>')
        section.items += 1
    return section


def table2_glance(results: Path, images: Images) -> list[str]:
    """Our top-1 beside the paper's per architecture and stream (``table2.csv``), or a note why not."""
    path = results / "table2.csv"
    if not path.exists():
        return [note("table2.csv: not made yet.")]
    try:
        df = read_table2(path)
    except UNREADABLE as exc:
        return [note(f"table2.csv: unreadable ({exc}).")]
    if df.empty:
        return [note("table2.csv: no models scored yet.")]
    out = images.save_name("table2.png")
    plot_table2(df, out)
    caption = ("Table 2: top-1 % on each dataset's test clips, ours (blue) beside the paper's (grey; none where "
               "the paper has no number for that row, e.g. on splits 2 and 3). Cells and notes: ")
    return [figure(images.tag(out, "Table 2: ours beside the paper"), caption, (df.data == "stand-in").any(),
                   '<a href="#table2">Table 2</a>.')]


Drawing = tuple[Path, str, bool]
"""A figure drawn for one model's file: the image, its caption, whether it comes from stand-in data."""


def per_model_figures(section: Section, results: Path, images: Images, filename: str, missing: str,
                      draw: Callable[[str, str, Path], Drawing]) -> Section:
    """Fill ``section`` with one figure per ``filename`` of each dataset's models, drawn by ``draw(dataset,
    title, path)``; a dataset with none gets the note ``missing``, an unreadable file its own note."""
    for dataset in datasets(results):
        runs = model_runs(results, dataset, filename)
        section.body.append(f"<h3>{html.escape(dataset_name(dataset))}</h3>")
        if not runs:
            section.body.append(note(f"{dataset}: {missing}"))
            continue
        figures = []
        for title, path in runs:
            try:
                out, caption, standin = draw(dataset, title, path)
            except UNREADABLE as exc:
                figures.append(note(f"{path.relative_to(results)}: unreadable ({exc})."))
                continue
            figures.append(figure(images.tag(out, title), caption, standin))
            section.items += 1
        section.body.append('<div class="grid">' + "".join(figures) + "</div>")
    return section


def curves_section(results: Path, images: Images, standin: set[str]) -> Section:
    """Loss and top-1 per epoch of every trained model (``metrics.csv``), grouped per dataset."""
    def draw(dataset: str, title: str, path: Path) -> Drawing:
        metrics = read_metrics(path)
        out = images.save_name(f"curves-{dataset}-{title.replace(' ', '-')}.png")
        plot_curves(metrics, f"{dataset} {title}", out)
        kept = metrics.epoch[metrics.selected].tolist()
        return out, f"{title}: {len(metrics)} epochs, selected {kept[0] if kept else 'none'}", dataset in standin

    return per_model_figures(Section("curves", "Training and validation curves"), results, images, "metrics.csv",
                             "no metrics.csv yet (no model trained).", draw)


def pretraining_section(results: Path, images: Images, standin: set[str]) -> Section:
    """Models that differ only in their starting weights on one figure each, and a table of what each start
    reached; at a glance, a verdict per pre-trained start: did it beat the comparison's first start on test?"""
    section = Section("pretraining", "Does pre-training help?")
    verdicts = []
    section.body.append("<p>Each figure overlays models of one dataset, architecture and stream that differ only in "
                        "where their weights started. Top-1 on the test split is from the epoch chosen on "
                        "validation; the first epoch's validation top-1 shows a head start.</p>")
    for dataset in datasets(results):
        found = comparisons(results / dataset)
        if not found:
            continue
        section.body.append(f"<h3>{html.escape(dataset_name(dataset))}</h3>")
        rows, figures = [], []
        for comparison in found:
            title = f"{comparison.split} {comparison.model}"
            try:
                curves = {start.label: read_metrics(start.metrics) for start in comparison.starts}
                out = images.save_name(f"pretraining-{dataset}-{title.replace(' ', '-')}.png")
                plot_comparison(curves, f"{dataset} {title}", out)
            except UNREADABLE as exc:
                figures.append(note(f"{dataset} {title}: unreadable ({exc})."))
                continue
            tests = [_test_top1(start.predictions) for start in comparison.starts]
            for start, test in zip(comparison.starts, tests):
                metrics = curves[start.label]
                rows.append({"model": title, "start": start.label, "epochs": len(metrics),
                             "val top-1, epoch 1": float(metrics.val_top1.iloc[0]),
                             "val top-1, chosen": float(metrics.val_top1[metrics.selected].max()),
                             "test top-1": test})
            first = comparison.starts[0]
            verdicts += [{"dataset": dataset_name(dataset), "model": title, "pre-trained start": start.label,
                          "against": first.label, "helps? (test top-1)": verdict(test, tests[0])}
                         for start, test in zip(comparison.starts[1:], tests[1:])]
            figures.append(figure(images.tag(out, title), title, dataset in standin))
            section.items += 1
        section.body.append(data_table(pd.DataFrame(rows).round(1)))
        section.body.append('<div class="grid">' + "".join(figures) + "</div>")
    if not section.items:
        section.body.append(note("no two models of one architecture and stream with different starts yet."))
    section.glance = [f'<h3><a href="#pretraining">{html.escape(section.title)}</a></h3>']
    if not verdicts:
        section.glance.append(note("no two models of one architecture and stream with different starts yet."))
        return section
    section.glance += ["<p>Each pre-trained start against the comparison's first (from scratch on Kinetics; "
                       "trained on the dataset alone, Original, on UCF-101 and HMDB-51); tie: equal to one "
                       "decimal.</p>", data_table(pd.DataFrame(verdicts))]
    return section


def _test_top1(predictions: Path) -> float:
    """Top-1 % of a predictions file, NaN when it is missing or unreadable (the table shows a dash)."""
    try:
        _, labels, logits = read_predictions(predictions)
    except UNREADABLE:
        return float("nan")
    return topk_accuracy(labels, logits)


def confusion_section(results: Path, images: Images) -> Section:
    """A row-normalised confusion matrix per prediction file (RGB+Flow Fixed: one per stream's probe)."""
    def draw(dataset: str, title: str, path: Path) -> Drawing:
        _, labels, logits = read_predictions(path)
        with h5py.File(path, "r", locking=False) as f:
            standin = f.attrs.get("data") == "stand-in"
        names = class_names(results, dataset, logits.shape[1])
        top1 = topk_accuracy(labels, logits)
        out = images.save_name(f"confusion-{dataset}-{title.replace(' ', '-')}.png")
        plot_confusion(confusion_counts(labels, logits), names,
                       f"{dataset} {title}\ntop-1 {top1:.1f}% ({len(labels)} clips)", out)
        return out, f"{title}: top-1 {top1:.1f}% on {len(labels)} clips", standin

    return per_model_figures(Section("confusion", "Confusion matrices"), results, images, "predictions.h5",
                             "no predictions.h5 yet.", draw)


def examples_section(results: Path, images: Images, count: int, frames: int, flow_bound: float,
                     standin: set[str]) -> Section:
    """A few clips per dataset: frames over their TV-L1 flow in the Middlebury colours, and the colour key."""
    section = Section("examples", "Frames and TV-L1 flow")
    legend = images.save_name("flow-colour-wheel.png")
    imsave(legend, wheel_legend(96))
    section.body.append(figure(images.tag(legend, "flow colour key"),
                               "Colour key: hue = direction of motion (right red, down yellow, left cyan, up blue), "
                               "saturation = speed (white: still), relative to the largest motion in each strip."))
    for dataset in datasets(results):
        section.body.append(f"<h3>{html.escape(dataset_name(dataset))}</h3>")
        rgb = sorted((results / dataset / "rgb").glob("shard*.h5"))
        flow = sorted((results / dataset / "flow").glob("shard*.h5"))
        if not rgb or not flow:
            section.body.append(note(f"{dataset}: no {'RGB' if not rgb else 'flow'} shards yet."))
            continue
        try:
            shown = write_examples(rgb, flow, images.folder, f"examples-{dataset}", count, frames, flow_bound)
        except UNREADABLE as exc:
            section.body.append(note(f"{dataset}: shards unreadable ({exc})."))
            continue
        if not shown:
            section.body.append(note(f"{dataset}: no clip has both frames and flow."))
        names = class_names(results, dataset, max([e.label + 1 for e in shown], default=0))
        for e in shown:
            caption = (f"{e.clip_id} ({names[e.label]}), frames {', '.join(map(str, e.frames))}: frame above, "
                       f"flow to the next frame below (full colour = {e.scale:.1f} px)")
            section.body.append(figure(images.tag(e.image, e.clip_id), caption, dataset in standin))
            section.items += 1
    return section


def stage_times_section(results: Path, images: Images) -> Section:
    """Job seconds per stage from Snakemake's benchmark files: a table and a bar chart."""
    section = Section("stages", "Time per stage")
    try:
        df = stage_times(results / "benchmarks")
    except UNREADABLE as exc:
        section.body.append(note(f"benchmark files unreadable ({exc})."))
        return section
    if df.empty:
        section.body.append(note("no benchmark files under benchmarks/ yet."))
        return section
    section.items = len(df)
    out = images.save_name("stage-times.png")
    fig = Figure(figsize=(6.4, 0.35 * len(df) + 1.0), dpi=80)
    ax = fig.subplots()
    ax.barh(df.stage, df.job_seconds, color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlabel("job seconds (summed over the stage's jobs)")
    fig.tight_layout()  # one figure: the stage names' width is not known in advance
    fig.savefig(out)
    total = df.job_seconds.sum()
    section.body += [data_table(df.round(1)),
                     f"<p>Total: {total:.0f} job seconds ({np.round(total / 3600, 2)} h); jobs that ran side by side "
                     "overlap, so the wall time is shorter.</p>",
                     figure(images.tag(out, "job seconds per stage"), "Job seconds per stage")]
    return section
