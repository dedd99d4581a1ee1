from bench import adversarial
from bench.adversarial import add_arguments, run

__all__ = ["add_arguments", "run"]
__doc__ = adversarial.__doc__
