"""The tables' markdown pages (``i3d.tables.render.document``: a heading, caption paragraphs, a pipe table,
list items in the index) as HTML, without a markdown dependency: only what those pages use is understood."""
from __future__ import annotations

import html
import re

_TABLE_LINK = re.compile(r"\[([^\]]*)\]\((table\d)\.md\)")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


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
    return f'<table class="data">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>'


def markdown_to_html(text: str, heading_level: int = 3) -> str:
    """A table page as HTML: ``#`` headings at ``heading_level``, paragraphs, ``- `` lists, pipe tables."""
    blocks: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            start = i
            while i < len(lines) and lines[i].startswith("|"):
                i += 1
            blocks.append(_table(lines[start:i]))
            continue
        if line.startswith("- "):
            start = i
            while i < len(lines) and lines[i].startswith("- "):
                i += 1
            blocks.append("<ul>" + "".join(f"<li>{inline(item[2:])}</li>" for item in lines[start:i]) + "</ul>")
            continue
        if line.startswith("#"):
            level = heading_level + len(line) - len(line.lstrip("#")) - 1
            blocks.append(f"<h{level}>{inline(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            blocks.append(f"<p>{inline(line)}</p>")
        i += 1
    return "\n".join(blocks)
