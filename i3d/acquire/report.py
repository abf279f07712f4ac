"""Download reports: one row per clip or archive, what happened to it and why, written by every download job.

Each job writes its own table (a Snakemake output, so jobs stay independent); the ``download_report`` rule
concatenates them into ``results/<dataset>/download_report.csv``. The statuses are the counts a user needs
after a night of downloading: what arrived now, what was there already, what is gone for good, and what a
rerun may still get.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path

REPORT_COLUMNS = ("item", "kind", "status", "reason", "source")
"""``item``: a clip id or an archive's file name; ``kind``: ``clip`` or ``archive``; ``source``: where it came
from (a downloaded archive: the mirror URL that served it; an archive not fetched now: the first URL of its mirror
list; a clip: its archive or its page)."""

STATUSES = ("downloaded", "present", "unavailable", "retry_later")
"""``downloaded``: fetched (and extracted) by this run; ``present``: already on disk, nothing fetched;
``unavailable``: permanently gone (removed, private, not in the archive, ...), never retried;
``retry_later``: a transient failure (network, HTTP 429, a bot check), which a later run tries again."""


def report_row(item: str, kind: str, status: str, reason: str = "", source: str = "") -> dict:
    """One report row, with its status checked (a typo would otherwise vanish from the counts)."""
    if status not in STATUSES:
        raise ValueError(f"unknown download status {status!r}; allowed: {', '.join(STATUSES)}")
    if kind not in ("clip", "archive"):
        raise ValueError(f"unknown report kind {kind!r}; allowed: clip, archive")
    return dict(item=item, kind=kind, status=status, reason=reason, source=source)


def write_report(rows: Iterable[dict], path: str | Path) -> pd.DataFrame:
    """Write rows (:func:`report_row`) as CSV (temporary name, then rename) and return the table."""
    table = pd.DataFrame(list(rows), columns=list(REPORT_COLUMNS))
    with atomic_path(Path(path)) as tmp:
        table.to_csv(tmp, index=False)
    return table


def merge_reports(paths: Sequence[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate the per-job reports into one table at ``out``."""
    tables = [pd.read_csv(p, keep_default_na=False, dtype=str) for p in paths]
    merged = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(REPORT_COLUMNS))
    return write_report(merged[list(REPORT_COLUMNS)].to_dict("records"), out)


def summary(table: pd.DataFrame) -> str:
    """The counts for the log, e.g. ``clips: 180 downloaded, 20 present, 3 unavailable, 1 retry_later``."""
    parts = []
    for kind in ("archive", "clip"):
        counts = Counter(table.loc[table.kind == kind, "status"])
        if counts:
            parts.append(f"{kind}s: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES))
    return "; ".join(parts) or "nothing to download"


def merge_download_reasons(manifest: pd.DataFrame, report: pd.DataFrame) -> pd.DataFrame:
    """Say in the manifest why a missing clip is missing, when the download report knows (e.g. a private video)."""
    clips = report[report.kind == "clip"].drop_duplicates("item", keep="last").set_index("item")
    missing = manifest.status != "ok"
    known = missing & manifest.clip_id.isin(clips.index)
    reasons = [f"not downloaded ({clips.at[c, 'status']}): {clips.at[c, 'reason']}".rstrip(": ")
               for c in manifest.loc[known, "clip_id"]]
    manifest = manifest.copy()
    manifest.loc[known, "reason"] = reasons
    return manifest
