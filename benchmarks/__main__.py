"""`python -m benchmarks` (what `make bench` runs): see benchmarks/__init__.py."""

import sys

from benchmarks.options import parser
from benchmarks.run import main

sys.exit(main(parser().parse_args()))
