"""One module per DynamoDB operation, named after it (``put_item`` serves ``PutItem``).

Each module defines ``async def handle(request: dict, node: Node) -> dict | bytes``;
bytes are a response body already serialized (stored items spliced in).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable

from dynovault.api.model import operation_names

Handler = Callable[..., Awaitable[dict | bytes]]


def _operation_name(module_name: str) -> str:
    return "".join(part.capitalize() for part in module_name.split("_"))


def load_handlers(path: list[str], package: str, known: frozenset[str]) -> dict[str, Handler]:
    """The ``handle`` of each module of a package of operations, by operation name."""
    handlers: dict[str, Handler] = {}
    for info in pkgutil.iter_modules(path):
        operation = _operation_name(info.name)
        if operation not in known:
            raise RuntimeError(f"module {info.name} of {package} does not name one of its service's operations")
        handlers[operation] = importlib.import_module(f"{package}.{info.name}").handle
    return handlers


def load_operations() -> dict[str, Handler]:
    return load_handlers(__path__, __name__, operation_names())

