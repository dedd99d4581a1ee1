"""``python -m bench``, run from the checkout: one subcommand per module of ``bench.commands``.

A module there becomes a subcommand named after it (``replication_lag`` →
``replication-lag``) when it defines ``add_arguments(parser)`` and ``run(args) -> int``;
its docstring's first line is the subcommand's help.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from bench import commands


def _add_subcommands(parser: argparse.ArgumentParser) -> None:
    subparsers = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        summary = (module.__doc__ or "").strip().splitlines()[0]
        sub = subparsers.add_parser(
            info.name.replace("_", "-"),
            help=summary,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Dynovault's benchmarks.")
    _add_subcommands(parser)
    args = parser.parse_args(argv)
    return args.run(args)

