from bench import archives
from bench.archives import add_arguments, run

__all__ = ["add_arguments", "run"]
__doc__ = archives.__doc__
