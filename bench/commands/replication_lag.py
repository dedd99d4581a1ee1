from bench import replication_lag
from bench.replication_lag import add_arguments, run

__all__ = ["add_arguments", "run"]
__doc__ = replication_lag.__doc__
