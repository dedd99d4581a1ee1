from bench import streams
from bench.streams import add_arguments, run

__all__ = ["add_arguments", "run"]
__doc__ = streams.__doc__
