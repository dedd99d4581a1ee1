"""``python -m bench``: the benchmark CLI of ``bench.cli``."""

import sys

from bench.cli import main

sys.exit(main())
