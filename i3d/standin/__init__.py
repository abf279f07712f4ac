"""Rendered stand-ins for the real data: videos in the datasets' native layouts, and ImageNet stand-in stills.
May import: i3d.data (DATASETS, video encoding) and the package's top-level helpers (atomic, fingerprint)."""
