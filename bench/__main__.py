"""``python -m bench [--quick] [--only PHASE]``."""

import sys

from bench.run import cli

sys.exit(cli())
