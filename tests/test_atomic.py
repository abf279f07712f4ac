"""Write-then-rename: what a killed or failing writer leaves behind."""
from __future__ import annotations

from pathlib import Path

import pytest

from i3d.atomic import atomic_path, temporary_name, write_text_atomic


def test_the_file_appears_only_when_the_block_completes(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "table.csv"
    with atomic_path(out) as tmp:
        tmp.write_text("a,b\n")
        assert not out.exists() and tmp.parent == out.parent and tmp.suffix == ".csv"
    assert out.read_text() == "a,b\n" and not tmp.exists()


def test_a_failing_writer_keeps_the_previous_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "model.pt"
    write_text_atomic(out, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert out.read_text() == "old" and not temporary_name(out).exists()
