"""``python -m bigimg``: the command line, see :mod:`bigimg.cli`."""

import sys

from bigimg.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
