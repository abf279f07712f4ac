"""Clips as the pipeline reads them: manifest, video decode, shards, clip status, loader, sampling, validation.
The lowest layer: may import only the package's top-level helpers (atomic, device, ...), no other i3d package."""

DATASETS = ("kinetics400", "ucf101", "hmdb51")
"""The datasets the pipeline knows, by config name: the one list the CLI, the annotation readers and the stand-in
renderer share (the stand-ins' random streams are keyed by position in it, so keep the order). Kept here, with no
imports, so that ``i3d --help`` stays instant."""
