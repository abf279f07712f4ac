"""When a YouTube download batch is due again, so that a plain ``snakemake`` rerun retries its transient failures.

Snakemake reruns a job whose output is missing or older than its inputs, or whose params changed; it has no clock.
A batch whose clips hit HTTP 429 or a bot check has written its report, so it is "done". So each batch also writes
a *retry record*: ``retry_after``, when its first waiting clip may be requested again (None: none waits), and
``mark``, the params value it ran with. The batch rule's params carry :func:`retry_mark` of that record: the mark
until ``retry_after`` passes, then ``retry_after`` itself. That change makes Snakemake rerun the batch, which
requests only the clips that are due (its state table skips the rest), and records the new value as its mark, so
the plan after it is empty again until the next wait passes.

Standard library only: the Snakefile calls :func:`retry_mark` for every batch while it plans.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..atomic import write_text_atomic

NO_MARK = "none"
"""The mark of a batch that has not run yet (it has no record)."""


def write_retry_record(path: str | Path, retry_after: float | None, mark: str) -> None:
    """Record (atomically) when the batch is due again and the ``mark`` it ran with."""
    write_text_atomic(Path(path), json.dumps({"retry_after": retry_after, "mark": mark}) + "\n")


def retry_mark(path: str | Path, now: float | None = None) -> str:
    """The batch rule's params value: :data:`NO_MARK` without a record, the record's mark until its ``retry_after``
    has passed (at ``now``, default the current time), then ``retry_after`` (a value the batch has not run with)."""
    path = Path(path)
    if not path.is_file():
        return NO_MARK
    try:
        record = json.loads(path.read_text())
        retry_after = None if record["retry_after"] is None else float(record["retry_after"])
        mark = str(record["mark"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a retry record ({type(err).__name__}: {err}); remove it to rerun the "
                         f"batch") from None
    now = time.time() if now is None else now
    return repr(retry_after) if retry_after is not None and retry_after <= now else mark
