"""``python -m scratchnn``: the same command line as the ``scratchnn`` console script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
