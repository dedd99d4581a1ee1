from bench import vectors
from bench.vectors import add_arguments, run

__all__ = ["add_arguments", "run"]
__doc__ = vectors.__doc__
