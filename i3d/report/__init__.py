"""A static HTML page of a workflow run (tables, curves, confusion matrices, frames and flow, stage times), so
that a person can look at a run in a browser instead of reading CSV and HDF5 files.

:func:`i3d.report.page.write_report` builds it; each module makes one kind of section.

May import: every layer below it (data ... tables) and the top-level helpers; not cli.
"""
