"""DescribeTable."""

from __future__ import annotations

from dynovault.errors import ResourceNotFoundException
from dynovault.node import Node, table_name
from dynovault.tables import describe


async def handle(request: dict, node: Node) -> dict:
    name = table_name(request["TableName"])
    table = node.store.tables.get(name)
    if table is None:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    return {"Table": describe(node, table)}
