"""Feature serving next to Feast's own server and SDK, and the batch lane's change detection.

The benchmark itself lives in ``bench/features.py``; this module makes it the
``features`` subcommand.
"""

from bench.features import add_arguments, run

__all__ = ["add_arguments", "run"]
