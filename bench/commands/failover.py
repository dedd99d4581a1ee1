from bench import failover
from bench.failover import add_arguments, run

__all__ = ["add_arguments", "run"]
__doc__ = failover.__doc__
