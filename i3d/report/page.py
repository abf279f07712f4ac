"""The report page: a header (when, from what), what a reader wants first (Table 2 as a figure, the verdicts on
pre-training), the contents, the sections; one self-contained HTML file with its images in a folder beside it,
linked by relative paths so the pair can be copied or served anywhere. It fits a laptop screen (1280 px): wide
tables scroll in their own box, images shrink to the page's width, long captions are folded.

Figures are drawn on ``matplotlib.figure.Figure`` objects (the Agg renderer, no pyplot): no display is needed
(workflow jobs, SSH) and no global figure state is left open.
"""
from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

from ..atomic import write_text_atomic
from . import sections

STYLE = """
body { font-family: sans-serif; margin: 1.5em; max-width: 1400px; color: #222; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.5em 0 1em; }
table.data { border-collapse: collapse; font-size: 0.85em; }
table.data th, table.data td { border: 1px solid #bbb; padding: 2px 6px; text-align: left; }
table.data td { white-space: nowrap; }
table.data thead { background: #eee; }
table.data tr > :first-child { position: sticky; left: 0; background: #fff; }
table.data thead tr > :first-child { background: #eee; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; }
figure { margin: 4px; max-width: 100%; }
img { max-width: 100%; height: auto; }
figcaption { font-size: 0.8em; max-width: 520px; }
code { overflow-wrap: anywhere; }
details { font-size: 0.9em; max-width: 60em; }
summary { cursor: pointer; }
.note { color: #777; font-style: italic; }
.standin { background: #fd8; padding: 0 4px; border-radius: 3px; font-size: 0.9em; }
section.table { border-top: 1px solid #ddd; }
#glance { background: #f6f8fa; padding: 0.3em 0.8em; border-radius: 4px; }
"""


def render(results: Path, images: sections.Images, examples: int, frames: int, flow_bound: float) -> str:
    """The whole page's HTML; the images are written on the way."""
    standin = sections.standin_datasets(results)
    parts = [sections.tables_section(results, images),
             sections.pretraining_section(results, images, standin),
             sections.curves_section(results, images, standin),
             sections.confusion_section(results, images),
             sections.examples_section(results, images, examples, frames, flow_bound, standin),
             sections.stage_times_section(results, images)]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    contents = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a> ({s.items})</li>' for s in parts)
    names = ", ".join(sections.dataset_name(d) for d in sorted(standin))
    warning = (f'<p><span class="standin">stand-in data</span> {html.escape(names)}: these results come from the '
               "procedurally rendered stand-in datasets, not the real ones (marked on each figure).</p>"
               if standin else "")
    glance = "\n".join(part for s in parts for part in s.glance)
    body = "\n".join(f'<h2 id="{s.anchor}">{html.escape(s.title)}</h2>\n' + "\n".join(s.body) for s in parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>I3D reproduction: '
            f"{html.escape(results.name)} report</title>\n<style>{STYLE}</style></head><body>\n"
            f"<h1>I3D reproduction: run report</h1>\n<p>Generated {when} from <code>{html.escape(str(results))}"
            f"</code>.</p>\n{warning}\n<section id=\"glance\">\n<h2>At a glance</h2>\n{glance}\n</section>\n"
            f"<p>Contents (items shown):</p>\n<ul>{contents}</ul>\n{body}\n</body></html>\n")


def write_report(results: str | Path, out: str | Path, flow_bound: float = 20.0, examples: int = 3,
                 frames: int = 4) -> Path:
    """Write the report of the results tree ``results`` to ``out`` (HTML) and its images to the folder
    ``<out without .html>/`` beside it; return ``out``.

    ``examples`` clips per dataset with ``frames`` frames each show the flow; ``flow_bound`` is the quantisation
    bound for flow shards that do not record theirs. The page is written last and atomically: a killed run
    leaves the previous page (whose images may have been replaced) or the new one, never half of one."""
    results, out = Path(results), Path(out)
    if out.suffix != ".html":
        raise ValueError(f"{out}: the report's name must end in .html (its image folder is the name without it)")
    if not results.is_dir():
        raise FileNotFoundError(f"no results folder {results}")
    folder = out.with_suffix("")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):  # images of models no longer in the tree would linger
        old.unlink()
    page = render(results.resolve(), sections.Images(folder.resolve(), out.parent.resolve()), examples, frames,
                  flow_bound)
    write_text_atomic(out, page)
    return out
