"""Progress display shared by the benchmark commands: one line rewritten in place on a
terminal, and finished steps printed for good (also when stderr is a file)."""

from __future__ import annotations

import sys


def status(line: str) -> None:
    """One progress line, rewritten in place on a terminal."""
    if sys.stderr.isatty():
        print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)


def done(line: str) -> None:
    """A finished step, printed for good."""
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr)
    print(line, file=sys.stderr, flush=True)
