"""``python -m tests.conformance [pytest args]``: both runs and the per-function table."""

import sys

from tests.conformance.report import main

sys.exit(main(sys.argv[1:]))
