"""Subcommands of ``dynovault-bench``, one module each (see ``bench.cli``)."""
