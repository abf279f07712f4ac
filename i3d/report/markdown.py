"""The tables' markdown pages (``i3d.tables.render.document``: a heading, caption paragraphs, a pipe table,
list items in the index) as HTML, without a markdown dependency: only what those pages use is understood.

On a laptop screen a table should be the first thing under its heading: a long caption is folded (its lead
shows, the rest opens on a click) and a wide table scrolls sideways in its own box, not the whole page."""
from __future__ import annotations

import html
import re

_TABLE_LINK = re.compile(r"\[([^\]]*)\]\((table\d)\.md\)")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")
FOLD_CHARS = 240
"""A caption longer than this (characters of markdown, all paragraphs) is folded into a ``<details>``."""
LEAD_CHARS = 160
"""The folded caption's summary: its first sentence, cut at a word when it is longer than this."""


def inline(text: str) -> str:
    """One line of markdown text as escaped HTML: **bold**, `code`; a link to another table's page becomes a
    link to that table's section (``#tableN``), any other link its text (the page must not point outside)."""
    out = html.escape(text, quote=True)
    out = _TABLE_LINK.sub(r'<a href="#\2">\1</a>', out)
    out = _LINK.sub(r"\1", out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    return _CODE.sub(r"<code>\1</code>", out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    """A pipe table (header, ``|---|`` rule, rows) as an HTML table."""
    head = "".join(f"<th>{inline(c)}</th>" for c in _cells(lines[0]))
    body = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in _cells(line)) + "</tr>\n"
                   for line in lines[1:] if not re.fullmatch(r"\|?(\s*:?-+:?\s*\|)+\s*", line.strip()))
    return scrollable(f'<table class="data">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>')


def scrollable(table: str) -> str:
    """A table in a box of the page's width that scrolls sideways when the table is wider (``.scroll``)."""
    return f'<div class="scroll">{table}</div>'


def _balanced(text: str) -> bool:
    """Whether ``text`` closes every ``**`` and backtick it opens (a safe place to cut markdown)."""
    return text.count("**") % 2 == 0 and text.count("`") % 2 == 0


def lead(text: str) -> str:
    """The first sentence of a markdown paragraph, cut after a word when it is longer than ``LEAD_CHARS``;
    never inside bold or code."""
    for end in re.finditer(r"[.;:](?=\s|$)", text):
        if end.end() > LEAD_CHARS:
            break
        if _balanced(text[:end.end()]):
            return text[:end.end()]
    cuts = [m.start() for m in re.finditer(r"\s", text[:LEAD_CHARS + 1]) if _balanced(text[:m.start()])]
    return text[:cuts[-1]] if cuts else text


def _fold(paragraphs: list[str]) -> list[str]:
    """A caption's paragraphs as HTML: as they are when short, else in a ``<details>`` whose summary is the
    lead of the first and whose body is the rest."""
    if sum(map(len, paragraphs)) <= FOLD_CHARS:
        return [f"<p>{inline(p)}</p>" for p in paragraphs]
    summary = lead(paragraphs[0])
    rest = [paragraphs[0][len(summary):].strip(), *paragraphs[1:]]
    body = "\n".join(f"<p>{inline(p)}</p>" for p in rest if p)
    return [f"<details><summary>{inline(summary)} …</summary>\n{body}\n</details>"]


def markdown_to_html(text: str, heading_level: int = 3) -> str:
    """A table page as HTML: ``#`` headings at ``heading_level``, paragraphs, ``- `` lists, pipe tables; the
    paragraphs just before a table are its caption (folded when long)."""
    blocks: list[str] = []
    caption: list[str] = []  # paragraphs since the last other block
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            blocks += _fold(caption)
            caption = []
            start = i
            while i < len(lines) and lines[i].startswith("|"):
                i += 1
            blocks.append(_table(lines[start:i]))
            continue
        if not line.startswith(("- ", "#")):
            if line.strip():
                caption.append(line)
            i += 1
            continue
        blocks += [f"<p>{inline(p)}</p>" for p in caption]
        caption = []
        if line.startswith("- "):
            start = i
            while i < len(lines) and lines[i].startswith("- "):
                i += 1
            blocks.append("<ul>" + "".join(f"<li>{inline(item[2:])}</li>" for item in lines[start:i]) + "</ul>")
            continue
        if line.startswith("#"):
            level = heading_level + len(line) - len(line.lstrip("#")) - 1
            blocks.append(f"<h{level}>{inline(line.lstrip('#').strip())}</h{level}>")
        i += 1
    return "\n".join(blocks + [f"<p>{inline(p)}</p>" for p in caption])
