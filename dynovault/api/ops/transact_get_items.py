"""TransactGetItems: up to 100 Gets over any tables, read as of one instant
(``api/transactions.py``)."""

from __future__ import annotations

from dynovault.api.transactions import read_transaction
from dynovault.node import Node


async def handle(request: dict, node: Node) -> bytes:
    return read_transaction(request, node)
