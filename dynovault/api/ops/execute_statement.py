"""ExecuteStatement: one PartiQL statement, run on the item operations
(``api/statements.py``)."""

from __future__ import annotations

from dynovault.api.statements import Statement, run_statement
from dynovault.node import Node


async def handle(request: dict, node: Node) -> dict | bytes:
    return await run_statement(Statement.of(request, request), node)
