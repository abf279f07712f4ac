"""The paper's tables: its reference numbers, our runs' scores read from the predictions, and their assembly.
May import: every layer below (data ... evaluate) and the top-level helpers; not report or cli."""
