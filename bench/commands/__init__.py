"""Subcommands of ``python -m bench``, one module each (see ``bench.cli``)."""
