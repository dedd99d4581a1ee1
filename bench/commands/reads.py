from bench import reads
from bench.reads import add_arguments, run

__all__ = ["add_arguments", "run"]
__doc__ = reads.__doc__
