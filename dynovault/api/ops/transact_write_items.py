"""TransactWriteItems: up to 100 Puts, Updates, Deletes and ConditionChecks over any
tables, all or nothing (``api/transactions.py``)."""

from __future__ import annotations

from dynovault.api.transactions import write_transaction
from dynovault.node import Node


async def handle(request: dict, node: Node) -> bytes:
    return write_transaction(request, node)
