"""Real datasets onto disk: HTTP downloads, the CVDF parts, YouTube, archives, native layouts, download reports.
May import: i3d.data (the annotation readers, video io) and the package's top-level helpers (atomic, ...)."""
