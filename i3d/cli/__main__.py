"""``python -m i3d.cli``: how torchrun starts ``i3d train`` in every process (workflow/rules/train.smk)."""
import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
