"""Checkpoints: atomic (a killed job leaves either the previous checkpoint or the new one, never half of
one), and with what they were made from, so a resume never mixes old code or inputs with new ones."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import torch

from ..atomic import atomic_path


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary name in the same folder, then rename."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by this project (plain tensors and Python values only)."""
    return torch.load(path, map_location=device, weights_only=True)


def input_fingerprint(manifest: str | Path, shard_paths: Sequence[str | Path]) -> str:
    """16 hex digits over the manifest's bytes and each shard's identity: folder/name, size, mtime_ns and
    the ``params`` it was built with. A rebuilt shard (e.g. a new ``flow.bound``) changes it without
    hashing gigabytes of frames."""
    digest = hashlib.sha256(Path(manifest).read_bytes())
    for path in sorted(Path(p) for p in shard_paths):
        stat = path.stat()
        with h5py.File(path, "r", locking=False) as f:
            params = f.attrs.get("params", "")
        digest.update(f"\0{'/'.join(path.parts[-2:])}\0{stat.st_size}\0{stat.st_mtime_ns}\0{params}".encode())
    return digest.hexdigest()[:16]


def stale_reason(state: Mapping[str, Any], config: Mapping[str, Any], provenance: Mapping[str, str]) -> str | None:
    """Why checkpoint ``state`` must not be resumed (other settings, code or inputs), or None if it may."""
    if state.get("config") != config:
        return "written with a different configuration"
    recorded = state.get("provenance", {})
    for what, fingerprint in provenance.items():
        if recorded.get(what) != fingerprint:
            return f"written from other {what} (fingerprint {recorded.get(what)}, now {fingerprint})"
    return None


def rng_state() -> dict[str, Any]:
    """The torch RNG streams training draws from (dropout), to resume exactly where a run stopped."""
    return dict(cpu=torch.get_rng_state(), cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [])


def restore_rng(state: Mapping[str, Any]) -> None:
    """Undo :func:`rng_state` (tensors may come back on the checkpoint's map_location device)."""
    torch.set_rng_state(state["cpu"].cpu())
    if state["cuda"]:
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
