from bench import statements
from bench.statements import add_arguments, run

__all__ = ["add_arguments", "run"]
__doc__ = statements.__doc__
